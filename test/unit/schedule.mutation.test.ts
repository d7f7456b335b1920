import { describe, expect, it } from 'vitest';
import { compileSchedule, parseDuration, ScheduleError, type ScheduleBounds } from '../../src/schedule/index.js';

/**
 * The schedule module's API contract beyond the slot arithmetic: argument validation with
 * messages that say what was wrong, duration formats, interval and once edge cases.
 */

const NO_BOUNDS: ScheduleBounds = { startAt: null, endAt: null, anchor: 0 };
const ms = (iso: string) => Date.parse(iso);
/** The ScheduleError message of a call. */
function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ScheduleError);
    return (err as Error).message;
  }
  throw new Error('expected a ScheduleError');
}
const HINT = 'use milliseconds, a number with a unit (500ms, 30s, 15m, 2h, 1d) or an ISO-8601 duration (PT15M, P1D)';

describe('compileSchedule arguments', () => {
  it('refuses a schedule or bounds that are not objects', () => {
    expect(message(() => compileSchedule(null as never, NO_BOUNDS))).toBe('schedule must be an object');
    expect(message(() => compileSchedule('cron' as never, NO_BOUNDS))).toBe('schedule must be an object');
    expect(message(() => compileSchedule({ kind: 'interval', every: 1000 }, null as never))).toBe('schedule bounds must be an object');
    expect(message(() => compileSchedule({ kind: 'interval', every: 1000 }, 5 as never))).toBe('schedule bounds must be an object');
  });

  it('names the bound that is not an instant', () => {
    const every = { kind: 'interval', every: 1000 } as const;
    expect(message(() => compileSchedule(every, { startAt: Number.NaN, endAt: null, anchor: 0 }))).toBe('startAt must be a finite epoch-ms number (got NaN)');
    expect(message(() => compileSchedule(every, { startAt: null, endAt: Number.POSITIVE_INFINITY, anchor: 0 }))).toBe(
      'endAt must be a finite epoch-ms number (got Infinity)',
    );
    expect(message(() => compileSchedule(every, { startAt: null, endAt: null, anchor: '0' as never }))).toBe('anchor must be a finite epoch-ms number (got 0)');
    // undefined bounds mean none
    expect(compileSchedule(every, { anchor: 0 } as never).nextAfter(0)).toBe(1000);
  });

  it('refuses an unknown kind', () => {
    expect(message(() => compileSchedule({ kind: 'weekly' } as never, NO_BOUNDS))).toBe('unknown schedule kind "weekly"');
  });

  it('names the argument of each method that is not an instant, for every kind', () => {
    for (const spec of [
      { kind: 'interval', every: 1000 },
      { kind: 'once', at: 5000 },
      { kind: 'cron', expression: '* * * * *', timezone: 'UTC' },
    ] as const) {
      const s = compileSchedule(spec, NO_BOUNDS);
      expect(message(() => s.nextAfter(Number.NaN)), spec.kind).toBe('nextAfter: t must be a finite epoch-ms number (got NaN)');
      expect(message(() => s.slotsBetween(Number.NaN, 0)), spec.kind).toBe('slotsBetween: from must be a finite epoch-ms number (got NaN)');
      expect(message(() => s.slotsBetween(0, Number.NaN)), spec.kind).toBe('slotsBetween: to must be a finite epoch-ms number (got NaN)');
      expect(message(() => s.upcoming(Number.NaN, 1)), spec.kind).toBe('upcoming: t must be a finite epoch-ms number (got NaN)');
      for (const n of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
        expect(message(() => s.upcoming(0, n)), `${spec.kind} ${n}`).toBe(`upcoming: n must be a finite non-negative number (got ${n})`);
      }
      expect(s.upcoming(0, 2.9).length, spec.kind).toBeLessThanOrEqual(2);
    }
    expect(message(() => compileSchedule({ kind: 'once', at: Number.NaN }, NO_BOUNDS))).toBe('once "at" must be a finite epoch-ms number (got NaN)');
  });

  it('keeps a frozen copy of the spec it was compiled from', () => {
    for (const spec of [
      { kind: 'interval', every: 1000 },
      { kind: 'once', at: 5000 },
      { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
    ] as const) {
      const s = compileSchedule({ ...spec }, NO_BOUNDS);
      expect(s.spec).toEqual(spec);
      expect(Object.isFrozen(s.spec)).toBe(true);
    }
  });
});

describe('interval and once', () => {
  it('interval "every" must be a positive, finite, whole number of ms, and says which rule failed', () => {
    for (const every of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(message(() => compileSchedule({ kind: 'interval', every }, NO_BOUNDS))).toBe(
        `interval "every" must be a positive finite number of milliseconds (got ${every})`,
      );
    }
    expect(message(() => compileSchedule({ kind: 'interval', every: '1000' as never }, NO_BOUNDS))).toMatch(/positive finite number/);
    expect(message(() => compileSchedule({ kind: 'interval', every: 1.5 }, NO_BOUNDS))).toBe('interval "every" must be a whole number of milliseconds (got 1.5)');
  });

  it('a range that is a single slot instant holds that slot', () => {
    const s = compileSchedule({ kind: 'interval', every: 10 }, { startAt: null, endAt: null, anchor: 100 });
    expect(s.slotsBetween(110, 110)).toEqual({ count: 1, first: 110, last: 110, exact: true });
    expect(s.slotsBetween(111, 111)).toEqual({ count: 0, first: null, last: null, exact: true });
  });

  it('once: before 1970 is an instant like any other; a range ending before the slot is empty', () => {
    const s = compileSchedule({ kind: 'once', at: -5_000 }, NO_BOUNDS);
    expect(s.nextAfter(-10_000)).toBe(-5_000);
    expect(s.slotsBetween(-6_000, -4_000)).toEqual({ count: 1, first: -5_000, last: -5_000, exact: true });
    const at = ms('2026-05-01T12:00:00Z');
    const o = compileSchedule({ kind: 'once', at }, NO_BOUNDS);
    expect(o.slotsBetween(at - 10, at - 1)).toEqual({ count: 0, first: null, last: null, exact: true });
  });

  it('once: upcoming is empty after the slot and for n = 0', () => {
    const at = ms('2026-05-01T12:00:00Z');
    const o = compileSchedule({ kind: 'once', at }, NO_BOUNDS);
    expect(o.upcoming(at, 3)).toEqual([]);
    expect(o.upcoming(at - 1, 0)).toEqual([]);
    expect(o.upcoming(at - 1, 1)).toEqual([at]);
  });
});

describe('parseDuration', () => {
  it('unit forms with decimals, ISO-8601 with several components and decimals', () => {
    expect(parseDuration('1.25s')).toBe(1250);
    expect(parseDuration('PT1H30M')).toBe(5_400_000);
    expect(parseDuration('P10D')).toBe(864_000_000);
    expect(parseDuration('P1.5D')).toBe(129_600_000);
    expect(parseDuration('P1.25D')).toBe(108_000_000);
    expect(parseDuration('PT1.25S')).toBe(1250);
    expect(parseDuration('PT1,5S')).toBe(1500);
    expect(parseDuration(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseDuration('9007199254740991ms')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('says why a duration is refused', () => {
    expect(message(() => parseDuration(''))).toBe(`duration is empty; ${HINT}`);
    expect(message(() => parseDuration('   '))).toBe(`duration is empty; ${HINT}`);
    expect(message(() => parseDuration('10sec'))).toBe(`duration "10sec" is not understood; ${HINT}`);
    expect(message(() => parseDuration('5-s'))).toBe(`duration "5-s" is not understood; ${HINT}`);
    expect(message(() => parseDuration('P1,5D'))).toBe(`duration "P1,5D" is not understood; ${HINT}`);
    expect(message(() => parseDuration('-5s'))).toBe('duration "-5s" must not be negative');
    expect(message(() => parseDuration('-P1D'))).toBe('duration "-P1D" must not be negative');
    expect(message(() => parseDuration('0.0001s'))).toBe('duration "0.0001s" is not a whole number of milliseconds');
    expect(message(() => parseDuration('9999999999999999999ms'))).toBe('duration "9999999999999999999ms" is too large');
    expect(message(() => parseDuration(`${'9'.repeat(400)}ms`))).toMatch(/is too large$/);
    expect(message(() => parseDuration(Number.MAX_SAFE_INTEGER + 2))).toBe(`duration ${Number.MAX_SAFE_INTEGER + 2} is too large`);
    expect(message(() => parseDuration(null as never))).toBe('duration must be a number or a string (got object)');
    expect(message(() => parseDuration(true as never))).toBe('duration must be a number or a string (got boolean)');
    expect(message(() => parseDuration('P1Y'))).toBe('duration "P1Y" uses years or months, which have no fixed length; use days or weeks');
  });
});
