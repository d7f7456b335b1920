import { CronExpressionParser, type CronFieldCollection } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { CronMatcher, daysFromCivil } from '../../src/schedule/cron-fields.js';

/**
 * CronMatcher (src/schedule/cron-fields.ts) against cron-parser's own `includesDate`, on whole
 * years chosen for the leap-year rules (1900 and 2100 are not leap years, 2000 and 2400 are), and
 * its counting and enumeration against day-by-day and second-by-second counts.
 */

const DAY = 86_400_000;
const parse = (e: string) => CronExpressionParser.parse(e, { tz: 'UTC', currentDate: 0 });
const matcher = (e: string) => new CronMatcher(parse(e).fields);
const day = (iso: string) => Date.parse(iso) / DAY;
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

const DAY_EXPRESSIONS = [
  '0 0 * * *',
  '0 0 L * *',
  '0 0 L 2 *',
  '0 0 L 6,11 *',
  '0 0 29 2 *',
  '0 0 30 * *',
  '0 0 31 * *',
  '0 0 * 2 *',
  '0 0 * * 5L',
  '0 0 * * 1,5L',
  '0 0 * * 5#3',
  '0 0 * * 0#5',
  '0 0 1,15 * 3',
  '0 0 13 * 5',
];

describe('dayMatches agrees with cron-parser on every day of a year', () => {
  for (const year of [1900, 2000, 2024, 2025, 2100, 2400]) {
    it(`${year}`, () => {
      const days = range(daysFromCivil(year, 1, 1), daysFromCivil(year, 12, 31));
      for (const e of DAY_EXPRESSIONS) {
        const expr = parse(e);
        const m = new CronMatcher(expr.fields);
        const wrong = days.filter((d) => m.dayMatches(d) !== expr.includesDate(new Date(d * DAY)));
        expect(wrong.map((d) => new Date(d * DAY).toISOString().slice(0, 10)), e).toEqual([]);
      }
    });
  }
});

describe('countDays', () => {
  const brute = (m: CronMatcher, d1: number, d2: number) => range(d1, d2).filter((d) => m.dayMatches(d)).length;

  it('equals the day-by-day count from every start day across year ends, leap Februaries and centuries', () => {
    for (const e of ['0 0 * * *', '0 0 L * *', '0 0 29 2 *', '0 0 * * 5#3', '0 0 1 * *']) {
      const m = matcher(e);
      for (const [from, to] of [
        ['2023-11-20', '2024-03-31'],
        ['2099-11-20', '2100-03-31'],
        ['1999-11-20', '2000-03-31'],
      ] as const) {
        for (let d1 = day(`${from}T00:00:00Z`); d1 <= day(`${to}T00:00:00Z`); d1 += 3) {
          expect(m.countDays(d1, d1 + 75), `${e} from ${new Date(d1 * DAY).toISOString()}`).toBe(brute(m, d1, d1 + 75));
        }
      }
    }
  });

  it('far in the future, and over more than two 400-year cycles (counted per cycle) the same as piecewise', () => {
    const C = 146_097;
    for (const e of ['0 0 * * *', '0 0 L 2 *', '0 0 * * 5#3', '0 0 13 * 5']) {
      const m = matcher(e);
      expect(m.countDays(200_000, 200_100), e).toBe(brute(m, 200_000, 200_100));
      const d1 = -1_000;
      const d2 = d1 + 2 * C + 500;
      expect(m.countDays(d1, d2), e).toBe(m.countDays(d1, d1 + C) + m.countDays(d1 + C + 1, d2));
      expect(m.countDays(d1, d1 + 2 * C - 1), e).toBe(m.countDays(d1, d1 + C - 1) + m.countDays(d1 + C, d1 + 2 * C - 1));
    }
    expect(matcher('0 0 * * *').countDays(0, 2 * C)).toBe(2 * C + 1);
  });

  it('is 0 for an empty range', () => {
    expect(matcher('0 0 * * *').countDays(10, 5)).toBe(0);
    expect(matcher('0 0 * * *').countDays(10, 9)).toBe(0);
  });
});

describe('matchesSomeDay', () => {
  it('is true for a real expression and false for a day no month has', () => {
    expect(matcher('0 0 30 1 *').matchesSomeDay()).toBe(true);
    const f = parse('0 0 30 1 *').fields;
    const feb30 = {
      second: f.second,
      minute: f.minute,
      hour: f.hour,
      dayOfMonth: f.dayOfMonth,
      dayOfWeek: f.dayOfWeek,
      month: { values: [2] },
    } as unknown as CronFieldCollection;
    expect(new CronMatcher(feb30).matchesSomeDay()).toBe(false);
  });
});

describe('wall times', () => {
  const T = Date.parse('2026-01-05T00:00:00Z'); // a Monday

  it('wallMatches: whole seconds matching every field', () => {
    const m = matcher('30 2 * * *');
    expect(m.wallMatches(T + 2 * 3_600_000 + 30 * 60_000)).toBe(true);
    expect(m.wallMatches(T + 2 * 3_600_000 + 31 * 60_000)).toBe(false);
    expect(m.wallMatches(T + 2 * 3_600_000 + 30 * 60_000 + 1_000)).toBe(false);
    expect(m.wallMatches(T + 2 * 3_600_000 + 30 * 60_000 + 1)).toBe(false);
  });

  /** Matching whole seconds in [a, b] by asking cron-parser about each second. */
  const bruteSeconds = (e: string, a: number, b: number): number[] => {
    const expr = parse(e);
    const out: number[] = [];
    for (let s = Math.ceil(a / 1000) * 1000; s <= b; s += 1000) if (expr.includesDate(new Date(s))) out.push(s);
    return out;
  };

  it('countWalls and forEachWall agree with a second-by-second count, with seconds, across midnight', () => {
    for (const e of ['*/15 * * * * *', '10,20 */7 23,0 * * *', '0 0 * * *', '5 */20 * * * *']) {
      const m = matcher(e);
      for (const [a, b] of [
        [T - 10 * 60_000 - 500, T + 10 * 60_000],
        [T + 3 * 3_600_000 + 5 * 60_000 + 7_000, T + 3 * 3_600_000 + 40 * 60_000],
        [T, T],
        [T - 1_000, T - 1],
      ]) {
        const want = bruteSeconds(e, a!, b!);
        expect(m.countWalls(a!, b!), `${e} count`).toBe(want.length);
        const got: number[] = [];
        m.forEachWall(a!, b!, (w) => got.push(w));
        expect(got, `${e} walls`).toEqual(want);
      }
    }
  });

  it('forEachWall skips days that do not match and includes the end of the range', () => {
    const m = matcher('0 12 * * 1');
    const got: number[] = [];
    m.forEachWall(T - 2 * DAY, T + 5 * DAY, (w) => got.push(w));
    expect(got).toEqual([T + 12 * 3_600_000]);
    const end: number[] = [];
    matcher('*/20 * * * *').forEachWall(T, T + 3_600_000, (w) => end.push(w));
    expect(end).toEqual([0, 20, 40, 60].map((mi) => T + mi * 60_000));
  });
});

describe('next and previous matching wall time at the edges', () => {
  const w = (iso: string) => Date.parse(iso);
  it('across the last day of a 400-year cycle (29 February 2000 and 2400)', () => {
    for (const y of [2000, 2400]) {
      const leap = matcher('0 0 29 2 *');
      expect(leap.nextWall(Date.UTC(y, 1, 28, 12))).toBe(Date.UTC(y, 1, 29));
      expect(leap.prevWall(Date.UTC(y, 2, 1, 12))).toBe(Date.UTC(y, 1, 29));
      const daily = matcher('0 0 * * *');
      expect(daily.nextWall(Date.UTC(y, 1, 28, 12))).toBe(Date.UTC(y, 1, 29));
      expect(daily.prevWall(Date.UTC(y, 2, 1) - 1)).toBe(Date.UTC(y, 1, 29));
      // counting from that day
      const d = daysFromCivil(y, 2, 29);
      const expr = parse('0 0 * * 2,4');
      let want = 0;
      for (let k = d; k <= d + 40; k++) if (expr.includesDate(new Date(k * DAY))) want++;
      expect(new CronMatcher(expr.fields).countDays(d, d + 40)).toBe(want);
    }
  });

  it('with a seconds field that does not start at 0', () => {
    const m = matcher('30 */5 * * * *');
    expect(m.nextWall(w('2026-01-01T10:00:45Z'))).toBe(w('2026-01-01T10:05:30Z'));
    expect(m.nextWall(w('2026-01-01T10:00:30Z'))).toBe(w('2026-01-01T10:00:30Z'));
    expect(m.prevWall(w('2026-01-01T10:07:00Z'))).toBe(w('2026-01-01T10:05:30Z'));
    expect(m.prevWall(w('2026-01-01T10:05:10Z'))).toBe(w('2026-01-01T10:00:30Z'));
    const s = matcher('30 * * * * *');
    expect(s.prevWall(w('2026-01-01T10:00:10Z'))).toBe(w('2026-01-01T09:59:30Z'));
    expect(s.nextWall(w('2026-01-01T23:59:31Z'))).toBe(w('2026-01-02T00:00:30Z'));
  });
});

describe('next and previous matching day around the start of March, 2100 to 2399', () => {
  it('every day from 28 February to 2 March steps to the next midnight and back', () => {
    const daily = matcher('0 0 * * *');
    const firstOfMonth = matcher('0 0 1 * *');
    for (let y = 2100; y < 2400; y++) {
      for (const [m, d] of [[2, 27], [2, 28], [3, 1], [3, 2]] as const) {
        const midnight = Date.UTC(y, m - 1, d);
        expect(daily.nextWall(midnight + 1), `${y}-${m}-${d}`).toBe(midnight + DAY);
        expect(daily.prevWall(midnight + DAY - 1), `${y}-${m}-${d}`).toBe(midnight);
      }
      expect(firstOfMonth.nextWall(Date.UTC(y, 1, 27, 12)), `${y}`).toBe(Date.UTC(y, 2, 1));
      expect(firstOfMonth.prevWall(Date.UTC(y, 2, 1) - 1), `${y}`).toBe(Date.UTC(y, 1, 1));
      // a walk that starts on 1, 2 or 3 March (the start of the calendar's internal year)
      for (const d of [1, 2, 3]) {
        expect(matcher(`0 0 ${d + 1} 3 *`).nextWall(Date.UTC(y, 2, d - 1, 12)), `${y}-03-${d}`).toBe(Date.UTC(y, 2, d + 1));
        expect(matcher(`0 0 ${d} 3 *`).prevWall(Date.UTC(y, 2, d + 1) + 1), `${y}-03-${d}`).toBe(Date.UTC(y, 2, d));
      }
    }
  });
});
