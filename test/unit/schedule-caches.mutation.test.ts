import { CronExpressionParser } from 'cron-parser';
import { IANAZone } from 'luxon';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_CACHED_MATCHERS } from '../../src/schedule/cron.js';
import { compileSchedule, ScheduleError } from '../../src/schedule/index.js';
import { isValidTimezone, MAX_CACHED_BUCKETS, MAX_VALIDITY_ENTRIES, ZoneOffsets } from '../../src/schedule/zone.js';

/**
 * The schedule module's caches and input guards: parsed cron expressions (shared, least recently
 * used out, bounded), zone-name validity (memoized, bounded, hostile names never reach Intl), and
 * zone offsets (per 14-day bucket, bounded). Each is observed through the library calls it saves.
 */

afterEach(() => {
  vi.restoreAllMocks();
});

const bounds = { startAt: null, endAt: null, anchor: 0 };
const cron = (expression: string, timezone = 'UTC') => compileSchedule({ kind: 'cron', expression, timezone }, bounds);
const HOUR = 3_600_000;

describe('parsed cron expressions', () => {
  it('an expression is parsed once and shared; least recently used ones leave first, past the bound', () => {
    const parse = vi.spyOn(CronExpressionParser, 'parse');
    // distinct 6-field expressions nobody else in this file uses
    const expr = (i: number) => `${i % 60} ${Math.floor(i / 60) % 60} ${Math.floor(i / 3_600) % 24} 1 1 *`;
    cron(expr(0));
    cron(expr(1));
    expect(parse).toHaveBeenCalledTimes(2);
    cron(expr(0));
    cron(` ${expr(1)} `); // the same expression once trimmed
    expect(parse).toHaveBeenCalledTimes(2);
    // fill the cache: expr(0) is used again halfway, so expr(1) is the least recently used
    for (let i = 2; i < MAX_CACHED_MATCHERS; i++) {
      cron(expr(i));
      if (i === MAX_CACHED_MATCHERS / 2) cron(expr(0));
    }
    expect(parse).toHaveBeenCalledTimes(MAX_CACHED_MATCHERS);
    cron(expr(MAX_CACHED_MATCHERS)); // one more: evicts the least recently used (expr(1))
    expect(parse).toHaveBeenCalledTimes(MAX_CACHED_MATCHERS + 1);
    cron(expr(0));
    expect(parse).toHaveBeenCalledTimes(MAX_CACHED_MATCHERS + 1);
    cron(expr(1));
    expect(parse).toHaveBeenCalledTimes(MAX_CACHED_MATCHERS + 2);
  });
});

describe('cron expression text', () => {
  it('surrounding whitespace is ignored, runs of inner whitespace separate fields', () => {
    expect(cron('  0 0 * * *  ').nextAfter(0)).toBe(cron('0 0 * * *').nextAfter(0));
    expect(cron('0  30\t2 * * *').nextAfter(0)).toBe(Date.UTC(1970, 0, 1, 2, 30, 0));
    expect(cron('15  0 0 * * *').nextAfter(0)).toBe(Date.UTC(1970, 0, 1, 0, 0, 15));
  });

  it('the field count in the error is the number of fields given', () => {
    expect(() => cron('')).toThrow(/must have 5 fields \(or 6 with seconds first\), got 0/);
    expect(() => cron('   ')).toThrow(/got 0/);
    expect(() => cron('* * * *')).toThrow(/got 4/);
    expect(() => cron('0 0 0 0 * * *')).toThrow(/got 7/);
  });

  it('an unknown zone is refused by the schedule itself', () => {
    expect(() => cron('0 * * * *', 'Mars/Olympus')).toThrow(ScheduleError);
    expect(() => cron('0 * * * *', 'Mars/Olympus')).toThrow('unknown timezone "Mars/Olympus"');
  });
});

describe('zone names', () => {
  it('hostile names are refused without reaching Intl; a known name is checked once', () => {
    const check = vi.spyOn(IANAZone, 'isValidZone');
    expect(isValidTimezone('')).toBe(false);
    expect(isValidTimezone(42 as never)).toBe(false);
    expect(isValidTimezone(`Europe/${'x'.repeat(300)}`)).toBe(false);
    expect(check).not.toHaveBeenCalled();
    expect(isValidTimezone('America/Bogota')).toBe(true);
    expect(isValidTimezone('America/Bogota')).toBe(true);
    expect(isValidTimezone('Nowhere/Special')).toBe(false);
    expect(isValidTimezone('Nowhere/Special')).toBe(false);
    expect(isValidTimezone('America/Bogota')).toBe(true); // still remembered after another name
    expect(check).toHaveBeenCalledTimes(2);
  });

  it('the memo is bounded: when full it starts over', () => {
    const check = vi.spyOn(IANAZone, 'isValidZone');
    expect(isValidTimezone('Africa/Accra')).toBe(true);
    // fill up to the bound with names never asked before
    for (let i = 0; i < MAX_VALIDITY_ENTRIES; i++) isValidTimezone(`Bad/Zone${i}`);
    const calls = check.mock.calls.length;
    // the memo was cleared when the bound was reached, so Accra is checked again
    expect(isValidTimezone('Africa/Accra')).toBe(true);
    expect(check.mock.calls.length).toBe(calls + 1);
  });
});

describe('zone offsets', () => {
  it('instants after the last representable date use its offset', () => {
    const z = new ZoneOffsets('America/Chicago');
    expect(z.rawOffset(1e16)).toBe(z.rawOffset(8.64e15));
    expect(z.offset(8.7e15)).toBe(z.rawOffset(8.64e15));
  });

  it('a bucket with a transition is searched once', () => {
    const spy = vi.spyOn(IANAZone.prototype, 'offset');
    const z = new ZoneOffsets('Europe/Madrid');
    const spring = Date.UTC(2026, 2, 29, 1);
    expect(z.offset(spring)).toBe(2 * HOUR);
    const calls = spy.mock.calls.length;
    expect(calls).toBeGreaterThan(2); // the bisection
    expect(z.offset(spring - 1)).toBe(HOUR);
    expect(z.firstTransitionIn(spring - HOUR, spring + HOUR)?.at).toBe(spring);
    expect(spy.mock.calls.length).toBe(calls);
  });

  it('the bucket cache is bounded: when full it starts over', () => {
    const z = new ZoneOffsets('Asia/Singapore');
    const BUCKET = 14 * 86_400_000;
    const first = Date.UTC(2000, 0, 1);
    z.offset(first);
    for (let k = 1; k < MAX_CACHED_BUCKETS; k++) z.offset(first + k * BUCKET);
    const spy = vi.spyOn(IANAZone.prototype, 'offset');
    z.offset(first); // still cached: the cache holds exactly the bound
    expect(spy).not.toHaveBeenCalled();
    z.offset(first + MAX_CACHED_BUCKETS * BUCKET); // one more bucket: the cache starts over
    spy.mockClear();
    z.offset(first);
    expect(spy).toHaveBeenCalled();
  });
});

describe('H (hashed) fields', () => {
  it('are derived from the expression itself, so a job keeps its minute across restarts', () => {
    for (const expression of ['H * * * *', 'H H * * *', 'H/15 * * * *']) {
      const expected = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0, hashSeed: expression });
      expected.reset(new Date(Date.UTC(2026, 0, 1)));
      expect(cron(expression).nextAfter(Date.UTC(2026, 0, 1)), expression).toBe(expected.next().getTime());
    }
  });
});
