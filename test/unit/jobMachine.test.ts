import { describe, expect, it } from 'vitest';
import { getShortestPaths } from 'xstate/graph';
import { slotExecutionId } from '../../src/contract/ids.js';
import { jobMachine, type JobEvent } from '../../src/machines/jobMachine.js';
import { nextWakeAt } from '../../src/machines/jobLogic.js';
import { Driver, LIMITS, record, T0, types } from './machine-helpers.js';

const S = 1000;
const iso = (ms: number) => new Date(ms).toISOString();

describe('job machine: firing and overlap', () => {
  it('fires an interval slot, runs, completes and fires again (no drift)', () => {
    const d = new Driver(record());
    expect(d.state).toBe('idle');
    expect(d.ctx.nextRunAt).toBe(T0 + 10 * S);

    const ev = d.tick(T0 + 10 * S + 7);
    expect(d.state).toBe('dispatched');
    expect(types(ev)).toEqual(['trigger.dispatched', 'transition']);
    // one state change, idle to dispatched through due, carried by the dispatch (SPEC §7)
    expect(ev[0]!.data.transition).toEqual({ from: 'idle', to: 'dispatched', event: 'TICK', via: ['due'] });
    const id = slotExecutionId('inc1', T0 + 10 * S);
    expect(d.dispatchesOfLastStep()).toEqual([id]);
    expect(ev[0]).toMatchObject({ executionId: id, data: { scheduledAt: iso(T0 + 10 * S), trigger: 'schedule', attempt: 1 } });
    expect(d.ctx.nextRunAt).toBe(T0 + 20 * S);
    // the transient `due` leaves nothing in the record to store (its `dueFrom` is gone)
    expect(JSON.parse(JSON.stringify(d.ctx))).not.toHaveProperty('dueFrom');

    expect(types(d.send({ type: 'DISPATCH_ACCEPTED', executionId: id }))).toEqual(['execution.started', 'transition']);
    expect(d.state).toBe('running');
    expect(types(d.send({ type: 'COMPLETED', executionId: id, status: 'succeeded' }))).toEqual(['execution.completed', 'transition']);
    expect(d.state).toBe('idle');
    expect(d.ctx.lastResult).toMatchObject({ executionId: id, status: 'succeeded' });

    d.tick(T0 + 20 * S + 900);
    expect(d.dispatchesOfLastStep()).toEqual([slotExecutionId('inc1', T0 + 20 * S)]);
    expect(d.ctx.counters).toMatchObject({ dispatched: 2, succeeded: 1 });
  });

  it('seed finding 1 (unit): allowOverlap=false keeps firing once executions complete', () => {
    const d = new Driver(record({ allowOverlap: false }));
    for (let k = 1; k <= 5; k++) {
      d.tick(T0 + k * 10 * S);
      const [id] = d.dispatchesOfLastStep();
      expect(id).toBe(slotExecutionId('inc1', T0 + k * 10 * S));
      d.send({ type: 'DISPATCH_ACCEPTED', executionId: id! });
      d.send({ type: 'COMPLETED', executionId: id!, status: k % 2 ? 'succeeded' : 'failed' });
    }
    expect(d.ctx.counters.dispatched).toBe(5);
    expect(d.ctx.counters.skippedOverlap).toBe(0);
  });

  it('skip: a slot due while an execution is active is skipped and the schedule advances', () => {
    const d = new Driver(record({ overlapPolicy: 'skip' }));
    d.tick(T0 + 10 * S);
    const [id] = d.dispatchesOfLastStep();
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: id! });
    const ev = d.tick(T0 + 20 * S);
    expect(types(ev)).toEqual(['trigger.skipped', 'transition']);
    expect(ev[0]!.data).toMatchObject({ reason: 'overlap', scheduledAt: iso(T0 + 20 * S), transition: { from: 'running', to: 'running', via: ['due'] } });
    expect(d.dispatchesOfLastStep()).toEqual([]);
    expect(d.state).toBe('running');
    expect(d.ctx.nextRunAt).toBe(T0 + 30 * S);
    expect(d.ctx.counters.skippedOverlap).toBe(1);
  });

  it('buffer_one: one slot waits, a second is skipped, the buffered one fires when the active ends', () => {
    const d = new Driver(record({ overlapPolicy: 'buffer_one' }));
    d.tick(T0 + 10 * S);
    const [first] = d.dispatchesOfLastStep();
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: first! });
    expect(types(d.tick(T0 + 20 * S))).toContain('trigger.buffered');
    expect(d.ctx.buffered).toEqual([T0 + 20 * S]);
    expect(types(d.tick(T0 + 30 * S))).toContain('trigger.skipped');
    const ev = d.send({ type: 'COMPLETED', executionId: first!, status: 'succeeded' }, T0 + 31 * S);
    const buffered = slotExecutionId('inc1', T0 + 20 * S);
    expect(d.dispatchesOfLastStep()).toEqual([buffered]);
    expect(ev.find((e) => e.type === 'trigger.dispatched')).toMatchObject({ executionId: buffered, data: { trigger: 'buffered' } });
    expect(d.ctx.buffered).toEqual([]);
    expect(d.state).toBe('dispatched');
  });

  it('allow: dispatches regardless of active executions', () => {
    const d = new Driver(record({ allowOverlap: true }));
    expect(d.ctx.spec.overlapPolicy).toBe('allow');
    d.tick(T0 + 10 * S);
    d.tick(T0 + 20 * S);
    expect(d.ctx.active.map((a) => a.scheduledAt)).toEqual([T0 + 10 * S, T0 + 20 * S]);
  });

  it('a dispatch failure releases the guard and is audited', () => {
    const d = new Driver(record({ dispatchRetry: { attempts: 1 } }));
    d.tick(T0 + 10 * S);
    const [id] = d.dispatchesOfLastStep();
    const ev = d.send({ type: 'DISPATCH_FAILED', executionId: id!, reason: 'no_responders' });
    expect(types(ev)).toEqual(['trigger.failed', 'transition']);
    expect(ev[0]!.data).toMatchObject({ reason: 'no_responders', attempts: 1 });
    expect(d.ctx.active).toEqual([]);
    expect(d.ctx.counters.dispatchFailed).toBe(1);
    d.tick(T0 + 20 * S);
    expect(d.dispatchesOfLastStep()).toHaveLength(1);
  });

  it('an execution without completion or heartbeat for maxRuntimeMs times out and releases the guard', () => {
    const d = new Driver(record({ maxRuntimeMs: 25_000 }));
    d.tick(T0 + 10 * S);
    const [id] = d.dispatchesOfLastStep();
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: id! }, T0 + 10 * S);
    expect(nextWakeAt(d.ctx)).toBe(T0 + 20 * S);
    d.send({ type: 'HEARTBEAT', executionId: id! }, T0 + 15 * S);
    expect(d.ctx.active[0]!.deadlineAt).toBe(T0 + 40 * S);
    d.tick(T0 + 20 * S);
    d.tick(T0 + 30 * S);
    expect(d.ctx.counters.skippedOverlap).toBe(2);
    const ev = d.tick(T0 + 40 * S);
    expect(types(ev)).toContain('execution.timed_out');
    expect(d.ctx.counters.timedOut).toBe(1);
    // the slot due at the same instant fires once the guard is released
    expect(d.dispatchesOfLastStep()).toEqual([slotExecutionId('inc1', T0 + 40 * S)]);
  });

  it('rejects unknown and duplicate completions without changing anything else', () => {
    const d = new Driver(record());
    d.tick(T0 + 10 * S);
    const [id] = d.dispatchesOfLastStep();
    d.send({ type: 'COMPLETED', executionId: id!, status: 'succeeded' });
    const counters = d.ctx.counters;
    const dup = d.send({ type: 'COMPLETED', executionId: id!, status: 'failed' });
    expect(dup).toHaveLength(1);
    expect(dup[0]).toMatchObject({ type: 'execution.completion_rejected', data: { reason: 'duplicate' } });
    const unk = d.send({ type: 'COMPLETED', executionId: 'nope', status: 'succeeded' });
    expect(unk[0]).toMatchObject({ type: 'execution.completion_rejected', data: { reason: 'unknown_execution' } });
    expect(d.ctx.counters).toEqual(counters);
    expect(d.ctx.lastResult).toMatchObject({ executionId: id, status: 'succeeded' });
  });
});

describe('job machine: misfires', () => {
  it('a year of downtime for a 1 s interval: exact count, one dispatch, next slot after now (fire_once_on_recovery)', () => {
    const d = new Driver(record({ schedule: { kind: 'interval', every: S }, misfireGraceMs: 500 }));
    const now = T0 + 365 * 86_400 * S + 250;
    const ev = d.tick(now);
    const mis = ev.find((e) => e.type === 'misfire.fired_once')!;
    // slots T0+1s … T0+365d: 31,536,000 of them, all in [nextRunAt, now]
    expect(mis.data).toEqual({ missedCount: 31_536_000, firstMissedAt: iso(T0 + S), lastMissedAt: iso(T0 + 365 * 86_400 * S) });
    expect(d.dispatchesOfLastStep()).toEqual([slotExecutionId('inc1', T0 + 365 * 86_400 * S)]);
    expect(ev.filter((e) => e.type === 'trigger.dispatched')).toHaveLength(1);
    expect(ev.find((e) => e.type === 'trigger.dispatched')!.data).toMatchObject({ trigger: 'misfire_recovery' });
    expect(d.ctx.nextRunAt).toBe(T0 + 365 * 86_400 * S + S);
    expect(d.ctx.counters.missed).toBe(31_536_000);
  });

  it('skip_missed dispatches nothing and moves to the first slot after now', () => {
    const d = new Driver(record({ misfirePolicy: 'skip_missed' }));
    const ev = d.tick(T0 + 3_600 * S + 1);
    expect(types(ev)).toEqual(['misfire.skipped', 'transition']);
    const { transition, ...data } = ev[0]!.data;
    expect(data).toEqual({ missedCount: 360, firstMissedAt: iso(T0 + 10 * S), lastMissedAt: iso(T0 + 3_600 * S) });
    expect(transition).toEqual({ from: 'idle', to: 'idle', event: 'TICK', via: ['due'] });
    expect(d.dispatchesOfLastStep()).toEqual([]);
    expect(d.ctx.nextRunAt).toBe(T0 + 3_610 * S);
    expect(d.state).toBe('idle');
  });

  it('a stall covering several slots inside the grace is one misfire, never a burst', () => {
    const d = new Driver(record({ schedule: { kind: 'interval', every: S }, misfireGraceMs: 60_000 }));
    const ev = d.tick(T0 + 4 * S + 10);
    expect(ev.filter((e) => e.type === 'trigger.dispatched')).toHaveLength(1);
    expect(ev.find((e) => e.type === 'misfire.fired_once')!.data).toMatchObject({ missedCount: 4 });
    expect(d.ctx.nextRunAt).toBe(T0 + 5 * S);
    // the next tick at the next slot is a normal fire again (after the first completes)
    d.send({ type: 'COMPLETED', executionId: d.ctx.active[0]!.executionId, status: 'succeeded' });
    const again = d.tick(T0 + 5 * S);
    expect(again.find((e) => e.type === 'trigger.dispatched')!.data).toMatchObject({ trigger: 'schedule' });
  });

  it('one slot late by more than the grace is a misfire of one', () => {
    const d = new Driver(record({ misfireGraceMs: 1_000 }));
    const ev = d.tick(T0 + 10 * S + 2_000);
    expect(ev.find((e) => e.type === 'misfire.fired_once')!.data).toMatchObject({ missedCount: 1 });
  });

  it('a once job fires once, then has no next slot', () => {
    const at = T0 + 60 * S;
    const d = new Driver(record({ schedule: { kind: 'once', at } }));
    expect(d.ctx.nextRunAt).toBe(at);
    d.tick(at);
    expect(d.dispatchesOfLastStep()).toHaveLength(1);
    expect(d.ctx.nextRunAt).toBeNull();
    expect(nextWakeAt(d.ctx)).toBe(at + d.ctx.spec.maxRuntimeMs);
  });
});

describe('job machine: commands', () => {
  it('pause stops firing, completions still count; resume counts from now without misfire', () => {
    const d = new Driver(record());
    d.tick(T0 + 10 * S);
    const [id] = d.dispatchesOfLastStep();
    const p = d.send({ type: 'PAUSE', reason: 'maintenance' });
    expect(types(p)).toEqual(['job.paused', 'transition']);
    expect(d.state).toBe('paused');
    expect(d.ctx.revision).toBe(2);
    expect(d.send({ type: 'PAUSE', reason: null })).toEqual([]);
    expect(d.ctx.revision).toBe(2);
    d.tick(T0 + 100 * S);
    expect(d.dispatchesOfLastStep()).toEqual([]);
    d.send({ type: 'COMPLETED', executionId: id!, status: 'succeeded' });
    expect(d.ctx.counters.succeeded).toBe(1);
    expect(d.state).toBe('paused');
    const r = d.send({ type: 'RESUME' }, T0 + 1_000 * S + 5);
    expect(types(r)).toEqual(['job.resumed', 'transition']);
    expect(d.ctx.nextRunAt).toBe(T0 + 1_010 * S);
    expect(d.ctx.revision).toBe(3);
    expect(types(d.tick(T0 + 1_010 * S))).not.toContain('misfire.fired_once');
  });

  it('run_now obeys the overlap policy unless ignoreOverlap, works while paused, keeps nextRunAt', () => {
    const d = new Driver(record());
    d.send({ type: 'PAUSE', reason: null });
    d.send({ type: 'RUN_NOW', inputs: { x: 2 }, ignoreOverlap: false }, T0 + 3 * S);
    expect(d.ctx.active).toHaveLength(1);
    expect(d.ctx.active[0]).toMatchObject({ trigger: 'run_now', inputs: { x: 2 }, scheduledAt: T0 + 3 * S });
    expect(d.ctx.nextRunAt).toBe(T0 + 10 * S);
    expect(d.send({ type: 'RUN_NOW', ignoreOverlap: false })).toEqual([]);
    expect(d.ctx.active).toHaveLength(1);
    d.send({ type: 'RUN_NOW', ignoreOverlap: true });
    expect(d.ctx.active).toHaveLength(2);
    expect(new Set(d.ctx.active.map((a) => a.executionId)).size).toBe(2);
  });

  it('update with a new schedule counts from now and bumps the revision', () => {
    const d = new Driver(record());
    const r0 = d.ctx;
    expect(r0.revision).toBe(1);
    const ev = d.send({ type: 'UPDATE', patch: { schedule: { kind: 'interval', every: 60 * S } }, limits: LIMITS }, T0 + 5 * S);
    expect(types(ev)).toEqual(['job.updated']);
    expect(ev[0]!.data).toEqual({ changed: ['schedule'], revision: 2 });
    expect(d.ctx.nextRunAt).toBe(T0 + 65 * S);
    expect(d.ctx.anchorAt).toBe(T0 + 5 * S);
  });

  it('delete ends the machine and audits it', () => {
    const d = new Driver(record());
    expect(types(d.send({ type: 'DELETE' }))).toEqual(['job.deleted']);
    expect(d.actor.getSnapshot().status).toBe('done');
  });
});

describe('job machine: graph', () => {
  it('reaches every resting state through its shortest paths', () => {
    const r = record();
    let step = 1;
    const events = (s: { context: typeof r }): JobEvent[] => {
      const c = s.context;
      const now = (c.nextRunAt ?? T0) + 1;
      const ex = c.active[0]?.executionId ?? 'none';
      const st = step++;
      return [
        { type: 'TICK', now, step: st },
        { type: 'DISPATCH_ACCEPTED', executionId: ex, now, step: st },
        { type: 'DISPATCH_FAILED', executionId: ex, reason: 'timeout', now, step: st },
        { type: 'COMPLETED', executionId: ex, status: 'succeeded', now, step: st },
        { type: 'PAUSE', reason: null, now, step: st },
        { type: 'RESUME', now, step: st },
        { type: 'DELETE', now, step: st },
      ];
    };
    const paths = getShortestPaths(jobMachine, {
      input: r,
      events,
      serializeState: (s) =>
        JSON.stringify([s.value, s.context.active.map((a) => a.state), s.context.spec.paused]),
      limit: 500,
    });
    const reached = new Set(paths.map((p) => String(p.state.value)));
    expect([...reached].sort()).toEqual(['deleted', 'dispatched', 'idle', 'paused', 'running']);
    const toRunning = paths.find((p) => p.state.value === 'running')!;
    expect(toRunning.steps.map((s) => s.event.type)).toEqual(['xstate.init', 'TICK', 'DISPATCH_ACCEPTED']);
  });
});

describe('job machine: ordering of replies and completions', () => {
  it('a completion that overtakes the accept reply records the start first', () => {
    const d = new Driver(record());
    d.tick(T0 + 10 * S);
    const [id] = d.dispatchesOfLastStep();
    const ev = d.send({ type: 'COMPLETED', executionId: id!, status: 'succeeded' });
    expect(types(ev).filter((t) => t !== 'transition')).toEqual(['execution.started', 'execution.completed']);
    expect(d.state).toBe('idle');
    // the late accept reply changes nothing
    expect(d.send({ type: 'DISPATCH_ACCEPTED', executionId: id! })).toEqual([]);
    expect(d.ctx.counters.succeeded).toBe(1);
  });
});
