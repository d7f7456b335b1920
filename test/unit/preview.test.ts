import { CronExpressionParser, type CronExpression } from 'cron-parser';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { SPEC_DEFAULTS, scheduleOf, type JobSpec, type NormalizedSchedule } from '../../src/core/spec.js';
import { ScheduleError } from '../../src/schedule/index.js';
import { zoneOffsets } from '../../src/schedule/zone.js';
import { PREVIEW_DEFAULT_COUNT, PREVIEW_MAX_COUNT, previewRuns, type PreviewRun } from '../../src/schedule/preview.js';

// Every instant here is fixed: nothing depends on today's date.
const ms = (iso: string): number => Date.parse(iso);
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const RUNS = { numRuns: Number(process.env.SCHEDULE_PROP_RUNS ?? 200) };

const cron = (expression: string, timezone: string): NormalizedSchedule => ({ kind: 'cron', expression, timezone });
/** The runs without `note: undefined` noise, for toEqual. */
const preview = (schedule: NormalizedSchedule, from: string, count?: number, extra: { startAt?: number; endAt?: number } = {}): PreviewRun[] =>
  previewRuns({ schedule, from: ms(from), ...(count !== undefined && { count }), ...extra });

/** A job spec around a schedule, to ask the scheduler's own `scheduleOf` for its slots. */
function jobSpec(schedule: NormalizedSchedule, startAt: number | null = null, endAt: number | null = null): JobSpec {
  return {
    ...SPEC_DEFAULTS,
    jobId: 'preview-test',
    labels: {},
    schedule,
    startAt,
    endAt,
    target: { type: 'command', command: 'noop' },
    allowOverlap: false,
    dispatchRetry: { ...SPEC_DEFAULTS.dispatchRetry },
  };
}

describe('previewRuns: format', () => {
  it('at is ISO UTC with ms, local is the zone wall time to the second, offset is ±HH:MM', () => {
    expect(preview(cron('0 9 * * *', 'Europe/Berlin'), '2026-11-26T12:00:00Z', 2)).toEqual([
      { at: '2026-11-27T08:00:00.000Z', local: '2026-11-27T09:00:00', offset: '+01:00' },
      { at: '2026-11-28T08:00:00.000Z', local: '2026-11-28T09:00:00', offset: '+01:00' },
    ]);
    expect(preview(cron('0 9 * * *', 'Asia/Kolkata'), '2026-11-26T12:00:00Z', 1)).toEqual([
      { at: '2026-11-27T03:30:00.000Z', local: '2026-11-27T09:00:00', offset: '+05:30' },
    ]);
    expect(preview(cron('0 9 * * *', 'America/St_Johns'), '2026-11-26T00:00:00Z', 1)).toEqual([
      { at: '2026-11-26T12:30:00.000Z', local: '2026-11-26T09:00:00', offset: '-03:30' },
    ]);
  });

  it('UTC is +00:00; no note key at all on ordinary slots', () => {
    const runs = preview(cron('*/20 * * * *', 'UTC'), '2026-03-29T00:50:00Z', 3);
    expect(runs).toEqual([
      { at: '2026-03-29T01:00:00.000Z', local: '2026-03-29T01:00:00', offset: '+00:00' },
      { at: '2026-03-29T01:20:00.000Z', local: '2026-03-29T01:20:00', offset: '+00:00' },
      { at: '2026-03-29T01:40:00.000Z', local: '2026-03-29T01:40:00', offset: '+00:00' },
    ]);
    for (const r of runs) expect(Object.keys(r)).toEqual(['at', 'local', 'offset']);
  });

  it('6-field expressions keep their seconds', () => {
    expect(preview(cron('15 0 12 * * *', 'Europe/Berlin'), '2026-07-01T00:00:00Z', 1)).toEqual([
      { at: '2026-07-01T10:00:15.000Z', local: '2026-07-01T12:00:15', offset: '+02:00' },
    ]);
  });
});

describe('previewRuns: from, count, startAt, endAt', () => {
  const hourly = cron('0 * * * *', 'UTC');

  it('count defaults to 10, at most 1000', () => {
    expect(PREVIEW_DEFAULT_COUNT).toBe(10);
    expect(PREVIEW_MAX_COUNT).toBe(1000);
    expect(preview(hourly, '2026-01-01T00:30:00Z')).toHaveLength(10);
    expect(previewRuns({ schedule: hourly, from: ms('2026-01-01T00:30:00Z'), count: null })).toHaveLength(10);
    expect(preview(hourly, '2026-01-01T00:30:00Z', 1000)).toHaveLength(1000);
    expect(preview(hourly, '2026-01-01T00:30:00Z', 0)).toEqual([]);
  });

  it.each([1001, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY])('count %s is a ScheduleError', (count) => {
    expect(() => previewRuns({ schedule: hourly, from: 0, count })).toThrow(ScheduleError);
  });

  it('from is inclusive (a slot at from is listed), like the first slot of a job created at from', () => {
    expect(preview(hourly, '2026-01-01T05:00:00Z', 2).map((r) => r.at)).toEqual(['2026-01-01T05:00:00.000Z', '2026-01-01T06:00:00.000Z']);
    expect(preview(hourly, '2026-01-01T05:00:00.001Z', 1).map((r) => r.at)).toEqual(['2026-01-01T06:00:00.000Z']);
  });

  it('startAt and endAt bound the slots (both inclusive); fewer runs than count when the schedule ends', () => {
    const runs = preview(hourly, '2026-01-01T00:00:00Z', 10, { startAt: ms('2026-01-01T03:00:00Z'), endAt: ms('2026-01-01T05:00:00Z') });
    expect(runs.map((r) => r.at)).toEqual(['2026-01-01T03:00:00.000Z', '2026-01-01T04:00:00.000Z', '2026-01-01T05:00:00.000Z']);
    expect(preview(hourly, '2026-01-01T06:00:00Z', 10, { endAt: ms('2026-01-01T05:00:00Z') })).toEqual([]);
  });

  it('no slot after year 9999, as for a job', () => {
    const runs = preview(cron('0 0 1 1 *', 'UTC'), '9998-06-01T00:00:00Z', 5);
    expect(runs.map((r) => r.at)).toEqual(['9999-01-01T00:00:00.000Z']);
  });

  it('bad input is a ScheduleError', () => {
    expect(() => preview(cron('0 0 30 2 *', 'UTC'), '2026-01-01T00:00:00Z')).toThrow(ScheduleError);
    expect(() => preview(cron('0 0 * * *', 'Mars/Olympus'), '2026-01-01T00:00:00Z')).toThrow(ScheduleError);
    expect(() => preview(cron('0 0 * *', 'UTC'), '2026-01-01T00:00:00Z')).toThrow(ScheduleError);
    expect(() => preview({ kind: 'interval', every: 0 }, '2026-01-01T00:00:00Z')).toThrow(ScheduleError);
    expect(() => previewRuns({ schedule: hourly, from: Number.NaN })).toThrow(ScheduleError);
    expect(() => preview(hourly, '2026-01-01T00:00:00Z', 1, { startAt: 10, endAt: 5 })).toThrow(ScheduleError);
  });

  it('jitterMs does not move the slots (they stay nominal)', () => {
    const base = preview(hourly, '2026-01-01T00:00:00Z', 5);
    expect(previewRuns({ schedule: hourly, from: ms('2026-01-01T00:00:00Z'), count: 5, jitterMs: 3_600_000 })).toEqual(base);
  });
});

describe('previewRuns: interval and once (no zone: UTC, never a note)', () => {
  it('interval without startAt counts from `from` (a job created then): first slot one period later', () => {
    expect(preview({ kind: 'interval', every: 15 * MIN }, '2026-03-29T00:50:00Z', 3)).toEqual([
      { at: '2026-03-29T01:05:00.000Z', local: '2026-03-29T01:05:00', offset: '+00:00' },
      { at: '2026-03-29T01:20:00.000Z', local: '2026-03-29T01:20:00', offset: '+00:00' },
      { at: '2026-03-29T01:35:00.000Z', local: '2026-03-29T01:35:00', offset: '+00:00' },
    ]);
  });

  it('interval with anchorAt counts from it', () => {
    const runs = previewRuns({ schedule: { kind: 'interval', every: HOUR }, from: ms('2026-01-01T10:30:00Z'), anchorAt: ms('2026-01-01T00:00:00Z'), count: 2 });
    expect(runs.map((r) => r.at)).toEqual(['2026-01-01T11:00:00.000Z', '2026-01-01T12:00:00.000Z']);
  });

  it('interval with startAt: startAt + k·every, k >= 0, from inclusive', () => {
    const startAt = ms('2026-01-01T00:00:00Z');
    const runs = preview({ kind: 'interval', every: HOUR }, '2026-01-01T02:00:00Z', 2, { startAt });
    expect(runs.map((r) => r.at)).toEqual(['2026-01-01T02:00:00.000Z', '2026-01-01T03:00:00.000Z']);
    expect(preview({ kind: 'interval', every: HOUR }, '2025-12-31T00:00:00Z', 1, { startAt })[0]?.at).toBe('2026-01-01T00:00:00.000Z');
  });

  it('sub-second intervals: at keeps the ms, local is truncated to the second', () => {
    expect(preview({ kind: 'interval', every: 1500 }, '2026-01-01T00:00:00Z', 2)).toEqual([
      { at: '2026-01-01T00:00:01.500Z', local: '2026-01-01T00:00:01', offset: '+00:00' },
      { at: '2026-01-01T00:00:03.000Z', local: '2026-01-01T00:00:03', offset: '+00:00' },
    ]);
  });

  it('once: its single slot when at or after from, else nothing', () => {
    const at = ms('2026-03-29T01:30:00Z');
    expect(preview({ kind: 'once', at }, '2026-03-01T00:00:00Z')).toEqual([
      { at: '2026-03-29T01:30:00.000Z', local: '2026-03-29T01:30:00', offset: '+00:00' },
    ]);
    expect(preview({ kind: 'once', at }, '2026-03-29T01:30:00Z')).toHaveLength(1);
    expect(preview({ kind: 'once', at }, '2026-03-29T01:30:00.001Z')).toEqual([]);
    expect(preview({ kind: 'once', at }, '2026-03-01T00:00:00Z', 5, { endAt: at - 1 })).toEqual([]);
  });
});

describe('Europe/Berlin spring forward, 2026-03-29 (02:00 CET → 03:00 CEST at 01:00Z)', () => {
  const z = 'Europe/Berlin';

  it('30 2 * * *: 02:30 does not exist; the slot fires at 03:30 CEST (01:30Z) and says dst_gap', () => {
    expect(preview(cron('30 2 * * *', z), '2026-03-28T00:00:00Z', 3)).toEqual([
      { at: '2026-03-28T01:30:00.000Z', local: '2026-03-28T02:30:00', offset: '+01:00' },
      { at: '2026-03-29T01:30:00.000Z', local: '2026-03-29T03:30:00', offset: '+02:00', note: 'dst_gap' },
      { at: '2026-03-30T00:30:00.000Z', local: '2026-03-30T02:30:00', offset: '+02:00' },
    ]);
  });

  it('0 2 * * *: fires at 03:00 CEST (01:00Z, the transition itself), dst_gap', () => {
    expect(preview(cron('0 2 * * *', z), '2026-03-29T00:00:00Z', 1)).toEqual([
      { at: '2026-03-29T01:00:00.000Z', local: '2026-03-29T03:00:00', offset: '+02:00', note: 'dst_gap' },
    ]);
  });

  it('30 3 * * * exists that day: no note', () => {
    expect(preview(cron('30 3 * * *', z), '2026-03-29T00:00:00Z', 1)).toEqual([
      { at: '2026-03-29T01:30:00.000Z', local: '2026-03-29T03:30:00', offset: '+02:00' },
    ]);
  });

  it('30 2,3 * * *: the moved 02:30 is the regular 03:30 slot, listed once, without a note', () => {
    expect(preview(cron('30 2,3 * * *', z), '2026-03-28T23:00:00Z', 2)).toEqual([
      { at: '2026-03-29T01:30:00.000Z', local: '2026-03-29T03:30:00', offset: '+02:00' },
      { at: '2026-03-30T00:30:00.000Z', local: '2026-03-30T02:30:00', offset: '+02:00' },
    ]);
  });

  it('*/30 * * * *: no local time in the gap, nothing noted, 01:30 CET then 03:00 CEST', () => {
    expect(preview(cron('*/30 * * * *', z), '2026-03-29T00:30:00Z', 3)).toEqual([
      { at: '2026-03-29T00:30:00.000Z', local: '2026-03-29T01:30:00', offset: '+01:00' },
      { at: '2026-03-29T01:00:00.000Z', local: '2026-03-29T03:00:00', offset: '+02:00' },
      { at: '2026-03-29T01:30:00.000Z', local: '2026-03-29T03:30:00', offset: '+02:00' },
    ]);
  });

  it('15,45 2 * * *: both gap times move by the shift, both noted', () => {
    expect(preview(cron('15,45 2 * * *', z), '2026-03-29T00:00:00Z', 2)).toEqual([
      { at: '2026-03-29T01:15:00.000Z', local: '2026-03-29T03:15:00', offset: '+02:00', note: 'dst_gap' },
      { at: '2026-03-29T01:45:00.000Z', local: '2026-03-29T03:45:00', offset: '+02:00', note: 'dst_gap' },
    ]);
  });
});

describe('Europe/Berlin fall back, 2026-10-25 (03:00 CEST → 02:00 CET at 01:00Z)', () => {
  it('30 2 * * *: fires once, at the first 02:30 (CEST, 00:30Z), dst_repeat', () => {
    expect(preview(cron('30 2 * * *', 'Europe/Berlin'), '2026-10-24T12:00:00Z', 2)).toEqual([
      { at: '2026-10-25T00:30:00.000Z', local: '2026-10-25T02:30:00', offset: '+02:00', note: 'dst_repeat' },
      { at: '2026-10-26T01:30:00.000Z', local: '2026-10-26T02:30:00', offset: '+01:00' },
    ]);
  });
});

describe('America/New_York fall back, 2026-11-01 (02:00 EDT → 01:00 EST at 06:00Z)', () => {
  const z = 'America/New_York';

  it('30 1 * * *: 01:30 happens twice; fires once, at 01:30 EDT (05:30Z), dst_repeat', () => {
    expect(preview(cron('30 1 * * *', z), '2026-10-31T00:00:00Z', 3)).toEqual([
      { at: '2026-10-31T05:30:00.000Z', local: '2026-10-31T01:30:00', offset: '-04:00' },
      { at: '2026-11-01T05:30:00.000Z', local: '2026-11-01T01:30:00', offset: '-04:00', note: 'dst_repeat' },
      { at: '2026-11-02T06:30:00.000Z', local: '2026-11-02T01:30:00', offset: '-05:00' },
    ]);
  });

  it('30 * * * *: an every-hour expression fires at both occurrences, both dst_repeat', () => {
    expect(preview(cron('30 * * * *', z), '2026-11-01T04:00:00Z', 4)).toEqual([
      { at: '2026-11-01T04:30:00.000Z', local: '2026-11-01T00:30:00', offset: '-04:00' },
      { at: '2026-11-01T05:30:00.000Z', local: '2026-11-01T01:30:00', offset: '-04:00', note: 'dst_repeat' },
      { at: '2026-11-01T06:30:00.000Z', local: '2026-11-01T01:30:00', offset: '-05:00', note: 'dst_repeat' },
      { at: '2026-11-01T07:30:00.000Z', local: '2026-11-01T02:30:00', offset: '-05:00' },
    ]);
  });

  it('0 2 * * *: 02:00 is not repeated (the repeated hour is 01:00–01:59): no note', () => {
    expect(preview(cron('0 2 * * *', z), '2026-11-01T00:00:00Z', 1)).toEqual([
      { at: '2026-11-01T07:00:00.000Z', local: '2026-11-01T02:00:00', offset: '-05:00' },
    ]);
  });

  it('spring forward 2026-03-08: 30 2 * * * fires at 03:30 EDT (07:30Z), dst_gap', () => {
    expect(preview(cron('30 2 * * *', z), '2026-03-08T00:00:00Z', 1)).toEqual([
      { at: '2026-03-08T07:30:00.000Z', local: '2026-03-08T03:30:00', offset: '-04:00', note: 'dst_gap' },
    ]);
  });
});

describe('half-hour DST (Australia/Lord_Howe: +10:30 ↔ +11:00)', () => {
  it('spring forward 2026-10-04 02:00 → 02:30: 15 2 * * * fires at 02:45 (+11:00), dst_gap', () => {
    expect(preview(cron('15 2 * * *', 'Australia/Lord_Howe'), '2026-10-03T00:00:00Z', 1)).toEqual([
      { at: '2026-10-03T15:45:00.000Z', local: '2026-10-04T02:45:00', offset: '+11:00', note: 'dst_gap' },
    ]);
  });

  it('fall back 2026-04-05 02:00 → 01:30: 45 1 * * * is repeated, fires once at +11:00', () => {
    expect(preview(cron('45 1 * * *', 'Australia/Lord_Howe'), '2026-04-04T00:00:00Z', 1)).toEqual([
      { at: '2026-04-04T14:45:00.000Z', local: '2026-04-05T01:45:00', offset: '+11:00', note: 'dst_repeat' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// properties
// ---------------------------------------------------------------------------------------------

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'America/Santiago',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'America/St_Johns',
  'Asia/Kolkata',
  'Europe/London',
] as const;
/** Expressions that hit the gap and the repeated hour in most zones above, and some that never do. */
const EXPRESSIONS = [
  '30 2 * * *',
  '0 2 * * *',
  '30 1 * * *',
  '15,45 1-3 * * *',
  '*/15 * * * *',
  '30 * * * *',
  '0 */3 * * *',
  '45 2 * * 0',
  '0 0 * * *',
  '0 9 * * 1-5',
  '0 12 1 * *',
  '30 2 29 2 *',
  '0 */20 2 * * *',
  '10 0 3 * * *',
] as const;

const FROM_MIN = ms('2020-01-01T00:00:00Z');
const FROM_MAX = ms('2036-01-01T00:00:00Z');

const scheduleArb: fc.Arbitrary<NormalizedSchedule> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('cron' as const), expression: fc.constantFrom(...EXPRESSIONS), timezone: fc.constantFrom(...ZONES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('interval' as const), every: fc.oneof(fc.integer({ min: 1000, max: 3 * DAY }), fc.constantFrom(1500, MIN, HOUR, DAY)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('once' as const), at: fc.integer({ min: FROM_MIN, max: FROM_MAX }) }) },
);

/**
 * Half of the cases start close before (or just after) the zone's next offset change, so that
 * the gap and the repeated hour are actually exercised, not only ordinary days.
 */
const caseArb = fc
  .record({
    schedule: scheduleArb,
    from: fc.integer({ min: FROM_MIN, max: FROM_MAX }),
    near: fc.option(fc.integer({ min: -2 * DAY, max: 3 * HOUR }), { nil: null }),
    count: fc.integer({ min: 0, max: 60 }),
    startAt: fc.option(fc.integer({ min: FROM_MIN, max: FROM_MAX }), { nil: null }),
    span: fc.option(fc.integer({ min: 0, max: 400 * DAY }), { nil: null }),
  })
  .map(({ near, ...c }) => {
    if (near === null || c.schedule.kind !== 'cron') return c;
    const tr = zoneOffsets(c.schedule.timezone).firstTransitionIn(c.from, c.from + 400 * DAY);
    return tr === null ? c : { ...c, from: tr.at + near };
  });

/** Notes seen across the property runs (to check the DST cases were reached at all). */
const seen = { dst_gap: 0, dst_repeat: 0 };

/** Whether `wall` (a local date-time encoded as UTC ms) is a time the cron expression names (cron-parser, not our code). */
function wallMatches(expression: string, wall: number): boolean {
  let parsed = parsedExpressions.get(expression);
  if (parsed === undefined) {
    parsed = CronExpressionParser.parse(expression, { tz: 'UTC' });
    parsedExpressions.set(expression, parsed);
  }
  return parsed.includesDate(new Date(wall));
}
const parsedExpressions = new Map<string, CronExpression>();

describe('previewRuns properties', () => {
  it('the runs are the scheduler’s own slots (scheduleOf), at or after from, count respected, strictly increasing', () => {
    fc.assert(
      fc.property(caseArb, ({ schedule, from, count, startAt, span }) => {
        const endAt = startAt !== null && span !== null ? startAt + span : null;
        const runs = previewRuns({ schedule, from, count, startAt, endAt });
        const ats = runs.map((r) => Date.parse(r.at));
        for (const [i, r] of runs.entries()) expect(new Date(ats[i] as number).toISOString()).toBe(r.at);
        expect(runs.length).toBeLessThanOrEqual(count);
        for (let i = 1; i < ats.length; i++) expect(ats[i]).toBeGreaterThan(ats[i - 1] as number);
        // A job created at `from` with this schedule: its anchor is `from` (interval without startAt).
        const s = scheduleOf(jobSpec(schedule, startAt, endAt), from);
        let prev = from - 1;
        for (const at of ats) {
          expect(s.nextAfter(prev)).toBe(at); // a real slot, and none skipped in between
          prev = at;
        }
        // Fewer runs than asked for only when no slot is left.
        if (runs.length < count) expect(s.nextAfter(prev)).toBeNull();
        // The first run is the first slot a job created at `from` would get (jobLogic's newRecord, non-once).
        if (schedule.kind !== 'once' && ats.length > 0) expect(ats[0]).toBe(s.nextAfter(from - 1));
      }),
      RUNS,
    );
  });

  it('local + offset round-trip to at (to the second), and agree with luxon in the zone', () => {
    fc.assert(
      fc.property(caseArb, ({ schedule, from, count }) => {
        const zone = schedule.kind === 'cron' ? schedule.timezone : 'UTC';
        for (const r of previewRuns({ schedule, from, count })) {
          const at = Date.parse(r.at);
          expect(r.local).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
          expect(r.offset).toMatch(/^[+-]\d{2}:\d{2}$/);
          expect(Date.parse(`${r.local}${r.offset}`)).toBe(at - (at % 1000));
          const dt = DateTime.fromMillis(at, { zone });
          expect(dt.offset).toBe(offsetMinutes(r.offset));
          if (schedule.kind !== 'cron') {
            expect(r.offset).toBe('+00:00');
            expect(r.note).toBeUndefined();
          }
        }
      }),
      RUNS,
    );
  });

  it('dst_gap exactly when the slot’s wall time is not one the expression names, right after a spring forward', () => {
    fc.assert(
      fc.property(caseArb, ({ schedule, from, count }) => {
        if (schedule.kind !== 'cron') return;
        for (const r of previewRuns({ schedule, from, count })) {
          const at = Date.parse(r.at);
          const wall = Date.parse(`${r.local}Z`);
          const named = wallMatches(schedule.expression, wall);
          expect(r.note === 'dst_gap').toBe(!named);
          if (r.note === 'dst_gap') seen.dst_gap++;
          if (r.note === 'dst_gap') {
            // Within one shift after a transition that moved the clocks forward by that shift.
            const zone = schedule.timezone;
            const before = DateTime.fromMillis(at - 3 * HOUR, { zone }).offset;
            const shift = (dt(at, zone).offset - before) * MIN;
            expect(shift).toBeGreaterThan(0);
            expect(dt(at - shift, zone).offset).toBe(before); // the named wall time wall − shift did not exist
            expect(wallMatches(schedule.expression, wall - shift)).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('dst_repeat exactly when another instant has the same wall time (to the second)', () => {
    fc.assert(
      fc.property(caseArb, ({ schedule, from, count }) => {
        if (schedule.kind !== 'cron') return;
        const zone = schedule.timezone;
        for (const r of previewRuns({ schedule, from, count })) {
          const at = Date.parse(r.at);
          let twin = false;
          // DST shifts are multiples of 15 minutes and at most 3 hours.
          for (let k = -12; k <= 12; k++) {
            if (k !== 0 && dt(at + k * 15 * MIN, zone).toFormat("yyyy-MM-dd'T'HH:mm:ss") === r.local) twin = true;
          }
          expect(r.note === 'dst_repeat').toBe(twin);
          if (r.note === 'dst_repeat') seen.dst_repeat++;
        }
      }),
      RUNS,
    );
  });

  it.runIf(RUNS.numRuns >= 100)('the properties above met both notes (the generated cases reach DST transitions)', () => {
    expect(seen.dst_gap).toBeGreaterThan(0);
    expect(seen.dst_repeat).toBeGreaterThan(0);
  });
});

function dt(at: number, zone: string): DateTime {
  return DateTime.fromMillis(at, { zone });
}

function offsetMinutes(offset: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (m === null) throw new Error(`bad offset ${offset}`);
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}
