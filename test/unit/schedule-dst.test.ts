import { describe, expect, it } from 'vitest';
import { compileSchedule, type Schedule } from '../../src/schedule/index.js';

const ms = (iso: string): number => Date.parse(iso);
const isoAll = (vs: number[]): string[] => vs.map((v) => new Date(v).toISOString());
const cron = (expression: string, timezone: string): Schedule =>
  compileSchedule({ kind: 'cron', expression, timezone }, { startAt: null, endAt: null, anchor: 0 });

/** All slots in [from, to] by iterating nextAfter. */
function walk(s: Schedule, from: string, to: string): string[] {
  const out: number[] = [];
  const end = ms(to);
  let t = ms(from) - 1;
  for (;;) {
    const n = s.nextAfter(t);
    if (n === null || n > end) break;
    out.push(n);
    t = n;
  }
  return isoAll(out);
}

function expectStrictlyIncreasing(xs: string[]): void {
  for (let i = 1; i < xs.length; i++) expect(Date.parse(xs[i] ?? '') > Date.parse(xs[i - 1] ?? '')).toBe(true);
}

describe('Europe/Berlin, spring forward 2026-03-29 (02:00 CET -> 03:00 CEST at 01:00Z)', () => {
  const z = 'Europe/Berlin';

  it('30 2 * * * fires once, at 03:30 CEST = 01:30Z', () => {
    expect(walk(cron('30 2 * * *', z), '2026-03-28T00:00:00Z', '2026-03-30T23:59:59Z')).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:30:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
  });

  it('0 3 * * * and 30 3 * * * are unaffected', () => {
    expect(walk(cron('0 3 * * *', z), '2026-03-28T00:00:00Z', '2026-03-30T23:59:59Z')).toEqual([
      '2026-03-28T02:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T01:00:00.000Z',
    ]);
    expect(walk(cron('30 3 * * *', z), '2026-03-28T00:00:00Z', '2026-03-30T23:59:59Z')).toEqual([
      '2026-03-28T02:30:00.000Z',
      '2026-03-29T01:30:00.000Z',
      '2026-03-30T01:30:00.000Z',
    ]);
  });

  it('02:30 and 03:30 both matching are one slot (no duplicate)', () => {
    expect(walk(cron('30 2,3 * * *', z), '2026-03-29T00:00:00Z', '2026-03-29T23:59:59Z')).toEqual(['2026-03-29T01:30:00.000Z']);
    const s = cron('15,45 2,3 * * *', z);
    expect(walk(s, '2026-03-28T22:00:00Z', '2026-03-29T06:00:00Z')).toEqual(['2026-03-29T01:15:00.000Z', '2026-03-29T01:45:00.000Z']);
    expect(s.slotsBetween(ms('2026-03-28T22:00:00Z'), ms('2026-03-29T06:00:00Z')).count).toBe(2);
  });

  it('every 15 minutes over the local day: 23 hours, 92 slots, none in the gap', () => {
    const s = cron('*/15 * * * *', z);
    const r = s.slotsBetween(ms('2026-03-28T23:00:00Z'), ms('2026-03-29T22:00:00Z') - 1);
    expect(r).toEqual({ count: 92, first: ms('2026-03-28T23:00:00Z'), last: ms('2026-03-29T21:45:00Z'), exact: true });
    const around = walk(s, '2026-03-29T00:30:00Z', '2026-03-29T01:30:00Z');
    expect(around).toEqual([
      '2026-03-29T00:30:00.000Z', // 01:30 CET
      '2026-03-29T00:45:00.000Z', // 01:45 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST (02:00 too)
      '2026-03-29T01:15:00.000Z',
      '2026-03-29T01:30:00.000Z',
    ]);
  });

  it('fixed-hour slots in the gap are counted once', () => {
    const r = cron('0,30 2 * * *', z).slotsBetween(ms('2026-03-28T23:00:00Z'), ms('2026-03-29T22:00:00Z') - 1);
    expect(r).toEqual({ count: 2, first: ms('2026-03-29T01:00:00Z'), last: ms('2026-03-29T01:30:00Z'), exact: true });
  });
});

describe('Europe/Berlin, fall back 2026-10-25 (03:00 CEST -> 02:00 CET at 01:00Z)', () => {
  const z = 'Europe/Berlin';

  it('30 2 * * * fires once, at the first 02:30 (00:30Z)', () => {
    expect(walk(cron('30 2 * * *', z), '2026-10-24T00:00:00Z', '2026-10-26T23:59:59Z')).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
    expect(cron('30 2 * * *', z).slotsBetween(ms('2026-10-24T22:00:00Z'), ms('2026-10-25T23:00:00Z') - 1)).toEqual({
      count: 1,
      first: ms('2026-10-25T00:30:00Z'),
      last: ms('2026-10-25T00:30:00Z'),
      exact: true,
    });
  });

  it('30 * * * * fires at both 02:30 (00:30Z CEST and 01:30Z CET)', () => {
    expect(walk(cron('30 * * * *', z), '2026-10-24T23:00:00Z', '2026-10-25T02:59:59Z')).toEqual([
      '2026-10-24T23:30:00.000Z', // 01:30 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-25T02:30:00.000Z', // 03:30 CET
    ]);
  });

  it('0 2 * * * fires at the first 02:00 and 0 3 * * * once at 03:00 CET', () => {
    expect(walk(cron('0 2 * * *', z), '2026-10-25T00:00:00Z', '2026-10-25T12:00:00Z')).toEqual(['2026-10-25T00:00:00.000Z']);
    expect(walk(cron('0 3 * * *', z), '2026-10-25T00:00:00Z', '2026-10-25T12:00:00Z')).toEqual(['2026-10-25T02:00:00.000Z']);
  });

  it('every 15 minutes over the local day: 25 hours, 100 slots', () => {
    const r = cron('*/15 * * * *', z).slotsBetween(ms('2026-10-24T22:00:00Z'), ms('2026-10-25T23:00:00Z') - 1);
    expect(r).toEqual({ count: 100, first: ms('2026-10-24T22:00:00Z'), last: ms('2026-10-25T22:45:00Z'), exact: true });
    const fixed = cron('*/15 2 * * *', z).slotsBetween(ms('2026-10-24T22:00:00Z'), ms('2026-10-25T23:00:00Z') - 1);
    expect(fixed).toEqual({ count: 4, first: ms('2026-10-25T00:00:00Z'), last: ms('2026-10-25T00:45:00Z'), exact: true });
  });
});

describe('America/New_York, spring forward 2026-03-08 (02:00 EST -> 03:00 EDT at 07:00Z)', () => {
  const z = 'America/New_York';

  it('0 2 * * * fires at 03:00 EDT = 07:00Z', () => {
    expect(walk(cron('0 2 * * *', z), '2026-03-07T00:00:00Z', '2026-03-09T23:59:59Z')).toEqual([
      '2026-03-07T07:00:00.000Z',
      '2026-03-08T07:00:00.000Z',
      '2026-03-09T06:00:00.000Z',
    ]);
  });

  it('30 2 * * * fires once at 07:30Z; 0 3 and 30 3 are unaffected', () => {
    expect(walk(cron('30 2 * * *', z), '2026-03-08T00:00:00Z', '2026-03-08T23:59:59Z')).toEqual(['2026-03-08T07:30:00.000Z']);
    expect(walk(cron('0 3 * * *', z), '2026-03-08T00:00:00Z', '2026-03-08T23:59:59Z')).toEqual(['2026-03-08T07:00:00.000Z']);
    expect(walk(cron('30 3 * * *', z), '2026-03-08T00:00:00Z', '2026-03-08T23:59:59Z')).toEqual(['2026-03-08T07:30:00.000Z']);
  });

  it('*/30 * * * * gives strictly increasing unique instants', () => {
    const s = cron('*/30 * * * *', z);
    const got = walk(s, '2026-03-08T05:00:00Z', '2026-03-08T09:00:00Z');
    expect(got).toEqual([
      '2026-03-08T05:00:00.000Z', // 00:00 EST
      '2026-03-08T05:30:00.000Z',
      '2026-03-08T06:00:00.000Z', // 01:00 EST
      '2026-03-08T06:30:00.000Z', // 01:30 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT (02:00 folds into it)
      '2026-03-08T07:30:00.000Z', // 03:30 EDT (02:30 folds into it)
      '2026-03-08T08:00:00.000Z',
      '2026-03-08T08:30:00.000Z',
      '2026-03-08T09:00:00.000Z',
    ]);
    expectStrictlyIncreasing(got);
    expect(new Set(got).size).toBe(got.length);
    expect(s.slotsBetween(ms('2026-03-08T05:00:00Z'), ms('2026-03-08T09:00:00Z')).count).toBe(9);
    expect(isoAll(s.upcoming(ms('2026-03-08T06:30:00Z'), 3))).toEqual([
      '2026-03-08T07:00:00.000Z',
      '2026-03-08T07:30:00.000Z',
      '2026-03-08T08:00:00.000Z',
    ]);
  });

  it('hourly over the local day: 23 slots', () => {
    const r = cron('0 * * * *', z).slotsBetween(ms('2026-03-08T05:00:00Z'), ms('2026-03-09T04:00:00Z') - 1);
    expect(r).toEqual({ count: 23, first: ms('2026-03-08T05:00:00Z'), last: ms('2026-03-09T03:00:00Z'), exact: true });
  });
});

describe('America/New_York, fall back 2026-11-01 (02:00 EDT -> 01:00 EST at 06:00Z)', () => {
  const z = 'America/New_York';

  it('30 1 * * * fires once, at the first 01:30 (05:30Z EDT)', () => {
    expect(walk(cron('30 1 * * *', z), '2026-10-31T00:00:00Z', '2026-11-02T23:59:59Z')).toEqual([
      '2026-10-31T05:30:00.000Z',
      '2026-11-01T05:30:00.000Z',
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  it('30 * * * * fires at both 01:30 EDT and 01:30 EST', () => {
    expect(walk(cron('30 * * * *', z), '2026-11-01T04:00:00Z', '2026-11-01T07:59:59Z')).toEqual([
      '2026-11-01T04:30:00.000Z', // 00:30 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T06:30:00.000Z', // 01:30 EST
      '2026-11-01T07:30:00.000Z', // 02:30 EST
    ]);
  });

  it('0 2 * * * fires once at 02:00 EST = 07:00Z', () => {
    expect(walk(cron('0 2 * * *', z), '2026-11-01T00:00:00Z', '2026-11-01T23:59:59Z')).toEqual(['2026-11-01T07:00:00.000Z']);
  });

  it('hourly over the local day: 25 slots; fixed-hour 1 a.m.: 1 slot', () => {
    const from = ms('2026-11-01T04:00:00Z');
    const to = ms('2026-11-02T05:00:00Z') - 1;
    expect(cron('0 * * * *', z).slotsBetween(from, to)).toEqual({ count: 25, first: from, last: ms('2026-11-02T04:00:00Z'), exact: true });
    expect(cron('0 1 * * *', z).slotsBetween(from, to)).toEqual({
      count: 1,
      first: ms('2026-11-01T05:00:00Z'),
      last: ms('2026-11-01T05:00:00Z'),
      exact: true,
    });
  });

  it('*/30 * * * * is strictly increasing through the repeated hour', () => {
    const got = walk(cron('*/30 * * * *', z), '2026-11-01T04:30:00Z', '2026-11-01T08:00:00Z');
    expect(got.length).toBe(8);
    expectStrictlyIncreasing(got);
  });
});

describe('other zones', () => {
  it('America/Santiago: the spring gap at midnight (24:00 -> 01:00) fires 00:xx at 01:xx', () => {
    // 2026-09-06 00:00 -04 does not exist in Santiago (clocks go from 24:00 to 01:00, -04 -> -03).
    const s = cron('0 0 * * *', 'America/Santiago');
    expect(walk(s, '2026-09-05T00:00:00Z', '2026-09-07T12:00:00Z')).toEqual([
      '2026-09-05T04:00:00.000Z',
      '2026-09-06T04:00:00.000Z', // 01:00 -03
      '2026-09-07T03:00:00.000Z',
    ]);
  });

  it('Australia/Lord_Howe: 30-minute DST shift (fall back 02:00 -> 01:30 on 2026-04-05)', () => {
    const s = cron('*/15 * * * *', 'Australia/Lord_Howe');
    // 01:30-02:00 local happens twice: +11 (14:30Z-15:00Z) and +10:30 (15:00Z-15:30Z).
    expect(walk(s, '2026-04-04T14:30:00Z', '2026-04-04T15:30:00Z')).toEqual([
      '2026-04-04T14:30:00.000Z',
      '2026-04-04T14:45:00.000Z',
      '2026-04-04T15:00:00.000Z',
      '2026-04-04T15:15:00.000Z',
      '2026-04-04T15:30:00.000Z',
    ]);
    const fixed = cron('45 1 * * *', 'Australia/Lord_Howe');
    expect(walk(fixed, '2026-04-04T12:00:00Z', '2026-04-04T18:00:00Z')).toEqual(['2026-04-04T14:45:00.000Z']);
  });
});
