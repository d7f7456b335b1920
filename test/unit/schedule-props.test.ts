import { CronExpressionParser } from 'cron-parser';
import fc from 'fast-check';
import { DateTime, IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { CronMatcher } from '../../src/schedule/cron-fields.js';
import { compileSchedule, type Schedule } from '../../src/schedule/index.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const RUNS = { numRuns: Number(process.env.SCHEDULE_PROP_RUNS ?? 200) };

describe('interval properties', () => {
  const arb = fc.record({
    every: fc.integer({ min: 1, max: 10_000_000 }),
    anchor: fc.integer({ min: 0, max: 4_000_000_000_000 }),
    startAt: fc.option(fc.integer({ min: 0, max: 4_000_000_000_000 }), { nil: null }),
    t: fc.integer({ min: -1_000_000_000, max: 4_100_000_000_000 }),
  });

  it('nextAfter(t) > t, is an aligned slot, and no slot lies between t and it', () => {
    fc.assert(
      fc.property(arb, ({ every, anchor, startAt, t }) => {
        const s = compileSchedule({ kind: 'interval', every }, { startAt, endAt: null, anchor });
        const n = s.nextAfter(t);
        expect(n).not.toBeNull();
        if (n === null) return;
        const base = startAt ?? anchor;
        const kMin = startAt === null ? 1 : 0;
        const k = (n - base) / every;
        expect(n).toBeGreaterThan(t);
        expect(Number.isInteger(k)).toBe(true);
        expect(k).toBeGreaterThanOrEqual(kMin);
        // minimal: the previous slot (if any) is not after t
        if (k > kMin) expect(n - every).toBeLessThanOrEqual(t);
        expect(s.nextAfter(n)).toBe(n + every);
      }),
      RUNS,
    );
  });

  it('slotsBetween equals a brute-force count on small ranges', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: -5_000, max: 5_000 }),
        fc.option(fc.integer({ min: -5_000, max: 5_000 }), { nil: null }),
        fc.option(fc.integer({ min: -5_000, max: 20_000 }), { nil: null }),
        fc.integer({ min: -6_000, max: 15_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        (every, anchor, startAt, endAt, from, len) => {
          const s = compileSchedule({ kind: 'interval', every }, { startAt, endAt, anchor });
          const to = from + len;
          const base = startAt ?? anchor;
          const brute: number[] = [];
          for (let k = startAt === null ? 1 : 0; base + k * every <= 40_000; k++) {
            const slot = base + k * every;
            if (slot >= from && slot <= to && (endAt === null || slot <= endAt)) brute.push(slot);
          }
          const r = s.slotsBetween(from, to);
          expect(r).toEqual({ count: brute.length, first: brute[0] ?? null, last: brute.at(-1) ?? null, exact: true });
        },
      ),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Cron: an independent brute force over a minute grid, using luxon for local times and
// cron-parser's includesDate for matching, applying the product rules directly:
//   - a local time that exists once fires at that instant;
//   - a repeated local time fires at its first instant, or at every instant when all 24 hours match;
//   - a local time in a gap fires at (local time - offset in effect just before the gap).
// ---------------------------------------------------------------------------------------------

const ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Australia/Lord_Howe', 'America/Santiago', 'Asia/Kathmandu', 'UTC'];
const EXPRESSIONS = [
  '30 2 * * *',
  '0 3 * * *',
  '30 * * * *',
  '*/15 * * * *',
  '0,30 1-3 * * *',
  '15,45 2,3 * * *',
  '0 0 * * *',
  '*/20 23,0,1 * * *',
  '0 12 * * 1-5',
  '59 1 * * *',
  '45 1,2 * * 0',
];

/** Offset-change instants of `zone` in 2025-2027, found by an hourly scan with luxon. */
function transitionsOf(zone: string): number[] {
  const z = IANAZone.create(zone);
  const out: number[] = [];
  let prev = z.offset(Date.UTC(2025, 0, 1));
  for (let t = Date.UTC(2025, 0, 1); t < Date.UTC(2028, 0, 1); t += HOUR) {
    const o = z.offset(t);
    if (o !== prev) out.push(t);
    prev = o;
  }
  return out;
}
const TRANSITIONS = new Map(ZONES.map((z) => [z, transitionsOf(z)]));

function bruteSlots(expression: string, zone: string, a: number, b: number): number[] {
  const expr = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0 });
  const allHours = expr.fields.hour.values.length === 24;
  const wallOf = (i: number): number => {
    const d = DateTime.fromMillis(i, { zone });
    return Date.UTC(d.year, d.month - 1, d.day, d.hour, d.minute, d.second);
  };
  const lo = Math.floor(a / MIN) * MIN - 4 * HOUR;
  const hi = Math.ceil(b / MIN) * MIN + 4 * HOUR;
  const instantsOfWall = new Map<number, number[]>();
  const grid: { i: number; w: number }[] = [];
  for (let i = lo; i <= hi; i += MIN) {
    const w = wallOf(i);
    grid.push({ i, w });
    const list = instantsOfWall.get(w);
    if (list) list.push(i);
    else instantsOfWall.set(w, [i]);
  }
  let wMin = Number.POSITIVE_INFINITY;
  let wMax = Number.NEGATIVE_INFINITY;
  for (const g of grid) {
    wMin = Math.min(wMin, g.w);
    wMax = Math.max(wMax, g.w);
  }
  const slots = new Set<number>();
  for (let w = wMin; w <= wMax; w += MIN) {
    if (!expr.includesDate(new Date(w))) continue;
    const instants = instantsOfWall.get(w);
    if (instants === undefined) {
      // A gap: find the forward jump of local time that skips w; fire at w minus the offset in
      // effect just before the jump.
      for (let k = 1; k < grid.length; k++) {
        const p = grid[k - 1];
        const c = grid[k];
        if (p !== undefined && c !== undefined && p.w < w && c.w > w) {
          slots.add(w - (p.w - p.i));
          break;
        }
      }
    } else if (allHours) {
      for (const i of instants) slots.add(i);
    } else {
      slots.add(Math.min(...instants));
    }
  }
  return [...slots].filter((i) => i >= a && i <= b).sort((x, y) => x - y);
}

function walk(s: Schedule, a: number, b: number): number[] {
  const out: number[] = [];
  let t = a - 1;
  for (let guard = 0; guard < 10_000; guard++) {
    const n = s.nextAfter(t);
    if (n === null || n > b) break;
    out.push(n);
    t = n;
  }
  return out;
}

const cronCase = fc
  .record({
    zone: fc.constantFrom(...ZONES),
    expression: fc.constantFrom(...EXPRESSIONS),
    which: fc.nat(),
    shift: fc.integer({ min: -30 * HOUR, max: 30 * HOUR }),
    len: fc.integer({ min: 0, max: 14 * HOUR }),
    jitter: fc.integer({ min: 0, max: 59_999 }),
  })
  .map(({ zone, expression, which, shift, len, jitter }) => {
    const ts = TRANSITIONS.get(zone) ?? [];
    const center = ts.length > 0 ? (ts[which % ts.length] ?? 0) : Date.UTC(2026, 0, 1) + (which % 1000) * DAY;
    const a = center + shift - jitter;
    return { zone, expression, a, b: a + len };
  });

describe('cron properties (brute force over a minute grid, around DST transitions)', () => {
  it('iterated nextAfter is strictly increasing and equals the brute-force slot list', () => {
    fc.assert(
      fc.property(cronCase, ({ zone, expression, a, b }) => {
        const s = compileSchedule({ kind: 'cron', expression, timezone: zone }, { startAt: null, endAt: null, anchor: 0 });
        const got = walk(s, a, b);
        for (let k = 1; k < got.length; k++) expect((got[k] ?? 0) > (got[k - 1] ?? 0)).toBe(true);
        const want = bruteSlots(expression, zone, a, b);
        expect(got.map((x) => new Date(x).toISOString())).toEqual(want.map((x) => new Date(x).toISOString()));
      }),
      RUNS,
    );
  });

  it('slotsBetween(count, first, last) equals the brute force', () => {
    fc.assert(
      fc.property(cronCase, ({ zone, expression, a, b }) => {
        const s = compileSchedule({ kind: 'cron', expression, timezone: zone }, { startAt: null, endAt: null, anchor: 0 });
        const want = bruteSlots(expression, zone, a, b);
        expect(s.slotsBetween(a, b)).toEqual({ count: want.length, first: want[0] ?? null, last: want.at(-1) ?? null, exact: true });
      }),
      RUNS,
    );
  });

  it('slotsBetween over long ranges agrees with walking nextAfter', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.constantFrom('0 */2 * * *', '30 2 * * *', '0 0 * * 1', '30 2 * * 0', '30 1 * * 0', '0 2 * * 0', '15 3 1,15 * *', '0 2 * * 0#1', '0 9 L * *', '30 * * * *'),
        fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2027, 0, 1) }),
        fc.integer({ min: 0, max: 60 * DAY }),
        (zone, expression, a, len) => {
          const s = compileSchedule({ kind: 'cron', expression, timezone: zone }, { startAt: null, endAt: null, anchor: 0 });
          const b = a + len;
          const walked = walk(s, a, b);
          expect(s.slotsBetween(a, b)).toEqual({ count: walked.length, first: walked[0] ?? null, last: walked.at(-1) ?? null, exact: true });
        },
      ),
      RUNS,
    );
  });

  it('startAt/endAt: nextAfter stays within the bounds and matches the unbounded schedule', () => {
    fc.assert(
      fc.property(cronCase, fc.integer({ min: -2 * DAY, max: 2 * DAY }), fc.integer({ min: 0, max: 3 * DAY }), ({ zone, expression, a }, d, len) => {
        const startAt = a + d;
        const endAt = startAt + len;
        const free = compileSchedule({ kind: 'cron', expression, timezone: zone }, { startAt: null, endAt: null, anchor: 0 });
        const bounded = compileSchedule({ kind: 'cron', expression, timezone: zone }, { startAt, endAt, anchor: 0 });
        const inside = walk(free, startAt, endAt);
        expect(walk(bounded, a - 3 * DAY, endAt + 3 * DAY)).toEqual(inside);
        expect(bounded.slotsBetween(a - 3 * DAY, endAt + 3 * DAY).count).toBe(inside.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('CronMatcher agrees with cron-parser includesDate', () => {
  const expressions = [
    '0 0 * * *',
    '0 0 29 2 *',
    '0 0 29 2 1',
    '0 0 L * *',
    '0 0 L 2 *',
    '0 0 * * 5L',
    '0 0 * * 1,5L',
    '0 0 * * 5#3',
    '0 0 * * 0#5',
    '0 0 1,15 * 3',
    '0 0 13 * 5',
    '0 0 * 2-4 1-5',
    '0 0 ? * 6,0',
    '0 0 1-7 * 1',
    '0 0 L * 0',
  ];
  it('dayMatches on random days 1900..2400', () => {
    fc.assert(
      fc.property(fc.constantFrom(...expressions), fc.integer({ min: -25_567, max: 157_000 }), (expression, day) => {
        const expr = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0 });
        const m = new CronMatcher(expr.fields);
        expect(m.dayMatches(day)).toBe(expr.includesDate(new Date(day * DAY)));
      }),
      { numRuns: 2000 },
    );
  });

  it('countWalls equals a day-by-day count with includesDate', () => {
    fc.assert(
      fc.property(fc.constantFrom(...expressions), fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 0, max: 120 }), (expression, d0, n) => {
        const expr = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0 });
        const m = new CronMatcher(expr.fields);
        let want = 0;
        for (let d = d0; d <= d0 + n; d++) if (expr.includesDate(new Date(d * DAY))) want++;
        expect(m.countWalls(d0 * DAY, (d0 + n) * DAY + DAY - 1)).toBe(want);
        expect(m.countDays(d0, d0 + n)).toBe(want);
      }),
      RUNS,
    );
  });

  const timeExpressions = ['*/7 * * * * *', '0 */15 9-17 * * 1-5', '30 0 0 * * *', '0 0 23 L * *', '59 59 23 31 12 *', '0 30 2 * * 0#2', '0 5,55 0,12 29 2 *', '*/20 1 * * * *'];
  it('nextWall and prevWall equal cron-parser next() and prev()', () => {
    fc.assert(
      fc.property(fc.constantFrom(...expressions, ...timeExpressions), fc.integer({ min: -2_000_000_000_000, max: 8_000_000_000_000 }), (expression, x) => {
        const expr = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0 });
        const m = new CronMatcher(expr.fields);
        // nextWall(x) is the first match >= x: cron-parser's next() is strictly after its date.
        expr.reset(new Date(x - 1));
        expect(m.nextWall(x)).toBe(expr.next().getTime());
        expr.reset(new Date(x + 1));
        expect(m.prevWall(x)).toBe(expr.prev().getTime());
      }),
      RUNS,
    );
  });

  it('nextWall finds rare days (29 February, fifth Sunday of February) and an exact hit', () => {
    const m = (e: string) => new CronMatcher(CronExpressionParser.parse(e, { tz: 'UTC', currentDate: 0 }).fields);
    expect(m('0 0 29 2 *').nextWall(Date.UTC(2097, 2, 1))).toBe(Date.UTC(2104, 1, 29)); // 2100 is not a leap year
    expect(m('0 0 29 2 *').prevWall(Date.UTC(2104, 1, 28))).toBe(Date.UTC(2096, 1, 29));
    expect(m('0 0 * 2 0#5').nextWall(Date.UTC(2021, 0, 1))).toBe(Date.UTC(2032, 1, 29));
    expect(m('0 30 2 * * *').nextWall(Date.UTC(2026, 0, 1, 2, 30))).toBe(Date.UTC(2026, 0, 1, 2, 30));
    expect(m('0 30 2 * * *').nextWall(Date.UTC(2026, 0, 1, 2, 30) + 1)).toBe(Date.UTC(2026, 0, 2, 2, 30));
    expect(m('0 30 2 * * *').prevWall(Date.UTC(2026, 0, 1, 2, 30) - 1)).toBe(Date.UTC(2025, 11, 31, 2, 30));
  });
});
