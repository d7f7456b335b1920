import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backfillExecutionId, slotExecutionId } from '../../src/contract/ids.js';
import { upgradeRecord, type JobRecord } from '../../src/core/record.js';
import { scheduleOf } from '../../src/core/spec.js';
import { toView } from '../../src/core/view.js';
import { dispatchRequest, jitterOf, nextWakeAt, slotsIn } from '../../src/machines/jobLogic.js';
import { Driver, LIMITS, record, T0, types } from './machine-helpers.js';

/** SPEC §10 in the job machine: each policy with its edge, without NATS (instants are explicit). */

const S = 1000;
const slot = (k: number): number => T0 + k * 10 * S; // the helper's jobs: every 10 s from T0
const id = (k: number): string => slotExecutionId('inc1', slot(k));
/** The event types of a step, without the `transition` events of its state changes. */
const lifecycle = (events: Parameters<typeof types>[0]): string[] => types(events).filter((t) => t !== 'transition');

/** A job whose first slot has been dispatched and accepted (execution `id(1)` running). */
function running(body: Parameters<typeof record>[0]): Driver {
  const d = new Driver(record(body));
  d.tick(slot(1));
  expect(d.dispatchesOfLastStep()).toEqual([id(1)]);
  d.send({ type: 'DISPATCH_ACCEPTED', executionId: id(1) });
  expect(d.state).toBe('running');
  return d;
}

describe('buffer_all', () => {
  it('keeps every slot due while an execution runs, in order, and dispatches them one at a time', () => {
    const d = running({ overlapPolicy: 'buffer_all' });
    for (const k of [2, 3, 4]) expect(types(d.tick(slot(k)))).toContain('trigger.buffered');
    expect(d.ctx.buffered).toEqual([slot(2), slot(3), slot(4)]);
    expect(toView(d.ctx, d.now)).toMatchObject({ bufferedSlots: 3, bufferedSlot: { scheduledAt: new Date(slot(2)).toISOString() } });
    for (const k of [1, 2, 3]) {
      d.send({ type: 'COMPLETED', executionId: id(k), status: 'succeeded' });
      // the oldest waiting slot, and only that one, is dispatched as `buffered`
      expect(d.dispatchesOfLastStep()).toEqual([id(k + 1)]);
      expect(d.ctx.active.map((a) => [a.executionId, a.trigger])).toEqual([[id(k + 1), 'buffered']]);
      expect(d.state).toBe('dispatched');
    }
    d.send({ type: 'COMPLETED', executionId: id(4), status: 'succeeded' });
    expect(d.ctx.buffered).toEqual([]);
    expect(d.state).toBe('idle');
  });

  it('skips with reason buffer_full beyond SCHED_MAX_BUFFERED, and counts it apart from overlap skips', () => {
    const d = running({ overlapPolicy: 'buffer_all' });
    d.send({ type: 'TICK', maxBuffered: 2 }, slot(2));
    d.send({ type: 'TICK', maxBuffered: 2 }, slot(3));
    const ev = d.send({ type: 'TICK', maxBuffered: 2 }, slot(4));
    expect(ev.find((e) => e.type === 'trigger.skipped')?.data).toMatchObject({ reason: 'buffer_full', scheduledAt: new Date(slot(4)).toISOString() });
    expect(d.ctx.buffered).toEqual([slot(2), slot(3)]);
    expect(d.ctx.counters).toMatchObject({ skippedBufferFull: 1, skippedOverlap: 0 });
  });
});

describe('cancel_other', () => {
  it('asks the running execution to stop and dispatches the new slot only when it ends', () => {
    const d = running({ overlapPolicy: 'cancel_other' });
    const ev = d.tick(slot(2)).filter((e) => e.type !== 'transition');
    expect(lifecycle(ev)).toEqual(['execution.cancel_requested']);
    expect(ev[0]).toMatchObject({ executionId: id(1), data: { reason: 'overlap', forSlot: new Date(slot(2)).toISOString(), policy: 'cancel_other' } });
    expect(d.ctx.outbox.filter((e) => e.kind === 'cancel')).toEqual([{ kind: 'cancel', executionId: id(1) }]);
    expect(d.dispatchesOfLastStep()).toEqual([]);
    expect(d.ctx.active[0]?.cancelRequested).toBe(true);
    expect(d.state).toBe('running');
    // another slot while one waits: skipped, and no second cancel request
    expect(lifecycle(d.tick(slot(3)))).toEqual(['trigger.skipped']);
    d.send({ type: 'COMPLETED', executionId: id(1), status: 'cancelled' });
    expect(d.dispatchesOfLastStep()).toEqual([id(2)]);
    expect(d.ctx.lastResult).toMatchObject({ executionId: id(1), status: 'cancelled' });
  });

  it('dispatches the waiting slot when the old execution never answers and times out', () => {
    const d = running({ overlapPolicy: 'cancel_other', maxRuntimeMs: 15 * S });
    d.tick(slot(2));
    const deadline = d.ctx.active[0]!.deadlineAt;
    const ev = d.tick(deadline);
    expect(types(ev)).toContain('execution.timed_out');
    expect(d.dispatchesOfLastStep()).toContain(id(2));
    expect(d.ctx.active.map((a) => a.executionId)).toEqual([id(2)]);
  });
});

describe('terminate_other', () => {
  it('ends the running execution as terminated at once, dispatches the new slot, and rejects its late completion', () => {
    const d = running({ overlapPolicy: 'terminate_other' });
    const ev = d.tick(slot(2));
    expect(lifecycle(ev)).toEqual(['execution.cancel_requested', 'execution.terminated', 'trigger.dispatched']);
    expect(d.dispatchesOfLastStep()).toEqual([id(2)]);
    expect(d.ctx.lastResult).toMatchObject({ executionId: id(1), status: 'terminated' });
    expect(d.ctx.counters.terminated).toBe(1);
    const late = d.send({ type: 'COMPLETED', executionId: id(1), status: 'succeeded' });
    expect(late.map((e) => [e.type, e.data.reason])).toEqual([['execution.completion_rejected', 'terminated']]);
    expect(d.ctx.counters.succeeded).toBe(0);
    expect(d.ctx.active.map((a) => a.executionId)).toEqual([id(2)]);
  });
});

describe('jitterMs', () => {
  it('is in [0, jitterMs), the same for the same incarnation and slot, and spread over the range', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 24 }), fc.integer({ min: 1, max: 86_400_000 }), fc.integer({ min: 0, max: 2 ** 44 }), (inc, j, t) => {
        const a = jitterOf(inc, j, t);
        expect(Number.isInteger(a)).toBe(true);
        expect(a).toBeGreaterThanOrEqual(0);
        expect(a).toBeLessThan(j);
        expect(jitterOf(inc, j, t)).toBe(a);
      }),
    );
    const seen = new Set<number>();
    for (let k = 0; k < 200; k++) seen.add(Math.floor(jitterOf('inc1', 10_000, T0 + k * 60_000) / 1000));
    expect(seen.size).toBe(10); // every tenth of the range is hit
    expect(jitterOf('inc1', 0, T0)).toBe(0);
  });

  it('fires each slot at scheduledAt + its jitter: not before, with firesAt in the dispatch and nominal ids', () => {
    const d = new Driver(record({ jitterMs: 9 * S }));
    const j = jitterOf('inc1', 9 * S, slot(1));
    expect(j).toBeGreaterThan(0); // this instance: slot(1) has a jitter (else the test would be empty)
    expect(nextWakeAt(d.ctx)).toBe(slot(1) + j);
    d.tick(slot(1) + j - 1);
    expect(d.dispatchesOfLastStep()).toEqual([]);
    d.tick(slot(1) + j);
    expect(d.dispatchesOfLastStep()).toEqual([id(1)]);
    const req = dispatchRequest(d.ctx, id(1))!;
    expect(req.scheduledAt).toBe(new Date(slot(1)).toISOString());
    expect(req.firesAt).toBe(new Date(slot(1) + j).toISOString());
    expect(d.ctx.nextRunAt).toBe(slot(2));
  });

  it('is not a misfire when the next nominal slot has passed but its own firesAt has not', () => {
    // a slot fired late (a busy process), after the next nominal slot but before that one's firesAt
    const r = record({ jitterMs: 10 * S });
    const k = [...Array(200).keys()].find((i) => i > 0 && jitterOf('inc1', 10 * S, slot(i + 1)) > 1000)!;
    const d = new Driver({ ...r, nextRunAt: slot(k) });
    const ev = d.tick(slot(k + 1) + 500);
    expect(types(ev)).not.toContain('misfire.fired_once');
    expect(d.dispatchesOfLastStep()).toEqual([id(k)]);
    expect(d.ctx.nextRunAt).toBe(slot(k + 1)); // the next slot is not lost
  });

  it('is refused above the interval', () => {
    let details: unknown;
    try {
      record({ jitterMs: 11 * S });
    } catch (err) {
      details = (err as { details?: unknown }).details;
    }
    expect(details).toEqual([{ path: 'jitterMs', message: 'must be at most the interval (10000 ms)' }]);
  });
});

describe('maxRuns', () => {
  it('counts slots, buffered slots and misfire recoveries, not run_now; at 0 the job stays with no next run and job.exhausted once', () => {
    const d = new Driver(record({ maxRuns: 3, overlapPolicy: 'buffer_one' }));
    d.tick(slot(1)); // run 1
    d.send({ type: 'RUN_NOW' as const, ignoreOverlap: true });
    expect(d.ctx.remainingRuns).toBe(2);
    d.tick(slot(2)); // buffered: run 2
    expect(d.ctx.remainingRuns).toBe(1);
    d.send({ type: 'COMPLETED', executionId: id(1), status: 'succeeded' });
    d.send({ type: 'COMPLETED', executionId: 'inc1-r1', status: 'succeeded' });
    d.send({ type: 'COMPLETED', executionId: id(2), status: 'succeeded' });
    const ev = d.tick(slot(50)); // a misfire recovery: run 3, the last
    expect(types(ev)).toEqual(expect.arrayContaining(['misfire.fired_once', 'trigger.dispatched', 'job.exhausted']));
    expect(d.ctx.remainingRuns).toBe(0);
    expect(d.ctx.nextRunAt).toBeNull();
    expect(toView(d.ctx, d.now)).toMatchObject({ remainingRuns: 0, nextRunAt: null, maxRuns: 3 });
    d.send({ type: 'COMPLETED', executionId: id(50), status: 'succeeded' });
    expect(types(d.tick(slot(60)))).not.toContain('trigger.dispatched');
    // pause and resume do not bring slots back; an update of maxRuns does
    d.send({ type: 'PAUSE', reason: null });
    d.send({ type: 'RESUME' });
    expect(d.ctx.nextRunAt).toBeNull();
    d.send({ type: 'UPDATE', patch: { maxRuns: 1 }, limits: LIMITS }, slot(60) + 1);
    expect(d.ctx.remainingRuns).toBe(1);
    expect(d.ctx.nextRunAt).toBe(slot(61));
  });
});

describe('pauseOnFailure', () => {
  it.each([
    ['failed', (d: Driver) => d.send({ type: 'COMPLETED', executionId: id(1), status: 'failed' })],
    ['timed_out', (d: Driver) => d.tick(d.ctx.active[0]!.deadlineAt)],
    ['dispatch_failed', (d: Driver) => d.send({ type: 'DISPATCH_FAILED', executionId: id(1), reason: 'rejected' })],
  ] as const)('pauses the job when an execution ends %s', (status, end) => {
    const d = new Driver(record({ pauseOnFailure: true }));
    d.tick(slot(1));
    if (status !== 'dispatch_failed') d.send({ type: 'DISPATCH_ACCEPTED', executionId: id(1) });
    const ev = end(d);
    const paused = ev.find((e) => e.type === 'job.paused');
    expect(paused).toMatchObject({ executionId: id(1), data: { reason: 'failure' } });
    expect(d.state).toBe('paused');
    expect(d.ctx.spec.paused).toBe(true);
    expect(d.ctx.lastResult?.status).toBe(status);
  });

  it('does not pause on success or cancellation', () => {
    const d = new Driver(record({ pauseOnFailure: true }));
    d.tick(slot(1));
    d.send({ type: 'COMPLETED', executionId: id(1), status: 'cancelled' });
    expect(d.state).toBe('idle');
  });
});

describe('backfill', () => {
  it('dispatches the slots of [from, to) one after another with deterministic ids, without moving nextRunAt or maxRuns', () => {
    const d = new Driver(record({ maxRuns: 5 }));
    const next = d.ctx.nextRunAt;
    d.send({ type: 'BACKFILL', from: slot(-3), to: slot(0), maxSlots: 100 });
    expect(d.outcome).toEqual({
      ok: true,
      backfill: { count: 3, scheduledAt: [slot(-3), slot(-2), slot(-1)].map((t) => new Date(t).toISOString()), backfillId: '1' },
    });
    expect(d.state).toBe('dispatched');
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [e] = d.dispatchesOfLastStep();
      order.push(e!);
      expect(d.ctx.active.length).toBe(1);
      d.send({ type: 'COMPLETED', executionId: e!, status: 'succeeded' });
    }
    expect(order).toEqual([-3, -2, -1].map((k) => backfillExecutionId('inc1', '1', slot(k))));
    expect(d.ctx.backfills).toEqual([]);
    expect(d.ctx.nextRunAt).toBe(next);
    expect(d.ctx.remainingRuns).toBe(5);
    expect(d.state).toBe('idle');
  });

  it('under allow dispatches every slot at once; works on a paused job; a dry run changes nothing', () => {
    const d = new Driver(record({ paused: true }));
    const before = d.ctx;
    d.send({ type: 'BACKFILL', from: slot(-3), to: slot(0), dryRun: true, maxSlots: 100 });
    expect(d.outcome).toMatchObject({ ok: true, backfill: { count: 3 } });
    expect(d.ctx).toEqual(before);
    expect(d.dispatchesOfLastStep()).toEqual([]);
    d.send({ type: 'BACKFILL', from: slot(-3), to: slot(0), overlapPolicy: 'allow', maxSlots: 100 });
    expect(d.dispatchesOfLastStep().length).toBe(3);
    expect(d.state).toBe('paused');
  });

  it('refuses more than maxSlots with limit_exceeded', () => {
    const d = new Driver(record({}));
    d.send({ type: 'BACKFILL', from: slot(-10_001), to: slot(0), maxSlots: 10_000 });
    expect(d.outcome).toMatchObject({ ok: false, code: 'limit_exceeded' });
    expect(d.ctx.backfills).toEqual([]);
  });

  it('resumes from its stored progress after a restart: no slot repeated or lost', () => {
    const d = new Driver(record({}));
    d.send({ type: 'BACKFILL', from: slot(-4), to: slot(0), maxSlots: 100 });
    const [first] = d.dispatchesOfLastStep();
    d.send({ type: 'COMPLETED', executionId: first!, status: 'succeeded' });
    const [second] = d.dispatchesOfLastStep();
    // the record as stored (JSON), restored into a new machine (a restart, a failover)
    const restored = new Driver(upgradeRecord(JSON.parse(JSON.stringify(d.ctx)) as JobRecord), d.now);
    expect(restored.ctx.active.map((a) => a.executionId)).toEqual([second]);
    const seen = [first!, second!];
    restored.send({ type: 'COMPLETED', executionId: second!, status: 'succeeded' });
    for (let i = 0; i < 2; i++) {
      const [e] = restored.dispatchesOfLastStep();
      seen.push(e!);
      restored.send({ type: 'COMPLETED', executionId: e!, status: 'succeeded' });
    }
    expect(seen).toEqual([-4, -3, -2, -1].map((k) => backfillExecutionId('inc1', '1', slot(k))));
    expect(restored.ctx.backfills).toEqual([]);
  });

  it('lists the same slots as the schedule arithmetic (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -500, max: 500 }), fc.integer({ min: 1, max: 400 }), (a, n) => {
        const r = record({ schedule: { kind: 'cron', expression: '*/7 * * * *', timezone: 'Europe/Berlin' } });
        const from = T0 + a * 60_000;
        const to = from + n * 60_000;
        const { slots, more } = slotsIn(scheduleOf(r.spec, r.anchorAt), from, to, 10_000);
        expect(more).toBe(false);
        const expected: number[] = [];
        for (let t = Math.ceil(from / 60_000) * 60_000; t < to; t += 60_000) if (new Date(t).getUTCMinutes() % 7 === 0) expected.push(t);
        expect(slots).toEqual(expected);
      }),
      { numRuns: 50 },
    );
  });
});

describe('records stored before SPEC §10', () => {
  it('are upgraded on read: the buffered slot kept, new fields defaulted', () => {
    const r = record({ overlapPolicy: 'buffer_one' });
    const { buffered: _b, remainingRuns: _r, backfills: _f, backfillSeq: _s, terminated: _t, ...rest } = r;
    const { jitterMs: _j, maxRuns: _m, pauseOnFailure: _p, ...spec } = r.spec;
    const old = { ...rest, spec, bufferedSlot: { scheduledAt: slot(2) } } as unknown as JobRecord;
    const up = upgradeRecord(old);
    expect(up).toMatchObject({ buffered: [slot(2)], remainingRuns: null, backfills: [], backfillSeq: 0, terminated: [] });
    expect(up.spec).toMatchObject({ jitterMs: 0, maxRuns: null, pauseOnFailure: false });
    expect('bufferedSlot' in up).toBe(false);
  });
});
