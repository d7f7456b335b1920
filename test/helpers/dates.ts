/**
 * Dates for tests against a real scheduler, which runs on the wall clock: derived from the clock
 * the test runs with, never written as literals that the calendar overtakes.
 */

export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/**
 * UTC midnight of the next 10 January after `now`: between 10 and 375 days ahead, so no slot
 * bounded by it is due while a test runs. Europe/Berlin is at +01:00 on it and for weeks either
 * side (summer time runs from the last Sunday of March to the last Sunday of October), so a
 * Berlin wall time on that day and on the days that follow is one hour ahead of UTC.
 */
export function nextWinterDay(now: number = Date.now()): number {
  return Date.UTC(new Date(now).getUTCFullYear() + 1, 0, 10);
}

/** `YYYY-MM-DD` of the UTC day `t` falls on. */
export const utcDay = (t: number): string => new Date(t).toISOString().slice(0, 10);

/** `s` as a literal inside a RegExp. */
export const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
