import { ScheduleError } from './errors.js';

/** Throws ScheduleError unless `v` is a finite number. */
export function assertInstant(v: unknown, what: string): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ScheduleError(`${what} must be a finite epoch-ms number (got ${String(v)})`);
  }
}

/** Validates the `n` of `upcoming(t, n)`; returns it as a non-negative integer. */
export function countArg(n: unknown): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new ScheduleError(`upcoming: n must be a finite non-negative number (got ${String(n)})`);
  }
  return Math.floor(n);
}

export const EMPTY_RANGE = Object.freeze({ count: 0, first: null, last: null, exact: true });
