import { describe, expect, it } from 'vitest';
import { MAX_EXACT_SPAN_MS } from '../../src/schedule/cron.js';
import { compileSchedule, ScheduleError, type Schedule, type ScheduleBounds } from '../../src/schedule/index.js';
import { ZoneOffsets } from '../../src/schedule/zone.js';

/**
 * Cron schedules around DST transitions: `slotsBetween` (count, first, last; computed by segment
 * arithmetic and a backward search) must agree with walking `nextAfter` (a forward search that the
 * property tests check against a brute force) for every window on a 20-minute grid around each
 * 2026 transition of zones with 1-hour and 30-minute shifts, transitions at midnight, and
 * expressions that fire in the gap, in the repeated hour, or both. Plus the rules at the edges:
 * bounds, 20-year spans, before 1970 and after the last representable date.
 */

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const ms = (iso: string) => Date.parse(iso);
const iso = (v: number | null) => (v === null ? null : new Date(v).toISOString());
const NO_BOUNDS: ScheduleBounds = { startAt: null, endAt: null, anchor: 0 };
const cron = (expression: string, timezone = 'UTC', bounds = NO_BOUNDS): Schedule => compileSchedule({ kind: 'cron', expression, timezone }, bounds);

function walk(s: Schedule, a: number, b: number): number[] {
  const out: number[] = [];
  let t = a - 1;
  for (;;) {
    const n = s.nextAfter(t);
    if (n === null || n > b) return out;
    out.push(n);
    t = n;
  }
}

const ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'America/Santiago'];
const EXPRESSIONS = ['0 2 * * *', '30 2 * * *', '*/20 2 * * *', '20,40 2 * * *', '0,30 1-3 * * *', '*/15 * * * *', '59 1 * * *', '0 3 * * *', '*/30 23,0,1 * * *'];

describe('slotsBetween agrees with walking nextAfter on a grid of windows around each transition', () => {
  for (const zone of ZONES) {
    it(zone, () => {
      const z = new ZoneOffsets(zone);
      const transitions: number[] = [];
      for (let t = z.firstTransitionIn(ms('2026-01-01T00:00:00Z'), ms('2027-01-01T00:00:00Z')); t !== null; t = z.firstTransitionIn(t.at, ms('2027-01-01T00:00:00Z'))) {
        transitions.push(t.at);
      }
      expect(transitions).toHaveLength(2);
      for (const e of EXPRESSIONS) {
        const s = cron(e, zone);
        for (const T of transitions) {
          const all = walk(s, T - 27 * HOUR, T + 27 * HOUR);
          const grid = Array.from({ length: 16 }, (_, i) => T + (i - 8) * 20 * MIN);
          const windows: [number, number][] = [];
          for (const a of grid) for (const b of grid) if (b >= a) windows.push([a, b]);
          for (const g of grid) windows.push([T - 26 * HOUR, g], [g, T + 26 * HOUR], [g + 1, g + 20 * MIN - 1]);
          for (const [a, b] of windows) {
            const inside = all.filter((x) => x >= a && x <= b);
            const want = { count: inside.length, first: inside[0] ?? null, last: inside.at(-1) ?? null, exact: true };
            const got = s.slotsBetween(a, b);
            if (got.count !== want.count || got.first !== want.first || got.last !== want.last || !got.exact) {
              expect({ e, a: iso(a), b: iso(b), count: got.count, first: iso(got.first), last: iso(got.last) }).toEqual({
                e,
                a: iso(a),
                b: iso(b),
                count: want.count,
                first: iso(want.first),
                last: iso(want.last),
              });
            }
          }
        }
      }
    });
  }
});

describe('DST rules, by example', () => {
  it('Lord Howe (30-minute shift): a gap slot comes after a regular slot of the new offset', () => {
    // 2026-10-04 02:00 +10:30 becomes 02:30 +11:00 (15:30Z). 02:40 is a regular time (15:40Z);
    // 02:20 does not exist and fires 20 minutes after the transition (15:50Z).
    const s = cron('20,40 2 * * *', 'Australia/Lord_Howe');
    expect(walk(s, ms('2026-10-03T12:00:00Z'), ms('2026-10-03T18:00:00Z')).map(iso)).toEqual(['2026-10-03T15:40:00.000Z', '2026-10-03T15:50:00.000Z']);
    expect(s.slotsBetween(ms('2026-10-03T15:00:00Z'), ms('2026-10-03T15:55:00Z'))).toEqual({
      count: 2,
      first: ms('2026-10-03T15:40:00Z'),
      last: ms('2026-10-03T15:50:00Z'),
      exact: true,
    });
  });

  it('New York fall back: 02:00 exists once and fires once, as the last slot of a range too', () => {
    const s = cron('0 2 * * *', 'America/New_York');
    const r = s.slotsBetween(ms('2026-10-31T12:00:00Z'), ms('2026-11-01T07:30:00Z'));
    expect([r.count, iso(r.first), iso(r.last)]).toEqual([1, '2026-11-01T07:00:00.000Z', '2026-11-01T07:00:00.000Z']);
    const two = s.slotsBetween(ms('2026-10-30T12:00:00Z'), ms('2026-11-01T07:00:00Z'));
    expect([two.count, iso(two.first), iso(two.last)]).toEqual([2, '2026-10-31T06:00:00.000Z', '2026-11-01T07:00:00.000Z']);
  });

  it('Berlin spring forward: a gap slot at the transition instant ends a range exactly there', () => {
    const s = cron('0 2 * * *', 'Europe/Berlin');
    const r = s.slotsBetween(ms('2026-03-27T12:00:00Z'), ms('2026-03-29T01:00:00Z'));
    expect([r.count, iso(r.first), iso(r.last)]).toEqual([2, '2026-03-28T01:00:00.000Z', '2026-03-29T01:00:00.000Z']);
    const g = cron('*/20 2 * * *', 'Europe/Berlin').slotsBetween(ms('2026-03-28T22:00:00Z'), ms('2026-03-29T01:40:00Z'));
    expect([g.count, iso(g.first), iso(g.last)]).toEqual([3, '2026-03-29T01:00:00.000Z', '2026-03-29T01:40:00.000Z']);
  });
});

describe('edges', () => {
  it('endAt exactly on a slot includes it; a slot after endAt does not exist', () => {
    const endAt = ms('2026-01-01T08:00:00Z');
    const s = cron('0 * * * *', 'UTC', { startAt: null, endAt, anchor: 0 });
    expect(s.nextAfter(endAt - 1)).toBe(endAt);
    expect(s.nextAfter(endAt)).toBeNull();
    expect(s.slotsBetween(endAt, endAt + DAY)).toEqual({ count: 1, first: endAt, last: endAt, exact: true });
  });

  it('a range that ends before it starts is empty', () => {
    expect(cron('* * * * *').slotsBetween(ms('2026-01-01T01:00:00Z'), ms('2026-01-01T00:00:00Z'))).toEqual({ count: 0, first: null, last: null, exact: true });
  });

  it('before 1970 is a time like any other', () => {
    const s = cron('0 * * * *');
    expect(iso(s.nextAfter(ms('1969-12-31T21:30:00Z')))).toBe('1969-12-31T22:00:00.000Z');
    const r = s.slotsBetween(ms('1969-12-31T21:30:00Z'), ms('1970-01-01T00:30:00Z'));
    expect([r.count, iso(r.first), iso(r.last)]).toEqual([3, '1969-12-31T22:00:00.000Z', '1970-01-01T00:00:00.000Z']);
  });

  it('there is no slot after the last representable date', () => {
    expect(cron('0 0 1 1 *').nextAfter(8.63999e15)).toBeNull();
    expect(cron('0 0 1 1 *', 'Europe/Berlin').nextAfter(8.63999e15)).toBeNull();
  });

  it('a span of exactly 20 years is still counted exactly; longer spans are approximate', () => {
    const lo = ms('2000-01-01T00:00:00Z');
    expect(cron('0 0 * * *').slotsBetween(lo, lo + MAX_EXACT_SPAN_MS)).toMatchObject({ exact: true, count: 20 * 365 + 1 });
    expect(cron('0 0 * * *').slotsBetween(lo, lo + MAX_EXACT_SPAN_MS + 1).exact).toBe(false);
  });

  it('the approximate count of a long span counts the local times between its two ends', () => {
    // Local midnights in Berlin from 2000-01-02 (2000-01-01T23:00Z) to 2030-01-01 (2029-12-31T23:00Z).
    const r = cron('0 0 * * *', 'Europe/Berlin').slotsBetween(ms('2000-01-01T00:00:00Z'), ms('2030-01-01T00:00:00Z') - 1);
    expect(r).toEqual({ count: 10_958, first: ms('2000-01-01T23:00:00Z'), last: ms('2029-12-31T23:00:00Z'), exact: false });
  });

  it('says what is wrong with an expression', () => {
    const msg = (e: unknown) => {
      try {
        compileSchedule({ kind: 'cron', expression: e as string, timezone: 'UTC' }, NO_BOUNDS);
      } catch (err) {
        expect(err).toBeInstanceOf(ScheduleError);
        return (err as Error).message;
      }
      return 'ok';
    };
    expect(msg(5)).toBe('cron expression must be a string');
    expect(msg('61 * * * *')).toMatch(/^cron expression "61 \* \* \* \*" is invalid: /);
    expect(msg('0 0 31 2 *')).toBe('cron expression "0 0 31 2 *" never matches');
    expect(msg('0 0 * 2 0#5')).toBe('ok'); // a fifth Sunday in February: leap years starting on a Sunday
  });
});
