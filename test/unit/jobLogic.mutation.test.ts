import { describe, expect, it } from 'vitest';
import { runNowExecutionId, slotExecutionId } from '../../src/contract/ids.js';
import type { AuditEvent, JobRecord } from '../../src/core/record.js';
import type { Patch } from '../../src/contract/schemas.js';
import { normalizeSpec } from '../../src/core/spec.js';
import {
  completed,
  dispatchAccepted,
  dispatchAttempt,
  dispatchFailed,
  fireDue,
  heartbeat,
  isSlotDue,
  nextWakeAt,
  pause,
  resume,
  runNow,
  runNowOverlaps,
  applyUpdate,
  attemptFailed,
  decideUpdate,
  dispatchAction,
  dispatchRequest,
  dispatchRetry,
  faulted,
  faultRetryMs,
  pausedAfterUpdate,
  update,
} from '../../src/machines/jobLogic.js';
import { jobMachine } from '../../src/machines/jobMachine.js';
import { Driver, LIMITS, record, T0, types } from './machine-helpers.js';

/**
 * The decisions of a job as pure functions (src/machines/jobLogic.ts), called directly: the cases
 * the machine-level tests do not reach (several active executions, retries, replies arriving in an
 * unusual order, boundaries).
 */

const S = 1000;
const iso = (ms: number) => new Date(ms).toISOString();
/** The audit events a step wrote. */
const eventsOf = (r: JobRecord, step: number): AuditEvent[] =>
  r.outboxStep === step ? r.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : [])) : [];
const dispatchesOf = (r: JobRecord, step: number): string[] =>
  r.outboxStep === step ? r.outbox.flatMap((e) => (e.kind === 'dispatch' ? [e.executionId] : [])) : [];
const slot = (k: number) => slotExecutionId('inc1', T0 + k * 10 * S);

/** An `allow` job with the slots at 10 s and 20 s dispatched (two active executions). */
function twoActive(): JobRecord {
  let r = record({ allowOverlap: true });
  r = fireDue(r, 1, T0 + 10 * S);
  r = fireDue(r, 2, T0 + 20 * S);
  expect(r.active.map((a) => a.executionId)).toEqual([slot(1), slot(2)]);
  return r;
}

describe('a new job', () => {
  it('starts with no history, one job.created event and the first slot', () => {
    const r = record();
    expect(r).toMatchObject({
      revision: 1,
      state: 'idle',
      nextRunAt: T0 + 10 * S,
      active: [],
      recentDone: [],
      buffered: [],
      remainingRuns: null,
      backfills: [],
      runNowSeq: 0,
      eventSeq: 1,
    });
    expect(eventsOf(r, 0)).toEqual([
      {
        id: 'inc1-e1',
        type: 'job.created',
        at: iso(T0),
        orchestratorId: 'acme',
        jobId: 'job1',
        data: { revision: 1, nextRunAt: iso(T0 + 10 * S) },
      },
    ]);
  });

  it('created paused is in state paused from the start', () => {
    const r = record({ paused: true });
    expect(r.state).toBe('paused');
    const d = new Driver(r);
    expect(d.state).toBe('paused');
    // no transition event: the record already says paused
    expect(d.ctx.outbox.filter((e) => e.kind === 'event').map((e) => (e.kind === 'event' ? e.event.type : ''))).toEqual(['job.created']);
  });

  it('with startAt at the creation instant, the first slot is startAt itself', () => {
    const r = record({ startAt: T0 });
    expect(r.nextRunAt).toBe(T0);
  });

  it('a once job whose instant already passed keeps that instant, so it fires as a misfire', () => {
    const at = T0 - 120 * S;
    const r = record({ schedule: { kind: 'once', at } });
    expect(r.nextRunAt).toBe(at);
    expect(eventsOf(r, 0)[0]!.data).toEqual({ revision: 1, nextRunAt: iso(at) });
    const fired = fireDue(r, 1, T0);
    expect(eventsOf(fired, 1).map((e) => e.type)).toEqual(['misfire.fired_once', 'trigger.dispatched']);
    expect(dispatchesOf(fired, 1)).toEqual([slotExecutionId('inc1', at)]);
  });

  it('a job with no slot at all says nextRunAt null in job.created', () => {
    const r = record({ schedule: { kind: 'once', at: T0 + 60 * S }, endAt: T0 + 30 * S });
    expect(r.nextRunAt).toBeNull();
    expect(eventsOf(r, 0)[0]!.data).toEqual({ revision: 1, nextRunAt: null });
  });

  it('event ids are the incarnation and an increasing per-job sequence (stable when replayed)', () => {
    let r = record();
    r = pause(r, 1, T0 + S, null);
    r = resume(r, 2, T0 + 2 * S);
    expect([eventsOf(r, 2)[0]!.id, r.eventSeq]).toEqual(['inc1-e3', 3]);
  });
});

describe('when a slot is due', () => {
  it('isSlotDue: from the slot instant on, never while paused or without a next slot', () => {
    const r = record();
    expect(isSlotDue(r, T0 + 10 * S - 1)).toBe(false);
    expect(isSlotDue(r, T0 + 10 * S)).toBe(true);
    expect(isSlotDue({ ...r, spec: { ...r.spec, paused: true } }, T0 + 20 * S)).toBe(false);
    expect(isSlotDue({ ...r, nextRunAt: null }, T0 + 20 * S)).toBe(false);
  });

  it('fireDue is a no-op (the same record) before the slot, while paused, and with no slot left', () => {
    const r = record();
    expect(fireDue(r, 1, T0 + 10 * S - 1)).toBe(r);
    const paused = { ...r, spec: { ...r.spec, paused: true } };
    expect(fireDue(paused, 1, T0 + 20 * S)).toBe(paused);
    const none = { ...r, nextRunAt: null };
    expect(fireDue(none, 1, T0 + 20 * S)).toBe(none);
  });

  it('a slot exactly misfireGraceMs late still fires normally; one ms more is a misfire', () => {
    const r = record({ misfireGraceMs: 2_000 });
    const onTime = fireDue(r, 1, T0 + 10 * S + 2_000);
    expect(eventsOf(onTime, 1).map((e) => [e.type, e.data.trigger])).toEqual([['trigger.dispatched', 'schedule']]);
    const late = fireDue(r, 1, T0 + 10 * S + 2_001);
    expect(eventsOf(late, 1).map((e) => e.type)).toEqual(['misfire.fired_once', 'trigger.dispatched']);
  });

  it('a misfire over more than 20 years of a cron job says its count is approximate', () => {
    const r = record({ schedule: { kind: 'cron', expression: '0 0 * * *' } });
    const now = Date.parse('2047-06-01T12:00:00.000Z');
    const mis = eventsOf(fireDue(r, 1, now), 1).find((e) => e.type === 'misfire.fired_once')!;
    expect(mis.data).toMatchObject({ missedCountExact: false, lastMissedAt: '2047-06-01T00:00:00.000Z' });
    expect(mis.data.missedCount).toBeGreaterThan(7_800);
  });

  it('a slot that is already active is never dispatched a second time', () => {
    let r = record({ allowOverlap: true });
    r = fireDue(r, 1, T0 + 10 * S);
    // the same slot due again (a replayed nextRunAt): the guard recognises its execution id
    const again = fireDue({ ...r, nextRunAt: T0 + 10 * S }, 2, T0 + 10 * S + 5);
    expect(dispatchesOf(again, 2)).toEqual([]);
    expect(again.active.map((a) => a.executionId)).toEqual([slot(1)]);
    expect(again.counters.dispatched).toBe(1);
  });

  it('nextWakeAt is the earliest of the next slot and every deadline', () => {
    let r = record({ allowOverlap: true, maxRuntimeMs: 25 * S });
    r = fireDue(r, 1, T0 + 10 * S); // deadline 35 s
    r = dispatchAccepted(r, 2, T0 + 12 * S, slot(1)); // deadline 37 s
    expect(nextWakeAt(r)).toBe(T0 + 20 * S);
    r = fireDue(r, 3, T0 + 20 * S); // deadline 45 s; next slot 30 s
    r = { ...r, nextRunAt: T0 + 60 * S };
    expect(nextWakeAt(r)).toBe(T0 + 37 * S);
    expect(nextWakeAt({ ...r, spec: { ...r.spec, paused: true } })).toBe(T0 + 37 * S);
  });
});

describe('several active executions (allow, or run_now with ignoreOverlap)', () => {
  it('a completion ends only its own execution and reports its own slot', () => {
    const r = completed(twoActive(), 3, T0 + 21 * S, { executionId: slot(2), status: 'succeeded' });
    expect(r.active.map((a) => a.executionId)).toEqual([slot(1)]);
    const done = eventsOf(r, 3).find((e) => e.type === 'execution.completed')!;
    expect(done).toMatchObject({ executionId: slot(2), data: { scheduledAt: iso(T0 + 20 * S), trigger: 'schedule', status: 'succeeded' } });
  });

  it('an accept marks only its own execution running', () => {
    const base = twoActive();
    const r = dispatchAccepted(base, 3, T0 + 21 * S, slot(2));
    expect(r.active.map((a) => [a.executionId, a.state])).toEqual([
      [slot(1), 'dispatched'],
      [slot(2), 'running'],
    ]);
    expect(r.active[1]!.deadlineAt).toBe(T0 + 21 * S + r.spec.maxRuntimeMs);
    expect(eventsOf(r, 3)).toMatchObject([{ type: 'execution.started', executionId: slot(2), data: { scheduledAt: iso(T0 + 20 * S) } }]);
  });

  it('a second accept of the same execution (a duplicate reply) changes nothing', () => {
    const once = dispatchAccepted(twoActive(), 3, T0 + 21 * S, slot(1));
    expect(dispatchAccepted(once, 4, T0 + 25 * S, slot(1))).toBe(once);
  });

  it('a dispatch failure ends only its own execution, with the detail when there is one', () => {
    const r = dispatchFailed(twoActive(), 3, T0 + 21 * S, slot(2), 'rejected', 'no capacity');
    expect(r.active.map((a) => a.executionId)).toEqual([slot(1)]);
    expect(eventsOf(r, 3)[0]).toMatchObject({
      type: 'trigger.failed',
      executionId: slot(2),
      data: { reason: 'rejected', detail: 'no capacity', scheduledAt: iso(T0 + 20 * S), attempts: 1 },
    });
    const plain = dispatchFailed(twoActive(), 3, T0 + 21 * S, slot(1), 'no_responders');
    expect(Object.keys(eventsOf(plain, 3)[0]!.data).sort()).toEqual(['attempts', 'reason', 'scheduledAt', 'trigger']);
  });

  it('a dispatch failure reported for an execution that is already running changes nothing', () => {
    const running = dispatchAccepted(twoActive(), 3, T0 + 21 * S, slot(2));
    expect(dispatchFailed(running, 4, T0 + 22 * S, slot(2), 'timeout')).toBe(running);
  });

  it('a heartbeat extends only its own execution', () => {
    let r = twoActive();
    r = dispatchAccepted(r, 3, T0 + 21 * S, slot(1));
    r = dispatchAccepted(r, 4, T0 + 21 * S, slot(2));
    const before = r.active[0]!.deadlineAt;
    r = heartbeat(r, 5, T0 + 30 * S, slot(2));
    expect(r.active.map((a) => a.deadlineAt)).toEqual([before, T0 + 30 * S + r.spec.maxRuntimeMs]);
  });

  it('a heartbeat of an execution still waiting for its accept means it started', () => {
    const r = heartbeat(twoActive(), 3, T0 + 21 * S, slot(2));
    expect(r.active[1]!.state).toBe('running');
    expect(eventsOf(r, 3).map((e) => [e.type, e.executionId])).toEqual([['execution.started', slot(2)]]);
  });

  it('a heartbeat of an unknown execution changes nothing', () => {
    const r = twoActive();
    expect(heartbeat(r, 3, T0 + 21 * S, 'nope')).toBe(r);
  });

  it('buffer_one: the buffered slot waits until no execution at all is active', () => {
    let r = record({ overlapPolicy: 'buffer_one' });
    r = fireDue(r, 1, T0 + 10 * S);
    r = runNow(r, 2, T0 + 11 * S, undefined, true).record;
    r = fireDue(r, 3, T0 + 20 * S);
    expect(r.buffered).toEqual([T0 + 20 * S]);
    r = completed(r, 4, T0 + 21 * S, { executionId: slot(1), status: 'succeeded' });
    expect(dispatchesOf(r, 4)).toEqual([]);
    expect(r.buffered).toEqual([T0 + 20 * S]);
    r = completed(r, 5, T0 + 22 * S, { executionId: runNowExecutionId('inc1', 1), status: 'succeeded' });
    expect(dispatchesOf(r, 5)).toEqual([slot(2)]);
  });
});

describe('completions', () => {
  it('count by status', () => {
    let r = record({ allowOverlap: true });
    for (let k = 1; k <= 3; k++) r = fireDue(r, k, T0 + k * 10 * S);
    r = completed(r, 4, T0 + 31 * S, { executionId: slot(1), status: 'failed' });
    r = completed(r, 5, T0 + 31 * S, { executionId: slot(2), status: 'cancelled' });
    r = completed(r, 6, T0 + 31 * S, { executionId: slot(3), status: 'succeeded' });
    expect(r.counters).toMatchObject({ dispatched: 3, failed: 1, cancelled: 1, succeeded: 1 });
    expect(r.lastResult).toEqual({ executionId: slot(3), status: 'succeeded', at: T0 + 31 * S });
  });

  it('carry the error and the output of the orchestrator, and nothing when there is none', () => {
    let r = fireDue(record({ allowOverlap: true }), 1, T0 + 10 * S);
    r = fireDue(r, 2, T0 + 20 * S);
    const withBoth = completed(r, 3, T0 + 21 * S, { executionId: slot(1), status: 'failed', error: { message: 'boom' }, output: [1, 2] });
    expect(eventsOf(withBoth, 3).at(-1)!.data).toEqual({
      status: 'failed',
      scheduledAt: iso(T0 + 10 * S),
      trigger: 'schedule',
      error: { message: 'boom' },
      output: [1, 2],
    });
    const without = completed(withBoth, 4, T0 + 22 * S, { executionId: slot(2), status: 'succeeded' });
    expect(Object.keys(eventsOf(without, 4).at(-1)!.data).sort()).toEqual(['scheduledAt', 'status', 'trigger']);
  });

  it('the finished ids remembered to recognise duplicates are bounded (the last 32)', () => {
    let r = record({ allowOverlap: true, schedule: { kind: 'interval', every: S } });
    for (let k = 1; k <= 40; k++) {
      r = fireDue(r, 2 * k, T0 + k * S);
      r = completed(r, 2 * k + 1, T0 + k * S, { executionId: slotExecutionId('inc1', T0 + k * S), status: 'succeeded' });
    }
    expect(r.recentDone).toHaveLength(32);
    expect(r.recentDone.at(-1)).toBe(slotExecutionId('inc1', T0 + 40 * S));
    expect(r.recentDone[0]).toBe(slotExecutionId('inc1', T0 + 9 * S));
  });
});

describe('dispatch retries (DISPATCH_ATTEMPT)', () => {
  it('record the attempt of a dispatched execution and audit it as trigger.dispatched', () => {
    const r = dispatchAttempt(twoActive(), 3, T0 + 21 * S, slot(2), 2);
    expect(r.active.map((a) => a.attempt)).toEqual([1, 2]);
    expect(eventsOf(r, 3)).toMatchObject([
      { type: 'trigger.dispatched', executionId: slot(2), data: { attempt: 2, trigger: 'schedule', scheduledAt: iso(T0 + 20 * S) } },
    ]);
    // the failure after retries reports the attempts made
    expect(eventsOf(dispatchFailed(r, 4, T0 + 22 * S, slot(2), 'timeout'), 4)[0]!.data).toMatchObject({ attempts: 2 });
  });

  it('ignore an unknown execution, a running one, and an attempt that is not newer', () => {
    const r = twoActive();
    expect(dispatchAttempt(r, 3, T0 + 21 * S, 'nope', 2)).toBe(r);
    expect(dispatchAttempt(r, 3, T0 + 21 * S, slot(1), 1)).toBe(r);
    const two = dispatchAttempt(r, 3, T0 + 21 * S, slot(1), 2);
    expect(dispatchAttempt(two, 4, T0 + 22 * S, slot(1), 2)).toBe(two);
    const running = dispatchAccepted(r, 3, T0 + 21 * S, slot(1));
    expect(dispatchAttempt(running, 4, T0 + 22 * S, slot(1), 2)).toBe(running);
  });

  it('an attempt is sent: DISPATCH_ATTEMPT puts a dispatch effect in the outbox, after its trigger.dispatched', () => {
    const r = dispatchAttempt(twoActive(), 3, T0 + 21 * S, slot(2), 2);
    expect(r.outbox.map((e) => e.kind)).toEqual(['event', 'dispatch']);
    expect(dispatchesOf(r, 3)).toEqual([slot(2)]);
  });

  it('dispatchRetry: no reply and no responders are retried backoffMs later, up to attempts in all; a rejection never', () => {
    const r = fireDue(record({ dispatchRetry: { attempts: 3, backoffMs: 1_500 } }), 1, T0 + 10 * S);
    expect(dispatchRetry(r, T0 + 11 * S, slot(1), 'timeout')).toEqual({ executionId: slot(1), attempt: 2, at: T0 + 11 * S + 1_500 });
    expect(dispatchRetry(r, T0 + 11 * S, slot(1), 'no_responders')).toEqual({ executionId: slot(1), attempt: 2, at: T0 + 11 * S + 1_500 });
    expect(dispatchRetry(r, T0 + 11 * S, slot(1), 'rejected')).toBeNull();
    const second = dispatchAttempt(r, 2, T0 + 12 * S, slot(1), 2);
    expect(dispatchRetry(second, T0 + 13 * S, slot(1), 'timeout')).toMatchObject({ attempt: 3 });
    const third = dispatchAttempt(second, 3, T0 + 14 * S, slot(1), 3);
    expect(dispatchRetry(third, T0 + 15 * S, slot(1), 'timeout')).toBeNull(); // the last attempt
    // not waiting for a dispatch reply: nothing to retry
    expect(dispatchRetry(r, T0 + 11 * S, 'nope', 'timeout')).toBeNull();
    expect(dispatchRetry(dispatchAccepted(r, 2, T0 + 11 * S, slot(1)), T0 + 11 * S, slot(1), 'timeout')).toBeNull();
    // attempts: 1 is no retry at all
    expect(dispatchRetry(fireDue(record({ dispatchRetry: { attempts: 1 } }), 1, T0 + 10 * S), T0 + 11 * S, slot(1), 'timeout')).toBeNull();
  });

  it('attemptFailed: a retried attempt leaves the record as it is; the last one fails the dispatch with its reason', () => {
    const r = fireDue(record(), 1, T0 + 10 * S);
    const retried = attemptFailed(r, 2, T0 + 11 * S, slot(1), 'no_responders');
    expect(retried).toEqual({ record: r, retry: { executionId: slot(1), attempt: 2, at: T0 + 12 * S } });
    expect(retried.record).toBe(r);
    const last = dispatchAttempt(dispatchAttempt(r, 3, T0 + 12 * S, slot(1), 2), 4, T0 + 14 * S, slot(1), 3);
    const failed = attemptFailed(last, 5, T0 + 15 * S, slot(1), 'timeout');
    expect(failed.retry).toBeNull();
    expect(eventsOf(failed.record, 5)[0]).toMatchObject({ type: 'trigger.failed', data: { attempts: 3, reason: 'timeout' } });
    expect(failed.record.active).toEqual([]);
    const rejected = attemptFailed(r, 2, T0 + 11 * S, slot(1), 'rejected', 'busy');
    expect(rejected.retry).toBeNull();
    expect(eventsOf(rejected.record, 2)[0]!.data).toMatchObject({ attempts: 1, reason: 'rejected', detail: 'busy' });
  });

  it('reach the machine as DISPATCH_ATTEMPT events', () => {
    const d = new Driver(record());
    d.tick(T0 + 10 * S);
    const ev = d.send({ type: 'DISPATCH_ATTEMPT', executionId: slot(1), attempt: 2 });
    expect(types(ev)).toEqual(['trigger.dispatched']);
    expect(d.ctx.active[0]!.attempt).toBe(2);
    expect(d.state).toBe('dispatched');
  });
});

describe('run_now', () => {
  it('ids follow the per-job sequence, and the outcome carries the id of the execution dispatched', () => {
    let r = record({ allowOverlap: true });
    const first = runNow(r, 1, T0 + S, undefined, false);
    expect(first.outcome).toEqual({ ok: true, executionId: runNowExecutionId('inc1', 1) });
    r = first.record;
    const second = runNow(r, 2, T0 + 2 * S, undefined, false);
    expect(second.outcome).toEqual({ ok: true, executionId: runNowExecutionId('inc1', 2) });
    r = second.record;
    expect(r.active.map((a) => a.executionId)).toEqual([runNowExecutionId('inc1', 1), runNowExecutionId('inc1', 2)]);
    expect(r.runNowSeq).toBe(2);
  });

  it('under allow it dispatches while another execution is active', () => {
    const r = runNow(fireDue(record({ allowOverlap: true }), 1, T0 + 10 * S), 2, T0 + 11 * S, undefined, false).record;
    expect(dispatchesOf(r, 2)).toEqual([runNowExecutionId('inc1', 1)]);
  });

  it('is refused with overlap while an execution is active (skip, buffer_one), the record unchanged, the active ids as details', () => {
    for (const overlapPolicy of ['skip', 'buffer_one'] as const) {
      const r = fireDue(record({ overlapPolicy }), 1, T0 + 10 * S);
      const d = runNow(r, 2, T0 + 11 * S, { x: 1 }, false);
      expect(d.record).toBe(r);
      expect(d.outcome).toEqual({
        ok: false,
        code: 'overlap',
        message: `job "job1" has an active execution and its overlap policy is "${overlapPolicy}"`,
        details: { activeExecutions: [slot(1)] },
      });
      expect(runNowOverlaps(r, false)).toBe(true);
      expect(runNowOverlaps(r, true)).toBe(false);
    }
  });

  it('ignoreOverlap dispatches anyway; with nothing active it never overlaps', () => {
    const r = fireDue(record({ overlapPolicy: 'skip' }), 1, T0 + 10 * S);
    expect(runNow(r, 2, T0 + 11 * S, undefined, true).outcome).toEqual({ ok: true, executionId: runNowExecutionId('inc1', 1) });
    expect(runNowOverlaps(record({ overlapPolicy: 'skip' }), false)).toBe(false);
    expect(runNowOverlaps(fireDue(record({ allowOverlap: true }), 1, T0 + 10 * S), false)).toBe(false);
  });
});

describe('pause, resume and update', () => {
  it('resume of a job that is not paused changes nothing', () => {
    const r = record();
    expect(resume(r, 1, T0 + S)).toBe(r);
  });

  it('job.resumed says the next slot, or null when none is left', () => {
    const r = resume(pause(record(), 1, T0 + S, null), 2, T0 + 15 * S);
    expect(eventsOf(r, 2)[0]!.data).toEqual({ revision: 3, nextRunAt: iso(T0 + 20 * S) });
    const once = record({ schedule: { kind: 'once', at: T0 + 5 * S } });
    const gone = resume(pause(once, 1, T0 + S, null), 2, T0 + 15 * S);
    expect(gone.nextRunAt).toBeNull();
    expect(eventsOf(gone, 2)[0]!.data).toEqual({ revision: 3, nextRunAt: null });
  });

  it('an update that changes nothing is a no-op (no revision, no event)', () => {
    const r = record();
    expect(applyUpdate(r, 1, T0 + S, r.spec, [], false)).toBe(r);
  });

  it('an update that does not touch the schedule keeps a slot that is already due', () => {
    const r = record();
    const renamed = applyUpdate(r, 1, T0 + 10 * S + 5, { ...r.spec, name: 'renamed' }, ['name'], false);
    expect(renamed.nextRunAt).toBe(T0 + 10 * S);
    expect(dispatchesOf(fireDue(renamed, 2, T0 + 10 * S + 6), 2)).toEqual([slot(1)]);
  });

  it('an update that unpauses counts from now like resume and releases the buffered slot', () => {
    let r = record({ overlapPolicy: 'buffer_one' });
    r = fireDue(r, 1, T0 + 10 * S);
    r = fireDue(r, 2, T0 + 20 * S);
    r = pause(r, 3, T0 + 21 * S, null);
    r = completed(r, 4, T0 + 22 * S, { executionId: slot(1), status: 'succeeded' });
    expect(r.buffered).toEqual([T0 + 20 * S]);
    expect(dispatchesOf(r, 4)).toEqual([]);
    const spec = normalizeSpec({ schedule: { kind: 'interval', every: 10_000 }, target: r.spec.target, overlapPolicy: 'buffer_one' }, 'job1', LIMITS, T0);
    const u = applyUpdate(r, 5, T0 + 95 * S, spec, ['paused'], false);
    expect(u.spec.paused).toBe(false);
    expect(u.nextRunAt).toBe(T0 + 100 * S);
    expect(dispatchesOf(u, 5)).toEqual([slot(2)]);
    expect(u.buffered).toEqual([]);
    // an update that keeps the job paused releases nothing
    const still = applyUpdate(r, 5, T0 + 95 * S, { ...r.spec, name: 'x' }, ['name'], false);
    expect(dispatchesOf(still, 5)).toEqual([]);
    expect(still.nextRunAt).toBe(r.nextRunAt);
  });
});

describe('update: the revision conflict and the patch, decided with the record', () => {
  const req = (patch: Patch, expectedRevision?: number) => ({ patch, expectedRevision, limits: LIMITS });

  it('a stale expectedRevision is a conflict (checked before the patch), the record unchanged, its revision as details', () => {
    const r = record();
    const conflict = { ok: false, code: 'conflict', message: 'revision is 1, not 2', details: { revision: 1 } };
    expect(decideUpdate(r, T0 + S, req({ name: 'x' }, 2))).toEqual({ kind: 'refused', refusal: conflict });
    // an invalid patch at a stale revision is still a conflict
    expect(decideUpdate(r, T0 + S, req({ schedule: { kind: 'interval', every: 10 } }, 2))).toEqual({ kind: 'refused', refusal: conflict });
    const d = update(r, 1, T0 + S, req({ name: 'x' }, 0));
    expect(d.record).toBe(r);
    expect(d.outcome).toEqual({ ok: false, code: 'conflict', message: 'revision is 1, not 0', details: { revision: 1 } });
  });

  it('at the expected revision (or none expected) the patch is applied and the outcome is ok', () => {
    const r = record();
    for (const expectedRevision of [1, undefined]) {
      const d = update(r, 1, T0 + S, req({ name: 'x', labels: { team: 'a' } }, expectedRevision));
      expect(d.outcome).toEqual({ ok: true });
      expect(d.record.spec.name).toBe('x');
      expect(d.record.revision).toBe(2);
      expect(eventsOf(d.record, 1).map((e) => [e.type, e.data])).toEqual([['job.updated', { changed: ['name', 'labels'], revision: 2 }]]);
    }
  });

  it('a patch that changes nothing is ok and leaves the record as it is', () => {
    const r = record();
    expect(decideUpdate(r, T0 + S, req({ paused: false }))).toEqual({ kind: 'patch', spec: r.spec, changed: [], scheduleChanged: false });
    const d = update(r, 1, T0 + S, req({ paused: false }));
    expect(d).toEqual({ record: r, outcome: { ok: true } });
    expect(d.record).toBe(r);
  });

  it('inputs over the quota are refused with limit_exceeded (a refusal, not a fault of the job)', () => {
    const r = record();
    const big = 'x'.repeat(LIMITS.maxInputBytes + 1);
    const d = decideUpdate(r, T0 + S, req({ target: { type: 'workflow_start', workflowId: 'w', inputs: { big } } }));
    expect(d.kind).toBe('refused');
    if (d.kind === 'refused') expect([d.refusal.code, d.refusal.message]).toEqual(['limit_exceeded', expect.stringContaining(`more than the limit of ${LIMITS.maxInputBytes}`)]);
    expect(update(r, 1, T0 + S, req({ target: { type: 'workflow_start', workflowId: 'w', inputs: { big } } })).record).toBe(r);
  });

  it('an invalid patch is refused with invalid_request and the issues as details', () => {
    const r = record();
    const d = update(r, 1, T0 + S, req({ schedule: { kind: 'interval', every: 10 } }));
    expect(d.record).toBe(r);
    expect(d.outcome).toMatchObject({ ok: false, code: 'invalid_request' });
    expect((d.outcome as { details?: unknown }).details).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.any(String) })]));
  });

  it('the schedule changed: counted from now (the anchor); paused after it: as the patch says, or as before when refused or unchanged', () => {
    const r = record();
    const d = decideUpdate(r, T0 + 5 * S, req({ schedule: { kind: 'interval', every: 60 * S } }));
    expect(d).toMatchObject({ kind: 'patch', changed: ['schedule'], scheduleChanged: true });
    const u = update(r, 1, T0 + 5 * S, req({ schedule: { kind: 'interval', every: 60 * S } })).record;
    expect(u.anchorAt).toBe(T0 + 5 * S);
    expect(u.nextRunAt).toBe(T0 + 65 * S);
    expect(pausedAfterUpdate(r, decideUpdate(r, T0, req({ paused: true })))).toBe(true);
    expect(pausedAfterUpdate(r, decideUpdate(r, T0, req({ paused: true }, 9)))).toBe(false);
    const p = pause(r, 1, T0, null);
    expect(pausedAfterUpdate(p, decideUpdate(p, T0, req({ name: 'n' })))).toBe(true);
    expect(pausedAfterUpdate(p, decideUpdate(p, T0, req({ paused: true })))).toBe(true);
    expect(pausedAfterUpdate(p, decideUpdate(p, T0, req({ paused: false })))).toBe(false);
  });
});

describe('the dispatch request: which inputs a dispatch carries', () => {
  const wf = { type: 'workflow_start' as const, workflowId: 'wf', inputs: { a: 1 } };
  const cmd = { type: 'command' as const, command: 'run', args: { a: 1 } };

  it('without run_now inputs the target goes as it is (the same object)', () => {
    expect(dispatchAction(wf, undefined)).toBe(wf);
    expect(dispatchAction(cmd, undefined)).toBe(cmd);
  });

  it("run_now inputs replace the target's: inputs of a workflow_start, args of a command, for that execution only", () => {
    expect(dispatchAction(wf, { b: 2 })).toEqual({ type: 'workflow_start', workflowId: 'wf', inputs: { b: 2 } });
    expect(dispatchAction(cmd, { b: 2 })).toEqual({ type: 'command', command: 'run', args: { b: 2 } });
    expect(wf.inputs).toEqual({ a: 1 });
    // null replaces too; only undefined (no inputs given) keeps the target's
    expect(dispatchAction(wf, null)).toEqual({ ...wf, inputs: null });
  });

  it('carries the execution as recorded: ids, instants, trigger, attempt; null for an execution that is not active', () => {
    let r = fireDue(record(), 1, T0 + 10 * S);
    r = runNow(r, 2, T0 + 11 * S, { x: 9 }, true).record;
    expect(dispatchRequest(r, slot(1))).toEqual({
      executionId: slot(1),
      orchestratorId: 'acme',
      jobId: 'job1',
      scheduledAt: iso(T0 + 10 * S),
      firedAt: iso(T0 + 10 * S),
      trigger: 'schedule',
      attempt: 1,
      action: r.spec.target,
    });
    const rn = runNowExecutionId('inc1', 1);
    expect(dispatchRequest(r, rn)).toMatchObject({ executionId: rn, trigger: 'run_now', firedAt: iso(T0 + 11 * S), action: { ...r.spec.target, inputs: { x: 9 } } });
    expect(dispatchRequest(dispatchAttempt(r, 3, T0 + 12 * S, slot(1), 2), slot(1))?.attempt).toBe(2);
    expect(dispatchRequest(r, 'nope')).toBeNull();
  });
});

describe('a fault: what the job does when its machine threw', () => {
  it('job.faulted on the last written record, with the message, the event and the count', () => {
    const r = record();
    const f = faulted(r, 7, T0 + S, new Error('boom'), 'TICK', 1);
    expect(eventsOf(f.record, 7).map((e) => [e.type, e.data])).toEqual([['job.faulted', { error: 'boom', event: 'TICK', faults: 1 }]]);
    expect(f.record.eventSeq).toBe(r.eventSeq + 1);
    expect({ ...f.record, outbox: r.outbox, outboxStep: r.outboxStep, eventSeq: r.eventSeq }).toEqual(r);
    expect(eventsOf(faulted(r, 7, T0, 'not an Error', 'RUN_NOW', 2).record, 7)[0]!.data).toEqual({ error: 'not an Error', event: 'RUN_NOW', faults: 2 });
  });

  it('is retried with backoff: 1 s doubling up to 60 s, never sooner', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50].map(faultRetryMs)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(faultRetryMs(0)).toBe(1_000);
    expect(faulted(record(), 1, T0 + 5, new Error('x'), 'TICK', 3).retryAt).toBe(T0 + 5 + 4_000);
  });
});

describe('the machine definition', () => {
  it('is exported as `job` with the states of SPEC §8, for inspection tools', () => {
    expect(jobMachine.id).toBe('job');
    expect(Object.keys(jobMachine.states).sort()).toEqual(['boot', 'deleted', 'dispatched', 'due', 'idle', 'paused', 'running']);
  });
});

describe('the machine between slots', () => {
  it('a TICK before the next slot changes nothing (no pass through due)', () => {
    const d = new Driver(record());
    expect(d.tick(T0 + 5 * S)).toEqual([]);
    expect(d.state).toBe('idle');
  });

  it('an execution times out at its deadline between two slots', () => {
    const d = new Driver(record({ maxRuntimeMs: 5 * S }));
    d.tick(T0 + 10 * S);
    const ev = d.tick(T0 + 15 * S);
    expect(types(ev)).toEqual(['execution.timed_out', 'transition']);
    expect(d.state).toBe('idle');
    expect(d.ctx.counters.timedOut).toBe(1);
  });

  it('an execution of a paused job still times out', () => {
    const d = new Driver(record({ maxRuntimeMs: 5 * S }));
    d.tick(T0 + 10 * S);
    d.send({ type: 'PAUSE', reason: null });
    const ev = d.tick(T0 + 15 * S);
    expect(types(ev)).toEqual(['execution.timed_out']);
    expect(d.ctx.active).toEqual([]);
    expect(d.state).toBe('paused');
  });
});
