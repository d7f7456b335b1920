import { describe, expect, it } from 'vitest';
import { compileSchedule, isValidTimezone, parseDuration, ScheduleError, type ScheduleBounds } from '../../src/schedule/index.js';

const ms = (iso: string): number => {
  const v = Date.parse(iso);
  if (Number.isNaN(v)) throw new Error(`bad iso ${iso}`);
  return v;
};
const iso = (v: number | null): string | null => (v === null ? null : new Date(v).toISOString());
const isoAll = (vs: number[]): string[] => vs.map((v) => new Date(v).toISOString());
const NO_BOUNDS: ScheduleBounds = { startAt: null, endAt: null, anchor: 0 };
const DAY = 86_400_000;

function cron(expression: string, timezone = 'UTC', bounds: ScheduleBounds = NO_BOUNDS) {
  return compileSchedule({ kind: 'cron', expression, timezone }, bounds);
}

describe('interval', () => {
  const anchor = ms('2026-01-01T00:00:00.000Z');

  it('without startAt, slots are anchor + k*every for k >= 1', () => {
    const s = compileSchedule({ kind: 'interval', every: 60_000 }, { startAt: null, endAt: null, anchor });
    expect(iso(s.nextAfter(anchor - 1))).toBe('2026-01-01T00:01:00.000Z');
    expect(iso(s.nextAfter(anchor))).toBe('2026-01-01T00:01:00.000Z');
    expect(iso(s.nextAfter(anchor - 10 * DAY))).toBe('2026-01-01T00:01:00.000Z');
    expect(isoAll(s.upcoming(anchor, 3))).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z', '2026-01-01T00:03:00.000Z']);
  });

  it('with startAt, slots are startAt + k*every for k >= 0 and the anchor is ignored', () => {
    const startAt = ms('2026-01-01T00:00:30.000Z');
    const s = compileSchedule({ kind: 'interval', every: 60_000 }, { startAt, endAt: null, anchor });
    expect(iso(s.nextAfter(0))).toBe('2026-01-01T00:00:30.000Z');
    expect(iso(s.nextAfter(startAt - 1))).toBe('2026-01-01T00:00:30.000Z');
    expect(iso(s.nextAfter(startAt))).toBe('2026-01-01T00:01:30.000Z');
  });

  it('never drifts: slot k is exactly base + k*every, however far', () => {
    const s = compileSchedule({ kind: 'interval', every: 7 }, { startAt: null, endAt: null, anchor });
    const k = 1_000_000_000;
    expect(s.nextAfter(anchor + 7 * k + 3)).toBe(anchor + 7 * (k + 1));
    expect(s.nextAfter(anchor + 7 * k)).toBe(anchor + 7 * (k + 1));
    expect(s.nextAfter(anchor + 7 * k - 1)).toBe(anchor + 7 * k);
    const odd = compileSchedule({ kind: 'interval', every: 86_400_001 }, { startAt: null, endAt: null, anchor: 5 });
    expect(odd.nextAfter(5 + 86_400_001 * 20_000)).toBe(5 + 86_400_001 * 20_001);
  });

  it('nextAfter of a slot is the following slot', () => {
    const s = compileSchedule({ kind: 'interval', every: 90_000 }, { startAt: null, endAt: null, anchor });
    const slot = anchor + 90_000 * 5;
    expect(s.nextAfter(slot)).toBe(slot + 90_000);
  });

  it('endAt is inclusive', () => {
    const endAt = anchor + 3 * 60_000;
    const s = compileSchedule({ kind: 'interval', every: 60_000 }, { startAt: null, endAt, anchor });
    expect(isoAll(s.upcoming(anchor, 10))).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z', '2026-01-01T00:03:00.000Z']);
    expect(s.nextAfter(endAt - 1)).toBe(endAt);
    expect(s.nextAfter(endAt)).toBeNull();
    const r = s.slotsBetween(anchor, anchor + DAY);
    expect(r).toEqual({ count: 3, first: anchor + 60_000, last: endAt, exact: true });
  });

  it('slotsBetween counts a 1s interval over a year exactly, in O(1)', () => {
    const from = ms('2026-01-01T00:00:00.000Z');
    const to = from + 365 * DAY - 1; // 2026-12-31T23:59:59.999Z
    const s = compileSchedule({ kind: 'interval', every: 1000 }, { startAt: from, endAt: null, anchor: 0 });
    const t0 = performance.now();
    const r = s.slotsBetween(from, to);
    const took = performance.now() - t0;
    // 365 days * 86,400 s = 31,536,000 slots: from, from+1s, ..., 2026-12-31T23:59:59Z.
    expect(r).toEqual({ count: 31_536_000, first: from, last: ms('2026-12-31T23:59:59.000Z'), exact: true });
    console.log(`interval slotsBetween over a year: ${took.toFixed(3)} ms`);
  });

  it('slotsBetween respects the anchor (k >= 1) and both inclusive ends', () => {
    const s = compileSchedule({ kind: 'interval', every: 10 }, { startAt: null, endAt: null, anchor: 100 });
    expect(s.slotsBetween(0, 100)).toEqual({ count: 0, first: null, last: null, exact: true });
    expect(s.slotsBetween(0, 110)).toEqual({ count: 1, first: 110, last: 110, exact: true });
    expect(s.slotsBetween(110, 150)).toEqual({ count: 5, first: 110, last: 150, exact: true });
    expect(s.slotsBetween(111, 149)).toEqual({ count: 3, first: 120, last: 140, exact: true });
    expect(s.slotsBetween(150, 140)).toEqual({ count: 0, first: null, last: null, exact: true });
  });

  it('rejects every <= 0, non-finite or fractional every, and non-finite instants', () => {
    for (const every of [0, -1000, Number.NaN, Number.POSITIVE_INFINITY, 1.5]) {
      expect(() => compileSchedule({ kind: 'interval', every }, NO_BOUNDS)).toThrow(ScheduleError);
    }
    expect(() => compileSchedule({ kind: 'interval', every: 1000 }, { startAt: Number.NaN, endAt: null, anchor: 0 })).toThrow(ScheduleError);
    expect(() => compileSchedule({ kind: 'interval', every: 1000 }, { startAt: null, endAt: Number.POSITIVE_INFINITY, anchor: 0 })).toThrow(ScheduleError);
    expect(() => compileSchedule({ kind: 'interval', every: 1000 }, { startAt: null, endAt: null, anchor: Number.NaN })).toThrow(ScheduleError);
    const s = compileSchedule({ kind: 'interval', every: 1000 }, NO_BOUNDS);
    expect(() => s.nextAfter(Number.NaN)).toThrow(ScheduleError);
    expect(() => s.upcoming(0, -1)).toThrow(ScheduleError);
  });
});

describe('once', () => {
  const at = ms('2026-05-01T12:00:00.000Z');
  const s = compileSchedule({ kind: 'once', at }, NO_BOUNDS);

  it('has one slot at `at`', () => {
    expect(iso(s.nextAfter(at - 1))).toBe('2026-05-01T12:00:00.000Z');
    expect(s.nextAfter(at)).toBeNull();
    expect(s.nextAfter(at + DAY)).toBeNull();
    expect(isoAll(s.upcoming(0, 5))).toEqual(['2026-05-01T12:00:00.000Z']);
    expect(s.slotsBetween(at, at)).toEqual({ count: 1, first: at, last: at, exact: true });
    expect(s.slotsBetween(at + 1, at + DAY)).toEqual({ count: 0, first: null, last: null, exact: true });
  });

  it('is bounded by startAt/endAt (inclusive)', () => {
    expect(compileSchedule({ kind: 'once', at }, { startAt: at, endAt: at, anchor: 0 }).nextAfter(0)).toBe(at);
    expect(compileSchedule({ kind: 'once', at }, { startAt: at + 1, endAt: null, anchor: 0 }).nextAfter(0)).toBeNull();
    expect(compileSchedule({ kind: 'once', at }, { startAt: null, endAt: at - 1, anchor: 0 }).nextAfter(0)).toBeNull();
    expect(compileSchedule({ kind: 'once', at }, { startAt: null, endAt: at - 1, anchor: 0 }).slotsBetween(0, at * 2).count).toBe(0);
  });

  it('rejects a non-finite `at`', () => {
    expect(() => compileSchedule({ kind: 'once', at: Number.NaN }, NO_BOUNDS)).toThrow(ScheduleError);
  });
});

describe('cron', () => {
  it('5-field expressions in UTC', () => {
    const s = cron('15 9 * * 1-5');
    // 2026-01-02 is a Friday; next weekday morning is Monday 2026-01-05.
    expect(isoAll(s.upcoming(ms('2026-01-02T10:00:00Z'), 3))).toEqual([
      '2026-01-05T09:15:00.000Z',
      '2026-01-06T09:15:00.000Z',
      '2026-01-07T09:15:00.000Z',
    ]);
    expect(iso(s.nextAfter(ms('2026-01-05T09:15:00.000Z')))).toBe('2026-01-06T09:15:00.000Z');
    expect(iso(s.nextAfter(ms('2026-01-05T09:14:59.999Z')))).toBe('2026-01-05T09:15:00.000Z');
  });

  it('6-field expressions (seconds first)', () => {
    const s = cron('*/10 * * * * *');
    expect(isoAll(s.upcoming(ms('2026-01-01T00:00:05.500Z'), 3))).toEqual([
      '2026-01-01T00:00:10.000Z',
      '2026-01-01T00:00:20.000Z',
      '2026-01-01T00:00:30.000Z',
    ]);
    expect(cron('30 0 12 * * *').nextAfter(ms('2026-01-01T00:00:00Z'))).toBe(ms('2026-01-01T12:00:30Z'));
  });

  it('aliases', () => {
    expect(iso(cron('@daily', 'Europe/Berlin').nextAfter(ms('2026-06-01T12:00:00Z')))).toBe('2026-06-01T22:00:00.000Z');
    expect(iso(cron('@hourly').nextAfter(ms('2026-06-01T12:00:00Z')))).toBe('2026-06-01T13:00:00.000Z');
    // 2026-06-01 is a Monday: @weekly is Sunday 00:00.
    expect(iso(cron('@weekly').nextAfter(ms('2026-06-01T12:00:00Z')))).toBe('2026-06-07T00:00:00.000Z');
    expect(iso(cron('@monthly').nextAfter(ms('2026-06-01T12:00:00Z')))).toBe('2026-07-01T00:00:00.000Z');
    expect(iso(cron('@yearly', 'America/New_York').nextAfter(ms('2026-06-01T12:00:00Z')))).toBe('2027-01-01T05:00:00.000Z');
  });

  it('timezones', () => {
    const t = ms('2026-07-01T00:00:00Z');
    expect(iso(cron('0 9 * * *', 'Europe/Berlin').nextAfter(t))).toBe('2026-07-01T07:00:00.000Z');
    expect(iso(cron('0 9 * * *', 'America/New_York').nextAfter(t))).toBe('2026-07-01T13:00:00.000Z');
    expect(iso(cron('0 9 * * *', 'Asia/Kathmandu').nextAfter(t))).toBe('2026-07-01T03:15:00.000Z');
    expect(iso(cron('0 9 * * *', 'Australia/Sydney').nextAfter(t))).toBe('2026-07-01T23:00:00.000Z');
    expect(iso(cron('0 9 * * *', 'UTC').nextAfter(t))).toBe('2026-07-01T09:00:00.000Z');
  });

  it('rare expressions: Feb 29, day-of-month OR day-of-week, last day, nth weekday', () => {
    expect(iso(cron('0 0 29 2 *').nextAfter(ms('2026-01-01T00:00:00Z')))).toBe('2028-02-29T00:00:00.000Z');
    // both day fields restricted: Feb 29 OR any Monday in February
    expect(iso(cron('0 0 29 2 1').nextAfter(ms('2026-01-01T00:00:00Z')))).toBe('2026-02-02T00:00:00.000Z');
    expect(iso(cron('0 0 L 2 *').nextAfter(ms('2026-01-01T00:00:00Z')))).toBe('2026-02-28T00:00:00.000Z');
    expect(iso(cron('0 0 * * 5#3').nextAfter(ms('2026-01-01T00:00:00Z')))).toBe('2026-01-16T00:00:00.000Z');
    expect(iso(cron('0 0 * * 5L').nextAfter(ms('2026-01-01T00:00:00Z')))).toBe('2026-01-30T00:00:00.000Z');
    // A yearly slot far ahead is just a number.
    expect(iso(cron('0 0 1 1 *', 'Europe/Berlin').nextAfter(ms('2026-01-01T00:00:00Z')))).toBe('2026-12-31T23:00:00.000Z');
  });

  it('startAt and endAt bound slots (both inclusive)', () => {
    const bounds = { startAt: ms('2026-01-01T06:00:00Z'), endAt: ms('2026-01-01T08:00:00Z'), anchor: 0 };
    const s = cron('0 * * * *', 'UTC', bounds);
    expect(iso(s.nextAfter(0))).toBe('2026-01-01T06:00:00.000Z');
    expect(isoAll(s.upcoming(0, 10))).toEqual(['2026-01-01T06:00:00.000Z', '2026-01-01T07:00:00.000Z', '2026-01-01T08:00:00.000Z']);
    expect(s.nextAfter(ms('2026-01-01T08:00:00Z'))).toBeNull();
    expect(s.slotsBetween(0, ms('2027-01-01T00:00:00Z'))).toEqual({
      count: 3,
      first: ms('2026-01-01T06:00:00Z'),
      last: ms('2026-01-01T08:00:00Z'),
      exact: true,
    });
    const off = cron('0 * * * *', 'UTC', { startAt: ms('2026-01-01T05:30:00Z'), endAt: null, anchor: 0 });
    expect(iso(off.nextAfter(0))).toBe('2026-01-01T06:00:00.000Z');
  });

  it('slotsBetween: first/last/count, exact, cost independent of the number of slots', () => {
    const s = cron('* * * * *', 'Europe/Berlin');
    const from = ms('2025-01-01T00:00:00Z');
    const to = ms('2026-01-01T00:00:00Z') - 1;
    for (let i = 0; i < 300; i++) s.slotsBetween(from + i * 60_000, to); // warm the zone cache and the JIT
    const t0 = performance.now();
    const r = s.slotsBetween(from, to);
    const took = performance.now() - t0;
    // Every minute of the instant range: 365 * 1440 (the spring gap and fall overlap cancel out
    // for an every-hour expression).
    expect(r).toEqual({ count: 525_600, first: from, last: ms('2025-12-31T23:59:00Z'), exact: true });
    console.log(`cron slotsBetween, minutely over a year: ${took.toFixed(3)} ms`);
    const secondly = cron('* * * * * *', 'America/New_York').slotsBetween(from, to);
    expect(secondly).toEqual({ count: 31_536_000, first: from, last: ms('2025-12-31T23:59:59Z'), exact: true });
    const daily = cron('0 12 * * *', 'Europe/Berlin').slotsBetween(ms('2026-01-01T00:00:00Z'), ms('2026-12-31T23:59:59Z'));
    expect(daily).toEqual({ count: 365, first: ms('2026-01-01T11:00:00Z'), last: ms('2026-12-31T11:00:00Z'), exact: true });
    expect(cron('0 12 * * *').slotsBetween(ms('2026-01-01T12:00:00.001Z'), ms('2026-01-02T11:59:59.999Z'))).toEqual({
      count: 0,
      first: null,
      last: null,
      exact: true,
    });
    expect(cron('0 12 * * *').slotsBetween(ms('2026-01-01T12:00:00Z'), ms('2026-01-01T12:00:00Z')).count).toBe(1);
  });

  it('slotsBetween over more than 20 years is an approximation (exact: false)', () => {
    const r = cron('0 0 * * *', 'UTC').slotsBetween(ms('2000-01-01T00:00:00Z'), ms('2030-01-01T00:00:00Z') - 1);
    expect(r.exact).toBe(false);
    expect(r.count).toBe(10_958); // 30 years incl. 8 leap days (2000..2028)
    expect(iso(r.first)).toBe('2000-01-01T00:00:00.000Z');
    expect(iso(r.last)).toBe('2029-12-31T00:00:00.000Z');
  });

  it('never-matching expressions throw', () => {
    expect(() => cron('0 0 30 2 *')).toThrow(new ScheduleError('cron expression "0 0 30 2 *" never matches'));
    expect(() => cron('0 0 31 4 *')).toThrow(new ScheduleError('cron expression "0 0 31 4 *" never matches'));
    expect(() => cron('0 0 31 2,4,6 *')).toThrow(/never matches/);
  });

  it('bad zones, garbage and wrong field counts throw ScheduleError', () => {
    expect(() => cron('0 * * * *', 'Mars/Olympus')).toThrow(new ScheduleError('unknown timezone "Mars/Olympus"'));
    expect(() => cron('0 * * * *', '')).toThrow(ScheduleError);
    for (const bad of ['garbage', '', '   ', '* * * *', '* * * * * * *', '61 * * * *', '* 25 * * *', '@foo', '0 0 * * 8', 'a b c d e']) {
      expect(() => cron(bad), bad).toThrow(ScheduleError);
    }
    expect(() => cron('* * * *')).toThrow(/must have 5 fields/);
    expect(() => cron('* * * * * * *')).toThrow(/got 7/);
  });

  it('H (hashed) values are deterministic', () => {
    const a = cron('H * * * *').nextAfter(0);
    const b = cron('H * * * *').nextAfter(0);
    expect(a).toBe(b);
  });
});

describe('parseDuration', () => {
  it('numbers are ms', () => {
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration(1500)).toBe(1500);
  });

  it('units', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration(' 10 s ')).toBe(10_000);
  });

  it('ISO-8601', () => {
    expect(parseDuration('PT15M')).toBe(900_000);
    expect(parseDuration('P1D')).toBe(86_400_000);
    expect(parseDuration('PT1.5S')).toBe(1500);
    expect(parseDuration('P1DT2H')).toBe(93_600_000);
    expect(parseDuration('P1W')).toBe(604_800_000);
  });

  it('rejects bad input with ScheduleError', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 1.5, '5x', '', '  ', 'P1M', 'P1Y', '-5s', 'PT-5M', 'P', 'PT', 'pt15m', '15', '0.0001s', 'abc']) {
      expect(() => parseDuration(bad), String(bad)).toThrow(ScheduleError);
    }
    expect(() => parseDuration('P1M')).toThrow(/years or months/);
    expect(() => parseDuration('5x')).toThrow(/not understood/);
  });
});

describe('ScheduleError', () => {
  it('is an Error named ScheduleError', () => {
    const e = new ScheduleError('boom');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('ScheduleError');
    expect(e.message).toBe('boom');
  });
});

describe('upcoming', () => {
  it('returns at most n slots and [] for n = 0', () => {
    expect(cron('0 * * * *').upcoming(0, 0)).toEqual([]);
    expect(cron('0 * * * *').upcoming(0, 2)).toEqual([3_600_000, 7_200_000]);
    expect(compileSchedule({ kind: 'interval', every: 10 }, NO_BOUNDS).upcoming(0, 0)).toEqual([]);
  });
});

describe('isValidTimezone', () => {
  it('accepts IANA names and rejects others', () => {
    expect(isValidTimezone('Europe/Berlin')).toBe(true);
    expect(isValidTimezone('UTC')).toBe(true);
    expect(isValidTimezone('America/New_York')).toBe(true);
    expect(isValidTimezone('Mars/Olympus')).toBe(false);
    expect(isValidTimezone('')).toBe(false);
    expect(isValidTimezone('+01:00')).toBe(false);
  });
});

describe('nextAfter throughput (prints, never asserts time)', () => {
  it('0 2 * * * in Europe/Berlin', () => {
    const s = cron('0 2 * * *', 'Europe/Berlin');
    const t = ms('2026-01-01T00:00:00Z');
    let sink = 0;
    for (let i = 0; i < 2000; i++) sink += s.nextAfter(t + i * 3_600_123) ?? 0;
    const n = 30_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink += s.nextAfter(t + i * 613_457) ?? 0;
    const secs = (performance.now() - t0) / 1000;
    console.log(`cron nextAfter: ${Math.round(n / secs)} calls/s ('0 2 * * *', Europe/Berlin)`);
    expect(sink).toBeGreaterThan(0);
  });
});
