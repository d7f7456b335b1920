import { Duration } from 'luxon';
import { ScheduleError } from './errors.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

/** `500ms`, `30s`, `1.5h`: a decimal number and a lowercase unit (whitespace between them allowed). */
const UNIT_FORM = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
/** ISO-8601 duration shape (P[nY][nM][nW][nD][T[nH][nM][nS]]), no sign; luxon does the arithmetic. */
const ISO_FORM = /^P(?:\d+(?:[.,]\d+)?[YMWD])*(?:T(?:\d+(?:[.,]\d+)?[HMS])+)?$/;

const HINT = 'use milliseconds, a number with a unit (500ms, 30s, 15m, 2h, 1d) or an ISO-8601 duration (PT15M, P1D)';

function finish(ms: number, input: string): number {
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) {
    throw new ScheduleError(`duration "${input}" is too large`);
  }
  if (!Number.isInteger(ms)) {
    throw new ScheduleError(`duration "${input}" is not a whole number of milliseconds`);
  }
  return ms;
}

/**
 * Durations: a non-negative finite integer number of ms, or a string: "500ms", "30s", "15m", "2h",
 * "1d" (decimals allowed when the result is whole ms: "1.5s"), or an ISO-8601 duration ("PT15M",
 * "P1D", "PT1.5S", "P1W") parsed with luxon. ISO durations with years or months are rejected since
 * they have no fixed length. Returns ms; throws ScheduleError otherwise.
 */
export function parseDuration(input: number | string): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0 || !Number.isInteger(input)) {
      throw new ScheduleError(`duration must be a non-negative whole number of milliseconds (got ${String(input)})`);
    }
    if (input > Number.MAX_SAFE_INTEGER) throw new ScheduleError(`duration ${input} is too large`);
    return input;
  }
  if (typeof input !== 'string') {
    throw new ScheduleError(`duration must be a number or a string (got ${typeof input})`);
  }
  const s = input.trim();
  if (s === '') throw new ScheduleError(`duration is empty; ${HINT}`);
  const unit = UNIT_FORM.exec(s);
  if (unit) {
    const value = Number(unit[1]);
    const mult = UNIT_MS[unit[2] as Unit];
    // Scale decimals without float noise: "1.005s" -> 1005.
    return finish(Math.round(value * mult * 1e6) / 1e6, input);
  }
  if (s.length > 1 && s !== 'PT' && ISO_FORM.test(s)) {
    const d = Duration.fromISO(s);
    if (d.isValid) {
      if (d.years !== 0 || d.months !== 0 || d.quarters !== 0) {
        throw new ScheduleError(`duration "${input}" uses years or months, which have no fixed length; use days or weeks`);
      }
      return finish(d.as('milliseconds'), input);
    }
  }
  if (/^-/.test(s)) throw new ScheduleError(`duration "${input}" must not be negative`);
  throw new ScheduleError(`duration "${input}" is not understood; ${HINT}`);
}
