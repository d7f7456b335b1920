import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/contract/errors.js';
import { MAX_INSTANT, type CreateBody, type Patch } from '../../src/contract/schemas.js';
import { applyPatch, checkInputSize, normalizeSpec, scheduleOf, type JobSpec } from '../../src/core/spec.js';

/**
 * Job spec normalisation (SPEC §4), called directly: defaults, the overlap fields, validation with
 * every problem reported at once, the input quota, and what an update patch changes.
 */

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const LIMITS = { minIntervalMs: 1000, maxInputBytes: 64 };
const base: CreateBody = { schedule: { kind: 'interval', every: 60_000 }, target: { type: 'command', command: 'c' } };
const spec = (body: Partial<CreateBody> = {}, limits = LIMITS): JobSpec => normalizeSpec({ ...base, ...body }, 'j', limits, T0);

/** The SchedulerError a call throws. */
function failure(fn: () => unknown): SchedulerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SchedulerError) return err;
    throw err;
  }
  throw new Error('expected a SchedulerError');
}

describe('normalizeSpec', () => {
  it('applies every default of SPEC §4', () => {
    expect(spec()).toEqual({
      jobId: 'j',
      name: null,
      labels: {},
      schedule: { kind: 'interval', every: 60_000 },
      startAt: null,
      endAt: null,
      target: { type: 'command', command: 'c' },
      allowOverlap: false,
      overlapPolicy: 'skip',
      misfirePolicy: 'fire_once_on_recovery',
      misfireGraceMs: 60_000,
      maxRuntimeMs: 3_600_000,
      dispatchTimeoutMs: 5_000,
      dispatchRetry: { attempts: 3, backoffMs: 1_000 },
      paused: false,
      jitterMs: 0,
      maxRuns: null,
      pauseOnFailure: false,
    });
  });

  it('makes the cron timezone explicit and trims the expression', () => {
    expect(spec({ schedule: { kind: 'cron', expression: '  0 2 * * *  ' } }).schedule).toEqual({ kind: 'cron', expression: '0 2 * * *', timezone: 'UTC' });
  });

  it('resolves allowOverlap and overlapPolicy (allowOverlap: true means allow)', () => {
    const pick = (s: JobSpec) => [s.allowOverlap, s.overlapPolicy];
    expect(pick(spec({ allowOverlap: true }))).toEqual([true, 'allow']);
    expect(pick(spec({ allowOverlap: false }))).toEqual([false, 'skip']);
    expect(pick(spec({ overlapPolicy: 'allow' }))).toEqual([true, 'allow']);
    expect(pick(spec({ overlapPolicy: 'buffer_one' }))).toEqual([false, 'buffer_one']);
    expect(pick(spec({ allowOverlap: false, overlapPolicy: 'buffer_one' }))).toEqual([false, 'buffer_one']);
    expect(pick(spec({ allowOverlap: true, overlapPolicy: 'allow' }))).toEqual([true, 'allow']);
  });

  it('refuses allowOverlap contradicting overlapPolicy', () => {
    for (const [allowOverlap, overlapPolicy] of [
      [false, 'allow'],
      [true, 'skip'],
      [true, 'buffer_one'],
    ] as const) {
      const e = failure(() => spec({ allowOverlap, overlapPolicy }));
      expect(e.code).toBe('invalid_request');
      expect(e.details).toEqual([{ path: 'allowOverlap', message: `allowOverlap ${allowOverlap} contradicts overlapPolicy "${overlapPolicy}"` }]);
    }
  });

  it('refuses an interval below the minimum, and accepts the minimum', () => {
    const e = failure(() => spec({ schedule: { kind: 'interval', every: 999 } }));
    expect([e.code, e.message, e.details]).toEqual(['invalid_request', 'invalid job spec', [{ path: 'schedule.every', message: 'must be at least 1000 ms' }]]);
    expect(spec({ schedule: { kind: 'interval', every: 1000 } }).schedule).toEqual({ kind: 'interval', every: 1000 });
  });

  it('refuses an unknown time zone once (the schedule is not compiled on top of it)', () => {
    const e = failure(() => spec({ schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Mars/Olympus' } }));
    expect(e.details).toEqual([{ path: 'schedule.timezone', message: 'unknown IANA time zone "Mars/Olympus"' }]);
  });

  it('refuses endAt before startAt, and accepts them equal', () => {
    const e = failure(() => spec({ startAt: T0 + 1, endAt: T0 }));
    expect(e.details).toEqual([{ path: 'endAt', message: 'must not be before startAt' }]);
    expect(spec({ startAt: T0, endAt: T0 })).toMatchObject({ startAt: T0, endAt: T0 });
    expect(spec({ endAt: T0 }).endAt).toBe(T0);
  });

  it('reports every problem at once', () => {
    const e = failure(() =>
      spec({ schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Nowhere/City' }, startAt: T0 + 1, endAt: T0, allowOverlap: true, overlapPolicy: 'skip' }),
    );
    expect((e.details as { path: string }[]).map((d) => d.path)).toEqual(['allowOverlap', 'schedule.timezone', 'endAt']);
  });

  it('refuses a cron expression that never matches at schedule.expression, other schedule errors at schedule', () => {
    const e = failure(() => spec({ schedule: { kind: 'cron', expression: '0 0 30 2 *' } }));
    expect(e.details).toEqual([{ path: 'schedule.expression', message: 'cron expression "0 0 30 2 *" never matches' }]);
    const z = failure(() => spec({ schedule: { kind: 'interval', every: 0 } }, { ...LIMITS, minIntervalMs: 0 }));
    expect(z.details).toEqual([{ path: 'schedule', message: expect.stringContaining('positive') }]);
  });

  it('checks the inputs of a workflow and the args of a command against the quota', () => {
    const big = { text: 'x'.repeat(100) };
    const w = failure(() => spec({ target: { type: 'workflow_start', workflowId: 'w', inputs: big } }));
    expect([w.code, w.details]).toEqual(['limit_exceeded', [{ path: 'target.inputs', message: 'at most 64 bytes' }]]);
    const c = failure(() => spec({ target: { type: 'command', command: 'c', args: big } }));
    expect([c.code, c.details]).toEqual(['limit_exceeded', [{ path: 'target.args', message: 'at most 64 bytes' }]]);
    // small payloads pass, whichever kind of target carries them
    expect(spec({ target: { type: 'command', command: 'c', args: [1] } }).target).toEqual({ type: 'command', command: 'c', args: [1] });
    expect(spec({ target: { type: 'workflow_start', workflowId: 'w', inputs: { a: 1 } } }).target).toMatchObject({ inputs: { a: 1 } });
  });
});

describe('checkInputSize', () => {
  it('counts UTF-8 bytes of the JSON, up to and including the limit', () => {
    const limits = { minIntervalMs: 1, maxInputBytes: 10 };
    expect(() => checkInputSize('12345678', 'inputs', limits)).not.toThrow(); // "12345678" is 10 bytes
    const e = failure(() => checkInputSize('123456789', 'inputs', limits));
    expect([e.code, e.message, e.details]).toEqual([
      'limit_exceeded',
      'inputs is 11 bytes, more than the limit of 10',
      [{ path: 'inputs', message: 'at most 10 bytes' }],
    ]);
    expect(() => checkInputSize('üüüü', 'inputs', limits)).not.toThrow(); // 10 bytes
    expect(failure(() => checkInputSize('üüüüü', 'inputs', limits)).message).toBe('inputs is 12 bytes, more than the limit of 10');
    expect(() => checkInputSize(undefined, 'inputs', { minIntervalMs: 1, maxInputBytes: 0 })).not.toThrow();
  });
});

describe('scheduleOf', () => {
  it('compiles a spec once per anchor, and remembers at most five anchors per spec', () => {
    const s = spec();
    const first = scheduleOf(s, T0);
    expect(scheduleOf(s, T0)).toBe(first);
    for (let k = 1; k <= 4; k++) scheduleOf(s, T0 + k);
    expect(scheduleOf(s, T0)).toBe(first); // five anchors: all kept
    scheduleOf(s, T0 + 5); // a sixth: the memo starts again
    expect(scheduleOf(s, T0)).not.toBe(first);
    expect(scheduleOf(s, T0).nextAfter(T0)).toBe(first.nextAfter(T0));
  });

  it('has no slot after year 9999, and honours an earlier endAt', () => {
    const yearly = spec({ schedule: { kind: 'cron', expression: '0 0 1 1 *' } });
    expect(scheduleOf(yearly, T0).nextAfter(Date.UTC(9999, 5, 1))).toBeNull();
    expect(scheduleOf(yearly, T0).nextAfter(Date.UTC(9998, 5, 1))).toBe(Date.UTC(9999, 0, 1));
    expect(MAX_INSTANT).toBe(Date.UTC(9999, 11, 31, 23, 59, 59, 999));
    const bounded = spec({ schedule: { kind: 'cron', expression: '0 0 1 1 *' }, endAt: Date.UTC(2030, 0, 1) });
    expect(scheduleOf(bounded, T0).nextAfter(Date.UTC(2029, 5, 1))).toBe(Date.UTC(2030, 0, 1));
    expect(scheduleOf(bounded, T0).nextAfter(Date.UTC(2030, 0, 1))).toBeNull();
  });
});

describe('applyPatch', () => {
  const job = spec({ labels: { team: 'a' }, name: 'n' });
  const patch = (p: Patch, s = job) => applyPatch(s, p, LIMITS, T0 + 1000);

  it('changes exactly the fields the patch gives a new value', () => {
    const cases: [Patch, keyof JobSpec, unknown][] = [
      [{ name: 'other' }, 'name', 'other'],
      [{ name: null }, 'name', null],
      [{ labels: { team: 'b' } }, 'labels', { team: 'b' }],
      [{ schedule: { kind: 'interval', every: 5_000 } }, 'schedule', { kind: 'interval', every: 5_000 }],
      [{ startAt: T0 }, 'startAt', T0],
      [{ endAt: T0 + 10 * 86_400_000 }, 'endAt', T0 + 10 * 86_400_000],
      [{ target: { type: 'command', command: 'd' } }, 'target', { type: 'command', command: 'd' }],
      [{ misfirePolicy: 'skip_missed' }, 'misfirePolicy', 'skip_missed'],
      [{ misfireGraceMs: 5 }, 'misfireGraceMs', 5],
      [{ maxRuntimeMs: 7 }, 'maxRuntimeMs', 7],
      [{ dispatchTimeoutMs: 9 }, 'dispatchTimeoutMs', 9],
      [{ dispatchRetry: { attempts: 5, backoffMs: 10 } }, 'dispatchRetry', { attempts: 5, backoffMs: 10 }],
      [{ paused: true }, 'paused', true],
    ];
    for (const [p, field, value] of cases) {
      const r = patch(p);
      expect(r.changed, field).toEqual([field]);
      expect(r.spec[field], field).toEqual(value);
      expect({ ...r.spec, [field]: job[field] }, field).toEqual(job);
    }
  });

  it('a partial dispatchRetry keeps the other member', () => {
    expect(patch({ dispatchRetry: { attempts: 5 } }).spec.dispatchRetry).toEqual({ attempts: 5, backoffMs: 1_000 });
    expect(patch({ dispatchRetry: { backoffMs: 10 } }).spec.dispatchRetry).toEqual({ attempts: 3, backoffMs: 10 });
  });

  it('a patch with the current values changes nothing and keeps the spec object', () => {
    const r = patch({ name: 'n', labels: { team: 'a' }, misfireGraceMs: 60_000, paused: false });
    expect(r).toEqual({ spec: job, changed: [], scheduleChanged: false });
    expect(r.spec).toBe(job);
  });

  it('says when the schedule counts again from now: a change of schedule, startAt or endAt', () => {
    expect(patch({ name: 'x' }).scheduleChanged).toBe(false);
    expect(patch({ schedule: { kind: 'interval', every: 5_000 } }).scheduleChanged).toBe(true);
    expect(patch({ startAt: T0 }).scheduleChanged).toBe(true);
    expect(patch({ endAt: T0 + 86_400_000 }).scheduleChanged).toBe(true);
    const both = patch({ name: 'x', endAt: T0 + 86_400_000 });
    expect([both.changed, both.scheduleChanged]).toEqual([['name', 'endAt'], true]);
  });

  it('resolves the overlap fields against the current policy', () => {
    const allow = spec({ allowOverlap: true });
    const buffered = spec({ overlapPolicy: 'buffer_one' });
    const pick = (s: JobSpec) => [s.allowOverlap, s.overlapPolicy];
    expect(pick(patch({ allowOverlap: false }, allow).spec)).toEqual([false, 'skip']);
    expect(pick(patch({ allowOverlap: false }, buffered).spec)).toEqual([false, 'buffer_one']);
    expect(pick(patch({ allowOverlap: true }, buffered).spec)).toEqual([true, 'allow']);
    expect(pick(patch({ overlapPolicy: 'buffer_one' }, allow).spec)).toEqual([false, 'buffer_one']);
    expect(pick(patch({ overlapPolicy: 'allow' }, buffered).spec)).toEqual([true, 'allow']);
    expect(pick(patch({ name: 'x' }, buffered).spec)).toEqual([false, 'buffer_one']);
    expect(failure(() => patch({ allowOverlap: true, overlapPolicy: 'skip' })).details).toEqual([
      { path: 'allowOverlap', message: 'allowOverlap true contradicts overlapPolicy "skip"' },
    ]);
  });

  it('validates the patched spec like a create', () => {
    expect(failure(() => patch({ schedule: { kind: 'interval', every: 10 } })).details).toEqual([{ path: 'schedule.every', message: 'must be at least 1000 ms' }]);
    expect(failure(() => patch({ startAt: T0 + 5, endAt: T0 })).details).toEqual([{ path: 'endAt', message: 'must not be before startAt' }]);
    expect(failure(() => patch({ target: { type: 'command', command: 'c', args: 'x'.repeat(100) } })).code).toBe('limit_exceeded');
  });
});
