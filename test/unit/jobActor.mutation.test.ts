/**
 * The job actor (src/actors/jobActor.ts) without a server: in-memory store, publisher, dispatcher
 * and logger (actor-fakes.ts), a manual clock and the real timer queue. What it does with what the
 * machine decided: the write (compare-and-set), reconciling after a failed or timed-out write,
 * faults and their backoff, fencing, publishing the outbox, dispatches and their retries, timers.
 */
import { describe, expect, it } from 'vitest';
import { assertEvent, assign } from 'xstate';
import * as L from '../../src/machines/jobLogic.js';
import { coalescible, JobActor, sameContent } from '../../src/actors/jobActor.js';
import { SchedulerError } from '../../src/contract/errors.js';
import { slotExecutionId } from '../../src/contract/ids.js';
import type { JobRecord } from '../../src/core/record.js';
import { jobMachine } from '../../src/machines/jobMachine.js';
import { StaleRevisionError } from '../../src/store/jobStore.js';
import { advance, bed, deferred, dispatchEffects, eventTypes, flush, happened, type Bed, type InspectionEvent } from './actor-fakes.js';
import { Driver, record, T0 } from './machine-helpers.js';

const S = 1_000;
const slot = (k: number): string => slotExecutionId('inc1', T0 + k * 10 * S);

/** Stores `r` and loads an actor from it. */
function load(b: Bed, r: JobRecord = record({ allowOverlap: true }), over: Parameters<Bed['deps']>[0] = {}): JobActor {
  return new JobActor(b.deps(over), { record: r, revision: b.store.put(r) });
}

/** A record whose first slot (T0 + 10 s) was dispatched (attempt 1, no answer yet), as the machine writes it. */
function dispatchedRecord(body: Parameters<typeof record>[0] = {}): JobRecord {
  const d = new Driver(record(body));
  d.tick(T0 + 10 * S);
  return structuredClone(d.ctx);
}

const reject = async (p: Promise<unknown>): Promise<SchedulerError> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof SchedulerError) return err;
    throw err;
  }
  throw new Error('did not reject');
};

describe('JobActor: an accepted dispatch is written with the next change (coalescing)', () => {
  const started = (b: Bed): string[] => b.publisher.types().filter((t) => t.startsWith('execution.'));
  /** An actor loaded with its first slot dispatched, recovered (the dispatch sent); the store's save count then. */
  const loaded = async (over: Parameters<Bed['deps']>[0] = {}): Promise<{ b: Bed; a: JobActor; saves: number }> => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord(), over);
    await a.recover({ replay: false });
    return { b, a, saves: b.store.writes('save') };
  };
  const accept = async (b: Bed): Promise<void> => {
    b.dispatcher.sent[0]!.answer.resolve({ accepted: true });
    await flush();
  };

  it('accept then completion within coalesceMs: one write holding both, execution.started then execution.completed published after it', async () => {
    const { b, a, saves } = await loaded();
    await accept(b);
    expect(b.store.writes('save')).toBe(saves); // not written yet
    expect(started(b)).toEqual([]); // and its event not published: an event goes out only once stored
    await advance(b, 10);
    await a.send({ type: 'COMPLETED', executionId: slot(1), status: 'succeeded' });
    expect(b.store.writes('save')).toBe(saves + 1);
    const stored = b.store.stored('acme', 'job1')!;
    expect(stored.active).toEqual([]);
    expect(eventTypes(stored)).toEqual(['execution.started', 'execution.completed']);
    expect(started(b)).toEqual(['execution.started', 'execution.completed']);
    // every state change once, in order: dispatched → running → idle
    const transitions = b.publisher.events.map((e) => (e.data as { transition?: { from: string; to: string } }).transition).filter((t) => t !== undefined);
    expect(transitions.map((t) => `${t.from}>${t.to}`)).toEqual(['dispatched>running', 'running>idle']);
    // event ids follow the stored sequence: nothing published that the record does not hold
    expect(b.publisher.events.map((e) => e.id)).toEqual(stored.outbox.flatMap((e) => (e.kind === 'event' ? [e.event.id] : [])));
    await advance(b, 100);
    expect(b.store.writes('save')).toBe(saves + 1); // the coalescing timer wrote nothing more
  });

  it('a stop (a crash, a lost lease) drops the unwritten accept: the store still says dispatched and nothing was published', async () => {
    const { b, a, saves } = await loaded();
    await accept(b);
    a.stop();
    await advance(b, 1_000);
    expect(b.store.writes('save')).toBe(saves);
    expect(b.store.stored('acme', 'job1')!.active[0]!.state).toBe('dispatched');
    expect(started(b)).toEqual([]);
    // the next owner loads "dispatched" and sends the dispatch again under the same id
    const next = load(b, b.store.stored('acme', 'job1')!);
    await next.recover({ replay: false });
    expect(b.dispatcher.sent.map((s) => s.req.executionId)).toEqual([slot(1), slot(1)]);
  });

  it('a handover (stopWhenIdle) writes the unwritten accept first, with its event', async () => {
    const { b, a } = await loaded();
    await accept(b);
    await a.stopWhenIdle();
    expect(b.store.stored('acme', 'job1')!.active[0]!.state).toBe('running');
    expect(started(b)).toEqual(['execution.started']);
  });

  it('with coalesceMs 0 the accept is written at once', async () => {
    const { b, a } = await loaded({ coalesceMs: 0 });
    await accept(b);
    expect(b.store.stored('acme', 'job1')!.active[0]!.state).toBe('running');
    expect(started(b)).toEqual(['execution.started']);
  });

  it('only an accepted dispatch waits: a completion, a tick that dispatches, a command are written at once', () => {
    const r = dispatchedRecord();
    const withDispatch = { ...r, outboxStep: 7, outbox: [{ kind: 'dispatch' as const, executionId: 'x' }] };
    expect(coalescible({ type: 'DISPATCH_ACCEPTED', executionId: 'x' }, { ...r, outboxStep: 7, outbox: [] }, 7)).toBe(true);
    expect(coalescible({ type: 'DISPATCH_ACCEPTED', executionId: 'x' }, withDispatch, 7)).toBe(false);
    expect(coalescible({ type: 'DISPATCH_ACCEPTED', executionId: 'x' }, withDispatch, 8)).toBe(true); // that dispatch was an earlier step's
    expect(coalescible({ type: 'COMPLETED', executionId: 'x', status: 'succeeded' }, r, 7)).toBe(false);
    expect(coalescible({ type: 'TICK' }, r, 7)).toBe(false);
    expect(coalescible({ type: 'PAUSE', reason: null }, r, 7)).toBe(false);
    expect(coalescible({ type: 'HEARTBEAT', executionId: 'x' }, r, 7)).toBe(false);
  });
});

describe('JobActor: loading', () => {
  it('is keyed by orchestrator and job, holds the stored record and revision, and goes on at the step after the stored one', async () => {
    const b = bed();
    const r = { ...record({ allowOverlap: true }), outboxStep: 4 };
    const a = load(b, r);
    expect(a.key).toBe('acme.job1');
    expect(a.ref.id).toBe('acme.job1');
    expect(a.storedRevision).toBe(1);
    expect(a.record).toEqual(r);
    await a.recover();
    await advance(b, 10 * S);
    const stored = b.store.stored('acme', 'job1')!;
    expect(stored.outboxStep).toBe(5);
    expect(eventTypes(stored)).toEqual(['trigger.dispatched']);
    expect(stored.state).toBe('dispatched');
    expect(a.storedRevision).toBe(2);
  });
});

describe('JobActor: its XState actor starts at the first event', () => {
  it('loading and a recovery with nothing due start no actor; the first event starts it from the stored record', async () => {
    const b = bed();
    const r = record({ allowOverlap: true });
    const a = load(b, r);
    await a.recover({ replay: false });
    expect(a.started).toBe(false);
    // the record as stored, its outbox's (published) events dropped from memory only
    expect(a.record).toEqual({ ...r, outbox: [] });
    expect(eventTypes(b.store.stored('acme', 'job1')!)).toEqual(eventTypes(r));
    expect(eventTypes(r)).not.toEqual([]);
    expect(b.timers.size).toBe(1);
    await advance(b, 10 * S);
    expect(a.started).toBe(true);
    expect(a.ref.getSnapshot().value).toBe('dispatched');
    expect(b.store.stored('acme', 'job1')!.state).toBe('dispatched');
  });

  it("a resting job keeps its outbox's events in memory while they are not published", async () => {
    const b = bed();
    const r = record({ allowOverlap: true });
    // the replay fails and the publisher retries its events (as EventPublisher does)
    b.publisher.failures.push(new Error('js down'));
    for (const e of r.outbox) if (e.kind === 'event') b.publisher.pendingIds.add(e.event.id);
    const a = load(b, r);
    await a.recover();
    expect(eventTypes(a.record)).toEqual(eventTypes(r));
  });

  it("one of the outbox's events still unpublished keeps them all in memory", async () => {
    const b = bed();
    const base = record({ allowOverlap: true });
    const first = base.outbox.find((e) => e.kind === 'event')!;
    // two events in the stored outbox, the second still retried by the publisher
    const second = { kind: 'event' as const, event: { ...(first as Extract<typeof first, { kind: 'event' }>).event, id: 'inc1-e9', type: 'job.updated' as const } };
    const r = { ...base, outbox: [...base.outbox, second] };
    b.publisher.pendingIds.add('inc1-e9');
    const a = load(b, r);
    await a.recover({ replay: false });
    expect(a.record.outbox).toHaveLength(r.outbox.length);
  });

  it('a job whose first slot is due at recovery starts its actor then; a command does too', async () => {
    const b = bed(T0 + 10 * S);
    const due = load(b, record({ jobId: 'due' }));
    await due.recover({ replay: false });
    expect(due.started).toBe(true);
    expect(due.record.state).toBe('dispatched');
    const cmd = load(b, record({ jobId: 'cmd', schedule: { kind: 'interval', every: 3_600_000 } }));
    await cmd.recover({ replay: false });
    expect(cmd.started).toBe(false);
    await cmd.command({ type: 'PAUSE', reason: null });
    expect(cmd.started).toBe(true);
    expect(cmd.ref.getSnapshot().value).toBe('paused');
  });

  it('a fault stops the actor and rests on the faulted record: the next event starts one from it', async () => {
    const b = bed();
    let boom = true;
    const faulty = jobMachine.provide({
      guards: {
        slotDue: ({ context, event }) => {
          if (boom) throw new Error('boom');
          return L.isSlotDue(context, event.now);
        },
      },
    });
    const a = load(b, record({ allowOverlap: true }), { machine: faulty });
    await a.recover({ replay: false });
    await advance(b, 10 * S);
    const first = a.started;
    expect(eventTypes(b.store.stored('acme', 'job1')!)).toEqual(['job.faulted']);
    expect(first).toBe(false);
    boom = false;
    await advance(b, 60 * S);
    expect(a.started).toBe(true);
    expect(b.store.stored('acme', 'job1')!.counters.dispatched).toBeGreaterThan(0);
  });

  it('an inspection tool gets a running actor (`ref` starts it), and a stopped job a stopped one', async () => {
    const b = bed();
    const a = load(b);
    expect(a.ref.getSnapshot()).toMatchObject({ status: 'active', value: 'idle' });
    const never = load(b, record({ jobId: 'never' }));
    never.stop();
    expect(never.ref.getSnapshot().status).toBe('stopped');
  });

  it('with an inspector attached every job starts its actor when loaded', async () => {
    const b = bed();
    const seen: InspectionEvent[] = [];
    const a = load(b, record(), { inspect: (e) => seen.push(e) });
    expect(a.started).toBe(true);
    expect(seen.some((e) => e.type === '@xstate.actor')).toBe(true);
  });
});

describe('JobActor: recover', () => {
  it("publishes the stored outbox's events (as a replay), re-sends the dispatches that got no answer, arms the timer", async () => {
    const b = bed(T0 + 10 * S);
    const r = dispatchedRecord();
    const a = load(b, r);
    await a.recover();
    expect(b.publisher.calls).toEqual([{ events: r.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : [])), opts: { replay: true } }]);
    expect(happened(b.publisher.calls[0]!.events)).toEqual(['trigger.dispatched']);
    expect(b.dispatcher.sent.map((s) => [s.req.executionId, s.req.attempt, s.timeoutMs])).toEqual([[slot(1), 1, r.spec.dispatchTimeoutMs]]);
    expect(b.store.writes()).toBe(0);
    // the next wake-up is the next slot (before the deadline)
    expect(b.timers.size).toBe(1);
    await advance(b, 10 * S - 1);
    expect(b.woken).toHaveLength(0);
    await advance(b, 1);
    expect(b.woken).toEqual([a]);
  });

  it('without replay (a clean handover) publishes nothing; a running execution is not dispatched again', async () => {
    const b = bed(T0 + 10 * S);
    const d = new Driver(record({ allowOverlap: true }));
    d.tick(T0 + 10 * S);
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) });
    const a = load(b, structuredClone(d.ctx));
    await a.recover({ replay: false });
    expect(b.publisher.events).toEqual([]);
    expect(b.dispatcher.sent).toEqual([]);
  });

  it('a strict recover (a new job) fails when its events cannot be published, and publishes them as new (not a replay)', async () => {
    const b = bed();
    const a = load(b, record());
    b.publisher.failures.push(new Error('js down'));
    const err = await reject(a.recover({ strict: true }));
    expect(err.code).toBe('unavailable');
    expect(err.message).toBe('job stored, but its events are not yet published (retrying)');
    expect((err.cause as Error).message).toBe('js down');
    expect(b.publisher.calls[0]!.opts).toEqual({ replay: false });
    expect(b.publisher.calls[0]!.events.map((e) => e.type)).toEqual(['job.created']);
  });

  it('a non-strict recover logs a failed replay and goes on (the timer is armed)', async () => {
    const b = bed();
    const a = load(b);
    b.publisher.failures.push(new Error('js down'));
    await a.recover();
    expect(b.log.find('outbox replay failed')).toMatchObject({ level: 'warn', obj: { job: 'acme.job1' } });
    expect(b.timers.size).toBe(1);
  });

  it('events replayed at recover are not carried into the next record (they are published)', async () => {
    const b = bed();
    const a = load(b);
    await a.recover();
    await advance(b, 10 * S);
    expect(eventTypes(b.store.stored('acme', 'job1')!)).not.toContain('job.created');
  });

  it('a slot due at the instant of recovery is fired by it (no wait for the timer)', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b);
    await a.recover();
    expect(b.dispatcher.sent.map((s) => s.req.scheduledAt)).toEqual([new Date(T0 + 10 * S).toISOString()]);
    expect(b.store.writes('save')).toBe(1);
    expect(a.record.state).toBe('dispatched');
  });

  it('nothing due at recovery: nothing is written', async () => {
    const b = bed(T0 + 10 * S - 1);
    const a = load(b);
    await a.recover();
    expect(b.store.writes()).toBe(0);
    expect(b.dispatcher.sent).toEqual([]);
  });

  it('a recovery tick whose write fails is logged, not thrown', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b);
    b.store.fail('save', new Error('kv timeout'));
    await a.recover();
    expect(b.log.find('recovery tick failed')).toMatchObject({ level: 'error', obj: { job: 'acme.job1' } });
    expect(b.dispatcher.sent).toEqual([]);
  });

  it('a recovery tick that finds the job deleted (a delete marker) stops the job and logs no failed tick', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b);
    b.store.entries.set('acme.job1', { deleted: true, revision: 9 });
    await a.recover();
    expect(b.log.find('job record was deleted by an earlier write; job stopped')).toMatchObject({ level: 'warn', obj: { job: 'acme.job1', revision: 9 } });
    expect(b.log.find('recovery tick failed')).toBeUndefined();
    expect(b.publisher.types()).not.toContain('trigger.dispatched');
    expect(b.dispatcher.sent).toEqual([]);
    expect(b.timers.size).toBe(0);
    await expect(a.send({ type: 'TICK' })).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('JobActor: applying an event', () => {
  it('stamps the event with the clock: the write carries the instant it was applied at', async () => {
    const b = bed(T0 + 3 * S);
    const a = load(b);
    await a.recover({ replay: false });
    const r = await a.send({ type: 'PAUSE', reason: 'maintenance' });
    expect(r.updatedAt).toBe(T0 + 3 * S);
    expect(r.pausedReason).toBe('maintenance');
    expect(b.store.stored('acme', 'job1')).toEqual(r);
    expect(b.store.calls.filter((c) => c.op === 'save')).toEqual([{ op: 'save', key: 'acme.job1', revision: 1 }]);
    expect(a.storedRevision).toBe(2);
    expect(b.publisher.types()).toEqual(['job.paused']);
  });

  it('a stopped actor answers not_found; a fenced-off one unavailable; neither writes', async () => {
    const b = bed();
    let owned = true;
    const a = load(b, record(), { fence: () => owned });
    owned = false;
    expect(await reject(a.send({ type: 'PAUSE', reason: null }))).toMatchObject({ code: 'unavailable', message: 'this replica no longer owns the orchestrator' });
    owned = true;
    a.stop();
    expect(await reject(a.send({ type: 'PAUSE', reason: null }))).toMatchObject({ code: 'not_found', message: 'job "job1" not found' });
    expect(b.store.writes()).toBe(0);
  });

  it('a no-op (a TICK with nothing due) writes and publishes nothing and keeps the same record', async () => {
    const b = bed(T0 + 5 * S);
    const a = load(b);
    const before = a.record;
    const applied = await a.command({ type: 'TICK' });
    expect(applied.outcome).toBeNull();
    expect(applied.record).toEqual(before);
    expect(b.store.writes()).toBe(0);
    expect(b.publisher.calls).toEqual([]);
  });

  it('the lease lost between the decision and the write: no write, rolled back to the stored record, unavailable', async () => {
    const b = bed();
    let checks = 0;
    const r = record();
    const a = load(b, r, { fence: () => ++checks < 2 });
    const err = await reject(a.send({ type: 'PAUSE', reason: null }));
    expect(err).toMatchObject({ code: 'unavailable', message: 'storage unavailable' });
    expect((err.cause as SchedulerError).message).toBe('lease lost');
    expect((err.cause as SchedulerError).code).toBe('unavailable');
    expect(b.store.writes()).toBe(0);
    expect(a.record.spec.paused).toBe(false);
    expect(b.dispatcher.sent).toEqual([]);
    expect(b.timers.size).toBe(0);
  });

  it('a change without an event of its own (a heartbeat of a running execution) is written; nothing is published', async () => {
    const b = bed(T0 + 10 * S);
    const d = new Driver(record());
    d.tick(T0 + 10 * S);
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) });
    const a = load(b, structuredClone(d.ctx));
    await a.recover({ replay: false });
    b.clock.advance(5 * S);
    const r = await a.send({ type: 'HEARTBEAT', executionId: slot(1) });
    expect(r.active[0]!.deadlineAt).toBe(T0 + 15 * S + r.spec.maxRuntimeMs);
    expect(b.store.stored('acme', 'job1')!.active[0]!.deadlineAt).toBe(r.active[0]!.deadlineAt);
    expect(b.publisher.calls).toHaveLength(1); // the (empty) replay of recover
    expect(b.publisher.events).toEqual([]);
    // the timer follows the new deadline (the next slot comes first here)
    expect(b.timers.size).toBe(1);
  });

  it('the events of a step are published in one call, in outbox order; its dispatches are sent', async () => {
    const b = bed();
    const a = load(b, record({ overlapPolicy: 'skip' }));
    await a.recover({ replay: false });
    const { outcome, record: r } = await a.command({ type: 'RUN_NOW', inputs: { x: 2 }, ignoreOverlap: false });
    expect(outcome).toEqual({ ok: true, executionId: r.active[0]!.executionId });
    expect(b.publisher.calls).toHaveLength(2);
    expect(b.publisher.calls[1]).toEqual({ events: r.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : [])), opts: undefined });
    expect(dispatchEffects(r)).toEqual([r.active[0]!.executionId]);
    expect(b.dispatcher.sent.map((s) => s.req.action)).toEqual([{ type: 'workflow_start', workflowId: 'wf', inputs: { x: 2 } }]);
  });

  it('events that could not be published: the change is stored and dispatched, the caller is told unavailable', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    b.publisher.failures.push(new Error('js down'));
    const err = await reject(a.command({ type: 'RUN_NOW', ignoreOverlap: false }));
    expect(err).toMatchObject({ code: 'unavailable', message: 'change stored, but its events are not yet published (retrying)' });
    expect((err.cause as Error).message).toBe('js down');
    expect(b.store.stored('acme', 'job1')!.active).toHaveLength(1);
    expect(b.dispatcher.sent).toHaveLength(1);
  });

  it('a storage log, when given, hears of every write that succeeded and every one that failed (and nothing is logged per failure)', async () => {
    const b = bed();
    const seen: unknown[] = [];
    const a = load(b, record(), { storageLog: { failed: (err) => void seen.push(err), succeeded: () => void seen.push('ok') } });
    await a.send({ type: 'PAUSE', reason: null });
    const boom = new Error('kv down');
    b.store.fail('save', boom);
    b.store.fail('lookup');
    await expect(a.send({ type: 'RESUME' })).rejects.toMatchObject({ code: 'unavailable', message: 'storage unavailable', cause: boom });
    expect(seen).toEqual(['ok', boom]);
    expect(b.log.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('without a storage log a failed write is logged as an error with the event', async () => {
    const b = bed();
    const a = load(b);
    b.store.fail('save', new Error('kv down'));
    b.store.fail('lookup');
    await expect(a.send({ type: 'PAUSE', reason: null })).rejects.toMatchObject({ code: 'unavailable' });
    expect(b.log.find('job record write failed; state rolled back')).toMatchObject({ level: 'error', obj: { job: 'acme.job1', event: 'PAUSE' } });
  });
});

describe('JobActor: reconciling after a failed write', () => {
  it('a write that timed out but landed is adopted: its revision, its effects, and the caller is answered ok', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    const storageLog: string[] = [];
    b.store.fail('save', new Error('timeout'), true);
    b.clock.advance(10 * S);
    await flush();
    const stored = b.store.entries.get('acme.job1') as { record: JobRecord; revision: number };
    expect(stored.record.lastScheduledAt).toBe(T0 + 10 * S);
    expect(a.storedRevision).toBe(stored.revision);
    expect(a.record).toEqual(stored.record);
    expect(b.dispatcher.sent.map((s) => s.req.executionId)).toEqual([slot(1)]);
    expect(b.publisher.types()).toEqual(['trigger.dispatched']);
    expect(b.log.lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(storageLog).toEqual([]);
    // and the next write goes on from the adopted revision
    await a.send({ type: 'PAUSE', reason: null });
    expect(b.store.calls.filter((c) => c.op === 'save').map((c) => c.revision)).toEqual([1, stored.revision]);
  });

  it('a landed write is adopted as well when a command made it (the caller gets the record)', async () => {
    const b = bed();
    const a = load(b);
    b.store.fail('save', new Error('timeout'), true);
    const r = await a.send({ type: 'PAUSE', reason: 'x' });
    expect(r.spec.paused).toBe(true);
    expect(b.store.stored('acme', 'job1')).toEqual(r);
    expect(a.storedRevision).toBe(2);
  });

  it('no answer from the store either: the last written record and revision are kept, retried not before a second later', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    b.store.fail('save');
    b.store.fail('lookup');
    b.clock.advance(10 * S);
    await flush();
    expect(a.record.lastScheduledAt).toBeNull();
    expect(a.storedRevision).toBe(1);
    expect(b.dispatcher.sent).toEqual([]);
    // no answer is not a lost key: nothing is created; a failed write from the timer is not warned (the storage log's)
    expect(b.store.writes('create')).toBe(0);
    expect(b.log.find('job record missing from the store; writing the last known state again')).toBeUndefined();
    expect(b.log.find('tick failed')).toBeUndefined();
    await advance(b, S - 1);
    expect(b.store.writes('save')).toBe(1);
    await advance(b, 1);
    expect(b.store.calls.filter((c) => c.op === 'save').map((c) => c.revision)).toEqual([1, 1]);
    expect(b.dispatcher.sent.map((s) => [s.req.scheduledAt, s.at])).toEqual([[new Date(T0 + 10 * S).toISOString(), T0 + 11 * S]]);
  });

  it("another writer's record: adopted with its revision, its events replayed, its unanswered dispatches sent, and new effects start a step after its own", async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b);
    await a.recover({ replay: false }); // fires the slot at T0 + 10 s and writes it
    expect(b.dispatcher.sent).toHaveLength(1);
    b.dispatcher.sent[0]!.answer.resolve(null); // (shut down before an answer: nothing recorded)
    await flush();
    // an earlier owner's late write lands: the job paused, an execution of a run_now dispatched
    const d = new Driver(record(), T0 + 10 * S);
    d.send({ type: 'RUN_NOW', ignoreOverlap: false });
    d.send({ type: 'PAUSE', reason: 'theirs' });
    const theirs = { ...structuredClone(d.ctx), outboxStep: 40 };
    const theirsRevision = b.store.put(theirs);
    const err = await reject(a.send({ type: 'RUN_NOW', ignoreOverlap: true }));
    expect(err.code).toBe('unavailable');
    expect(a.record).toEqual(theirs);
    expect(a.storedRevision).toBe(theirsRevision);
    // their events, as a replay
    expect(b.publisher.calls.at(-1)).toEqual({ events: theirs.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : [])), opts: { replay: true } });
    // their dispatched execution (the run_now) is sent
    expect(b.dispatcher.sent.map((s) => s.req.executionId)).toEqual([slot(1), theirs.active[0]!.executionId]);
    await a.send({ type: 'RESUME' });
    const stored = b.store.stored('acme', 'job1')!;
    expect(stored.outboxStep).toBe(41);
    // their events were replayed (published): not carried into the next record
    expect(eventTypes(stored)).toEqual(['job.resumed']);
  });

  it('the key gone from the store (lost per-subject state): the last written record is created again with a warning, its revision adopted', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    await a.send({ type: 'PAUSE', reason: null }); // revision 2
    const written = a.record;
    b.store.entries.clear();
    const err = await reject(a.send({ type: 'RESUME' }));
    expect(err).toMatchObject({ code: 'unavailable', message: 'storage unavailable' });
    expect(err.cause).toBeInstanceOf(StaleRevisionError);
    expect(b.log.find('job record missing from the store; writing the last known state again')).toMatchObject({ level: 'warn', obj: { job: 'acme.job1', revision: 2 } });
    expect(b.store.stored('acme', 'job1')).toEqual(written);
    const created = (b.store.entries.get('acme.job1') as { revision: number }).revision;
    expect(a.storedRevision).toBe(created);
    expect(a.record).toEqual(written);
    await a.send({ type: 'RESUME' });
    expect(b.store.stored('acme', 'job1')!.spec.paused).toBe(false);
  });

  it('the key gone and its re-creation failing too: the revision is kept', async () => {
    const b = bed();
    const a = load(b);
    b.store.entries.clear();
    b.store.fail('create');
    await expect(a.send({ type: 'PAUSE', reason: null })).rejects.toMatchObject({ code: 'unavailable' });
    expect(a.storedRevision).toBe(1);
    expect(b.store.entries.size).toBe(0);
  });

  it('the key gone while the lease is lost: nothing is created', async () => {
    const b = bed();
    let checks = 0;
    // owned for the two checks before the write, lost at the reconcile
    const a = load(b, record(), { fence: () => ++checks <= 2 });
    b.store.entries.clear();
    await expect(a.send({ type: 'PAUSE', reason: null })).rejects.toMatchObject({ code: 'unavailable' });
    expect(b.store.writes('create')).toBe(0);
    expect(b.log.find('job record missing from the store; writing the last known state again')).toBeUndefined();
  });

  it('a delete that fails is not reconciled (no lookup): unavailable, logged', async () => {
    const b = bed();
    const a = load(b);
    b.store.fail('remove', new Error('kv down'));
    await expect(a.send({ type: 'DELETE' })).rejects.toMatchObject({ code: 'unavailable', message: 'storage unavailable' });
    expect(b.store.calls.map((c) => c.op)).toEqual(['remove']);
    expect(b.log.find('job record write failed; state rolled back')).toMatchObject({ obj: { event: 'DELETE' } });
  });
});

describe('JobActor: delete', () => {
  it('removes the record at its revision, publishes job.deleted, stops the actor and its timer', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    expect(b.timers.size).toBe(1);
    const seen: string[] = [];
    const r = await new JobActor(b.deps({ storageLog: { failed: () => void seen.push('failed'), succeeded: () => void seen.push('ok') } }), {
      record: a.record,
      revision: a.storedRevision,
    }).send({ type: 'DELETE' });
    expect(seen).toEqual(['ok']);
    expect(b.store.calls.filter((c) => c.op === 'remove')).toEqual([{ op: 'remove', key: 'acme.job1', revision: 1 }]);
    expect(b.store.entries.get('acme.job1')).toMatchObject({ deleted: true });
    expect(eventTypes(r)).toContain('job.deleted');
    expect(b.publisher.types()).toContain('job.deleted');
  });

  it('a deleted job is stopped: no timer, and every later event is not_found', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    await a.send({ type: 'DELETE' });
    expect(b.timers.size).toBe(0);
    expect(a.ref.getSnapshot().status).not.toBe('active');
    await expect(a.send({ type: 'RESUME' })).rejects.toMatchObject({ code: 'not_found' });
    await advance(b, 60 * S);
    expect(b.store.writes('save')).toBe(0);
  });
});

describe('JobActor: the outbox keeps what is not yet published', () => {
  it("events still being retried by the publisher go into the next record's outbox, before its own", async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    const paused = await a.send({ type: 'PAUSE', reason: null });
    const pausedEvents = paused.outbox.flatMap((e) => (e.kind === 'event' ? [e.event.id] : []));
    for (const id of pausedEvents) b.publisher.pendingIds.add(id);
    const resumed = await a.send({ type: 'RESUME' });
    const ids = resumed.outbox.flatMap((e) => (e.kind === 'event' ? [e.event.id] : []));
    expect(ids.slice(0, pausedEvents.length)).toEqual(pausedEvents);
    expect(eventTypes(resumed)).toEqual(['job.paused', 'job.resumed']);
    expect(resumed.outboxStep).toBe(paused.outboxStep + 1);
    expect(b.store.stored('acme', 'job1')).toEqual(resumed);
    // only the step's own events are published again? no: all of the outbox (duplicates are dropped by id)
    expect(b.publisher.calls.at(-1)!.events).toEqual(resumed.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : [])));
    expect(happened(b.publisher.calls.at(-1)!.events)).toEqual(['job.paused', 'job.resumed']);
  });

  it('carried events and a step without events of its own: the outbox is the carried events, at the new step', async () => {
    const b = bed(T0 + 10 * S);
    const d = new Driver(record());
    d.tick(T0 + 10 * S);
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) });
    const r = structuredClone(d.ctx);
    const a = load(b, r);
    // not recovered: the loaded outbox is unconfirmed
    b.clock.advance(S);
    const hb = await a.send({ type: 'HEARTBEAT', executionId: slot(1) });
    expect(hb.outbox).toEqual(r.outbox);
    expect(hb.outboxStep).toBe(r.outboxStep + 1);
    // carried events are published with the step (the stream drops duplicates)
    expect(b.publisher.events.map((e) => e.id)).toEqual(r.outbox.flatMap((e) => (e.kind === 'event' ? [e.event.id] : [])));
    // published now: not carried again
    b.clock.advance(S);
    const hb2 = await a.send({ type: 'HEARTBEAT', executionId: slot(1) });
    expect(hb2.active[0]!.deadlineAt).toBe(T0 + 12 * S + r.spec.maxRuntimeMs);
    // the machine's own record: its outbox belongs to an earlier step, so nothing is published
    expect(hb2.outbox).toEqual(r.outbox);
    expect(hb2.outboxStep).toBe(r.outboxStep);
    expect(b.publisher.calls).toHaveLength(1);
  });

  it('an event carried and emitted again in the same step is in the outbox once', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    const paused = await a.send({ type: 'PAUSE', reason: null });
    for (const e of paused.outbox) if (e.kind === 'event') b.publisher.pendingIds.add(e.event.id);
    // a no-op pause changes nothing; a resume at the same step is a new step: carried + own, no duplicate ids
    const resumed = await a.send({ type: 'RESUME' });
    const ids = resumed.outbox.flatMap((e) => (e.kind === 'event' ? [e.event.id] : []));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('JobActor: faults', () => {
  const throwingOn = (type: string, flag: { on: boolean }) =>
    jobMachine.provide({
      guards: {
        slotDue: ({ context, event }) => {
          if (flag.on && event.type === type) throw new Error('boom');
          return !context.spec.paused && context.nextRunAt !== null && event.now >= context.nextRunAt;
        },
      },
    });

  it('a machine that throws: job.faulted written and published, the error logged with the fault count, the caller told internal', async () => {
    const b = bed(T0 + 10 * S);
    const flag = { on: true };
    const a = load(b, record({ allowOverlap: true }), { machine: throwingOn('TICK', flag) });
    const err = await reject(a.send({ type: 'TICK' }));
    expect(err).toMatchObject({ code: 'internal', message: 'job "job1" faulted and was restarted' });
    const stored = b.store.stored('acme', 'job1')!;
    expect(eventTypes(stored)).toEqual(['job.faulted']);
    expect(b.publisher.types()).toEqual(['job.faulted']);
    expect(b.publisher.calls[0]!.opts).toBeUndefined();
    expect(b.log.find('job actor faulted; restarting from stored state')).toMatchObject({ level: 'error', obj: { job: 'acme.job1', event: 'TICK', faults: 1 } });
    expect(a.storedRevision).toBe(2);
    expect(a.record).toEqual(stored);
  });

  it('the backoff doubles per fault (1 s, 2 s, 4 s): the timer is never armed earlier', async () => {
    const b = bed(T0 + 10 * S);
    const flag = { on: true };
    const a = load(b, record({ allowOverlap: true }), { machine: throwingOn('TICK', flag) });
    await reject(a.send({ type: 'TICK' }));
    const faults = () => b.publisher.events.filter((e) => e.type === 'job.faulted').map((e) => [e.data.faults, e.at]);
    await advance(b, S - 1);
    expect(faults()).toHaveLength(1);
    await advance(b, 1);
    await advance(b, 2 * S - 1);
    expect(faults()).toHaveLength(2);
    await advance(b, 1);
    await advance(b, 4 * S - 1);
    expect(faults()).toHaveLength(3);
    await advance(b, 1);
    const at = (ms: number) => new Date(T0 + ms).toISOString();
    expect(faults()).toEqual([
      [1, at(10 * S)],
      [2, at(11 * S)],
      [3, at(13 * S)],
      [4, at(17 * S)],
    ]);
  });

  it('job.faulted that cannot be written is logged; an unpublished one is not an error', async () => {
    const b = bed(T0 + 10 * S);
    const flag = { on: true };
    const a = load(b, record({ allowOverlap: true }), { machine: throwingOn('TICK', flag) });
    b.store.fail('save', new Error('kv down'));
    await reject(a.send({ type: 'TICK' }));
    expect(b.log.find('could not record job.faulted')).toMatchObject({ level: 'error', obj: { job: 'acme.job1' } });
    expect(a.storedRevision).toBe(1);
    expect(b.publisher.calls).toEqual([]);
    // the next fault: written, its publish fails silently
    b.publisher.failures.push(new Error('js down'));
    await advance(b, S);
    expect(b.store.stored('acme', 'job1')!.eventSeq).toBeGreaterThan(1);
    expect(b.log.find('could not record job.faulted')).toBeDefined();
    expect(b.log.lines.filter((l) => l.msg === 'could not record job.faulted')).toHaveLength(1);
  });

  it('after a fault the machine starts over from the written record and takes events again', async () => {
    const b = bed(T0 + 5 * S);
    const flag = { on: true };
    const a = load(b, record({ allowOverlap: true }), { machine: throwingOn('TICK', flag) });
    await reject(a.send({ type: 'TICK' }));
    flag.on = false;
    const r = await a.send({ type: 'PAUSE', reason: 'after' });
    expect(r.spec.paused).toBe(true);
    expect(eventTypes(r)).toEqual(['job.paused']);
    expect(a.ref.getSnapshot().value).toBe('paused');
  });
});

describe('JobActor: dispatches', () => {
  it('accepted: DISPATCH_ACCEPTED recorded (running); the attempt is sent with the spec dispatch timeout', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord({ dispatchTimeoutMs: 4_321 }));
    await a.recover({ replay: false });
    expect(b.dispatcher.sent.map((s) => s.timeoutMs)).toEqual([4_321]);
    b.dispatcher.sent[0]!.answer.resolve({ accepted: true });
    await flush();
    expect(a.record.state).toBe('running');
    // the write waits `coalesceMs` (50) for the job's next change, then goes out on its own
    expect(b.store.stored('acme', 'job1')!.active[0]!.state).toBe('dispatched');
    await advance(b, 49);
    expect(b.store.stored('acme', 'job1')!.active[0]!.state).toBe('dispatched');
    await advance(b, 1);
    expect(b.store.stored('acme', 'job1')!.active[0]!.state).toBe('running');
  });

  it('rejected with a detail: trigger.failed carries it', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord());
    await a.recover({ replay: false });
    b.dispatcher.sent[0]!.answer.resolve({ accepted: false, reason: 'rejected', detail: 'no capacity' });
    await flush();
    expect(b.publisher.events.find((e) => e.type === 'trigger.failed')!.data).toMatchObject({ reason: 'rejected', detail: 'no capacity' });
    expect(a.record.active).toEqual([]);
  });

  it('rejected without a detail: trigger.failed has none', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord());
    await a.recover({ replay: false });
    b.dispatcher.sent[0]!.answer.resolve({ accepted: false, reason: 'rejected' });
    await flush();
    expect(Object.keys(b.publisher.events.find((e) => e.type === 'trigger.failed')!.data)).not.toContain('detail');
  });

  it('no answer (the dispatcher closed): nothing recorded; an execution in flight is not sent twice; once settled it can be sent again', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord());
    await a.recover({ replay: false });
    await a.recover({ replay: false });
    expect(b.dispatcher.sent).toHaveLength(1);
    b.dispatcher.sent[0]!.answer.resolve(null);
    await flush();
    expect(b.store.writes()).toBe(0);
    expect(b.log.lines).toEqual([]);
    await a.recover({ replay: false });
    expect(b.dispatcher.sent).toHaveLength(2);
  });

  it('a dispatcher that throws: logged, nothing recorded, and the execution can be sent again', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord());
    await a.recover({ replay: false });
    b.dispatcher.sent[0]!.answer.reject(new Error('bad'));
    await flush();
    expect(b.log.find('dispatch result not recorded')).toMatchObject({ level: 'warn', obj: { job: 'acme.job1', executionId: slot(1) } });
    expect(b.store.writes()).toBe(0);
    await a.recover({ replay: false });
    expect(b.dispatcher.sent).toHaveLength(2);
  });

  it('an answer that comes after the actor stopped is not recorded (and nothing is logged)', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord());
    await a.recover({ replay: false });
    await a.recover({ replay: false });
    a.stop();
    b.dispatcher.sent[0]!.answer.resolve({ accepted: true });
    await flush();
    expect(b.store.writes()).toBe(0);
    expect(b.log.lines).toEqual([]);
  });

  it('an error after the actor stopped is not logged', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord());
    await a.recover({ replay: false });
    a.stop();
    b.dispatcher.sent[0]!.answer.reject(new Error('late'));
    await flush();
    expect(b.log.lines).toEqual([]);
  });

  it('a fenced-off actor sends no dispatch (recover of a dispatched record)', async () => {
    const b = bed(T0 + 10 * S);
    let owned = true;
    const a = load(b, dispatchedRecord(), { fence: () => owned });
    owned = false;
    await a.recover({ replay: false }).catch(() => undefined);
    expect(b.dispatcher.sent).toEqual([]);
    expect(b.timers.size).toBe(0);
  });

  it('a stopped actor sends no dispatch', async () => {
    const b = bed(T0 + 10 * S);
    const a = load(b, dispatchedRecord());
    a.stop();
    await a.recover({ replay: false }).catch(() => undefined);
    expect(b.dispatcher.sent).toEqual([]);
  });

  it('the answer of a dispatch for an execution that is no longer active records nothing harmful; a dispatch effect of an unknown execution sends nothing', async () => {
    const b = bed(T0 + 10 * S);
    const r = dispatchedRecord();
    // a stored record whose outbox asks for a dispatch of an execution that is not active
    const a = load(b, { ...r, active: [] });
    await a.recover({ replay: false });
    expect(b.dispatcher.sent).toEqual([]);
  });
});

describe('JobActor: dispatch retries', () => {
  const failing = (reason: 'timeout' | 'no_responders') => () => ({ accepted: false as const, reason });

  it('a failed attempt is retried at the due time the machine gave (backoffMs later), also when the failure changes nothing in the record', async () => {
    const b = bed(T0 + 10 * S);
    b.dispatcher.auto = failing('timeout');
    const a = load(b, record({ dispatchRetry: { attempts: 3, backoffMs: 2_500 } }));
    await a.recover({ replay: false });
    await flush();
    expect(b.dispatcher.attempts()).toEqual([[slot(1), 1]]);
    await advance(b, 2_499);
    expect(b.dispatcher.attempts()).toHaveLength(1);
    await advance(b, 1);
    expect(b.dispatcher.sent.map((s) => [s.req.attempt, s.at])).toEqual([
      [1, T0 + 10 * S],
      [2, T0 + 12_500],
    ]);
    await advance(b, 2_500);
    expect(b.dispatcher.sent.map((s) => [s.req.attempt, s.at])).toEqual([
      [1, T0 + 10 * S],
      [2, T0 + 12_500],
      [3, T0 + 15 * S],
    ]);
    expect(a.record.active).toEqual([]);
    expect(b.publisher.types().filter((t) => t === 'trigger.failed')).toHaveLength(1);
  });

  it('a retry due before the next slot wakes the actor at the retry; the next slot still fires on time after it', async () => {
    const b = bed(T0 + 10 * S);
    b.dispatcher.auto = (req) => (req.attempt === 1 ? { accepted: false, reason: 'no_responders' } : { accepted: true });
    const a = load(b, record({ allowOverlap: true, dispatchRetry: { attempts: 2, backoffMs: 3_000 } }));
    await a.recover({ replay: false });
    await flush();
    await advance(b, 3_000);
    expect(b.woken).toEqual([a]);
    expect(a.record.state).toBe('running');
    await advance(b, 7_000);
    expect(b.dispatcher.sent.map((s) => [s.req.scheduledAt, s.req.attempt, s.at])).toEqual([
      [new Date(T0 + 10 * S).toISOString(), 1, T0 + 10 * S],
      [new Date(T0 + 10 * S).toISOString(), 2, T0 + 13 * S],
      [new Date(T0 + 20 * S).toISOString(), 1, T0 + 20 * S],
    ]);
  });

  it('two executions retried at different instants: each attempt goes at its own due time', async () => {
    const b = bed(T0);
    b.dispatcher.auto = failing('timeout');
    const a = load(b, record({ allowOverlap: true, dispatchRetry: { attempts: 2, backoffMs: 5_000 } }));
    await a.recover({ replay: false });
    const first = await a.command({ type: 'RUN_NOW', ignoreOverlap: true });
    await flush();
    b.clock.advance(2 * S);
    const second = await a.command({ type: 'RUN_NOW', ignoreOverlap: true });
    await flush();
    await advance(b, 3 * S);
    await advance(b, 2 * S);
    const sent = b.dispatcher.sent.map((s) => [s.req.executionId, s.req.attempt, s.at]);
    const [x, y] = [first.record.active[0]!.executionId, second.record.active[1]!.executionId];
    expect(first.outcome).toEqual({ ok: true, executionId: x });
    expect(second.outcome).toEqual({ ok: true, executionId: y });
    expect(sent).toEqual([
      [x, 1, T0],
      [y, 1, T0 + 2 * S],
      [x, 2, T0 + 5 * S],
      [y, 2, T0 + 7 * S],
    ]);
  });

  it('an attempt whose write fails is tried again a second later (no warning for unavailable storage)', async () => {
    const b = bed(T0 + 10 * S);
    b.dispatcher.auto = failing('no_responders');
    const a = load(b, record({ dispatchRetry: { attempts: 2, backoffMs: 1_000 } }));
    await a.recover({ replay: false });
    await flush();
    b.store.fail('save');
    b.store.fail('lookup');
    await advance(b, S); // attempt 2 due: its write fails
    expect(b.dispatcher.attempts()).toEqual([[slot(1), 1]]);
    await advance(b, S - 1);
    expect(b.dispatcher.attempts()).toHaveLength(1);
    await advance(b, 1);
    expect(b.dispatcher.sent.map((s) => [s.req.attempt, s.at])).toEqual([
      [1, T0 + 10 * S],
      [2, T0 + 12 * S],
    ]);
    expect(b.log.find('dispatch attempt failed')).toBeUndefined();
    expect(b.log.find('tick failed')).toBeUndefined();
  });

  it('an attempt whose machine throws: warned, and tried again a second later', async () => {
    const b = bed(T0 + 10 * S);
    b.dispatcher.auto = failing('no_responders');
    const flag = { on: false };
    const machine = jobMachine.provide({
      actions: {
        attempt: assign(({ context, event }) => {
          assertEvent(event, 'DISPATCH_ATTEMPT');
          if (flag.on) throw new Error('attempt boom');
          return L.dispatchAttempt(context, event.step, event.now, event.executionId, event.attempt);
        }),
      },
    });
    const a = load(b, record({ dispatchRetry: { attempts: 2, backoffMs: 1_000 } }), { machine });
    await a.recover({ replay: false });
    await flush();
    flag.on = true;
    await advance(b, S);
    expect(b.log.find('dispatch attempt failed')).toMatchObject({ level: 'warn', obj: { job: 'acme.job1', executionId: slot(1) } });
    expect(b.dispatcher.attempts()).toHaveLength(1);
    expect(b.publisher.types()).toContain('job.faulted');
    flag.on = false;
    // a second later it is tried again (the fault's backoff is a second as well)
    await advance(b, S);
    expect(b.dispatcher.attempts()).toEqual([
      [slot(1), 1],
      [slot(1), 2],
    ]);
  });

  it('a TICK that fails for another reason than storage is warned', async () => {
    const b = bed(T0 + 5 * S);
    const flag = { on: false };
    const a = load(b, record({ allowOverlap: true }), { machine: jobMachine.provide({ guards: { slotDue: () => { if (flag.on) throw new Error('tick boom'); return false; } } }) });
    await a.recover({ replay: false });
    flag.on = true;
    a.wake();
    await flush();
    expect(b.log.find('tick failed')).toMatchObject({ level: 'warn', obj: { job: 'acme.job1' } });
  });

  it('an actor stopped right after its wake-up logs nothing about the attempt and the TICK it had queued', async () => {
    const b = bed(T0 + 10 * S);
    b.dispatcher.auto = failing('timeout');
    const a = load(b, record({ dispatchRetry: { attempts: 2, backoffMs: 1_000 } }));
    await a.recover({ replay: false });
    await flush();
    b.clock.advance(S); // the retry is due: wake() queues DISPATCH_ATTEMPT and TICK
    a.stop();
    await flush();
    expect(b.dispatcher.attempts()).toEqual([[slot(1), 1]]);
    expect(b.log.lines).toEqual([]);
  });

  it('a stopped or fenced-off actor ignores its wake-up', async () => {
    const b = bed(T0 + 10 * S);
    let owned = true;
    const a = load(b, record(), { fence: () => owned });
    owned = false;
    a.wake();
    await flush();
    expect(b.store.calls).toEqual([]);
    owned = true;
    a.stop();
    a.wake();
    await flush();
    expect(b.store.calls).toEqual([]);
    expect(b.log.lines).toEqual([]);
  });

  it('a retry of a later attempt than the record has is left to the timer when the record is reloaded (reconcile), not sent at once', async () => {
    const b = bed(T0 + 10 * S);
    b.dispatcher.auto = failing('timeout');
    const a = load(b, record({ dispatchRetry: { attempts: 3, backoffMs: 4_000 } }));
    await a.recover({ replay: false });
    await flush();
    expect(b.dispatcher.attempts()).toHaveLength(1);
    // a write fails and the store holds another record (same execution still dispatched at attempt 1)
    const other = { ...structuredClone(b.store.stored('acme', 'job1')!), counters: { ...a.record.counters, missed: 3 } };
    b.store.put(other);
    await expect(a.send({ type: 'PAUSE', reason: null })).rejects.toMatchObject({ code: 'unavailable' });
    await flush();
    expect(b.dispatcher.attempts()).toHaveLength(1);
    await advance(b, 4_000);
    expect(b.dispatcher.sent.map((s) => [s.req.attempt, s.at])).toEqual([
      [1, T0 + 10 * S],
      [2, T0 + 14 * S],
    ]);
  });

  it('a retry not later than the record\'s attempt is dropped and the execution sent again at once on reconcile', async () => {
    const b = bed(T0 + 10 * S);
    b.dispatcher.auto = failing('timeout');
    const a = load(b, record({ dispatchRetry: { attempts: 3, backoffMs: 4_000 } }));
    await a.recover({ replay: false });
    await flush();
    // another owner already sent attempt 2 (its record says so)
    const d = new Driver(structuredClone(b.store.stored('acme', 'job1')!), T0 + 10 * S);
    d.send({ type: 'DISPATCH_ATTEMPT', executionId: slot(1), attempt: 2 });
    b.store.put({ ...structuredClone(d.ctx), outboxStep: 50 });
    b.dispatcher.auto = null;
    await expect(a.send({ type: 'PAUSE', reason: null })).rejects.toMatchObject({ code: 'unavailable' });
    expect(b.dispatcher.sent.map((s) => [s.req.attempt, s.at])).toEqual([
      [1, T0 + 10 * S],
      [2, T0 + 10 * S],
    ]);
    // the dropped retry does not fire later
    await advance(b, 10 * S);
    expect(b.dispatcher.sent.filter((s) => s.req.attempt === 2)).toHaveLength(1);
  });
});

describe('JobActor: the serial queue and stopping', () => {
  it('events are applied one after the other: the second waits for the first one\'s write', async () => {
    const b = bed();
    const a = load(b);
    const gate = deferred();
    b.store.gates.set('save', gate.promise);
    const order: string[] = [];
    const p1 = a.send({ type: 'PAUSE', reason: null }).then(() => void order.push('pause'));
    const p2 = a.send({ type: 'RESUME' }).then(() => void order.push('resume'));
    await flush();
    expect(b.store.writes('save')).toBe(1);
    expect(order).toEqual([]);
    gate.resolve();
    await Promise.all([p1, p2]);
    expect(order).toEqual(['pause', 'resume']);
    expect(b.store.calls.filter((c) => c.op === 'save').map((c) => c.revision)).toEqual([1, 2]);
  });

  it('a failed operation does not block the next one', async () => {
    const b = bed();
    const a = load(b);
    const failed = a.run(() => Promise.reject(new Error('first')));
    const next = a.run(async () => 'second');
    await expect(failed).rejects.toThrow('first');
    await expect(next).resolves.toBe('second');
  });

  it('stopWhenIdle lets every queued operation finish (also one queued while it waits), then stops', async () => {
    const b = bed();
    const a = load(b);
    const gate = deferred();
    b.store.gates.set('save', gate.promise);
    const p1 = a.send({ type: 'PAUSE', reason: null });
    const stopped = a.stopWhenIdle();
    const p2 = a.send({ type: 'RESUME' });
    let done = false;
    void stopped.then(() => (done = true));
    await flush();
    expect(done).toBe(false);
    gate.resolve();
    await stopped;
    await expect(p1).resolves.toMatchObject({ spec: { paused: true } });
    await expect(p2).resolves.toMatchObject({ spec: { paused: false } });
    await expect(a.send({ type: 'PAUSE', reason: null })).rejects.toMatchObject({ code: 'not_found' });
    expect(b.timers.size).toBe(0);
  });

  it('stopWhenIdle of an idle actor stops it at once', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    await a.stopWhenIdle();
    expect(b.timers.size).toBe(0);
    expect(a.ref.getSnapshot().status).toBe('stopped');
  });
});

describe('JobActor: inspection', () => {
  it('a root job actor reports to its inspector; an inspector that throws does not hurt the job', async () => {
    const b = bed();
    const seen: string[] = [];
    const inspect = (e: InspectionEvent) => {
      seen.push(e.type);
      throw new Error('inspector bug');
    };
    const a = load(b, record(), { inspect });
    const r = await a.send({ type: 'PAUSE', reason: null });
    expect(r.spec.paused).toBe(true);
    expect(seen).toContain('@xstate.event');
    expect(seen).toContain('@xstate.snapshot');
  });
});

describe('JobActor: cancel requests (cancel_other) and SCHED_MAX_BUFFERED', () => {
  const canceller = () => {
    const sent: [string, unknown][] = [];
    return { sent, cancel: (o: string, req: unknown) => void sent.push([o, req]) };
  };

  it('a slot due while another execution runs under cancel_other: the cancel request goes out with the write', async () => {
    const b = bed(T0 + 20 * S);
    const c = canceller();
    const a = load(b, dispatchedRecord({ overlapPolicy: 'cancel_other' }), { canceller: c });
    const r = await a.send({ type: 'TICK' });
    expect(r.outbox.filter((e) => e.kind === 'cancel')).toEqual([{ kind: 'cancel', executionId: slot(1) }]);
    expect(c.sent).toEqual([['acme', { executionId: slot(1), jobId: 'job1', reason: 'overlap' }]]);
    expect(b.publisher.types()).toContain('execution.cancel_requested');
  });

  it('without a canceller the request is only audited', async () => {
    const b = bed(T0 + 20 * S);
    const a = load(b, dispatchedRecord({ overlapPolicy: 'cancel_other' }));
    const r = await a.send({ type: 'TICK' });
    expect(eventTypes(b.store.stored('acme', 'job1')!)).toContain('execution.cancel_requested');
    expect(r.outbox.some((e) => e.kind === 'cancel')).toBe(true);
  });

  it('no cancel request once the lease is lost', async () => {
    const b = bed(T0 + 20 * S);
    const c = canceller();
    let checks = 0;
    // owned for the checks before the write, not at the effects
    const a = load(b, dispatchedRecord({ overlapPolicy: 'cancel_other' }), { canceller: c, fence: () => ++checks <= 2 });
    await a.send({ type: 'TICK' });
    expect(b.store.writes('save')).toBe(1);
    expect(c.sent).toEqual([]);
  });

  it("a stored record's cancel request is sent again when it is adopted after a failed write (not at a plain recover)", async () => {
    const b = bed(T0 + 15 * S);
    const d = new Driver(record({ overlapPolicy: 'cancel_other' }));
    d.tick(T0 + 10 * S);
    d.tick(T0 + 20 * S);
    const theirs = structuredClone(d.ctx);
    expect(dispatchEffects(theirs)).toEqual([]);
    expect(theirs.outbox.some((e) => e.kind === 'cancel')).toBe(true);
    const c = canceller();
    const a = load(b, dispatchedRecord({ overlapPolicy: 'cancel_other' }), { canceller: c });
    await a.recover({ replay: false });
    expect(c.sent).toEqual([]);
    b.store.put({ ...theirs, outboxStep: 30 });
    await expect(a.send({ type: 'PAUSE', reason: null })).rejects.toMatchObject({ code: 'unavailable' });
    expect(c.sent).toEqual([['acme', { executionId: slot(1), jobId: 'job1', reason: 'overlap' }]]);
  });

  it('the server bound on waiting slots (buffer_all) goes with every TICK, from the timer and at recovery', async () => {
    const b = bed(T0 + 10 * S);
    b.dispatcher.auto = () => ({ accepted: true });
    const a = load(b, record({ overlapPolicy: 'buffer_all' }), { maxBuffered: 1 });
    await a.recover({ replay: false }); // slot 1 dispatched
    await advance(b, 10 * S); // slot 2 waits
    await advance(b, 10 * S); // slot 3: full
    const skipped = b.publisher.events.filter((e) => e.type === 'trigger.skipped').map((e) => e.data.reason);
    expect(skipped).toEqual(['buffer_full']);
    expect(a.record.buffered).toEqual([T0 + 20 * S]);
    // at recovery: the same bound
    const b2 = bed(T0 + 40 * S);
    const a2 = load(b2, structuredClone(b.store.stored('acme', 'job1')!), { maxBuffered: 1 });
    await a2.recover({ replay: false });
    expect(b2.publisher.events.filter((e) => e.type === 'trigger.skipped').map((e) => e.data.reason)).toEqual(['buffer_full']);
    // without the bound (the default, 1000) the slot waits
    const b3 = bed(T0 + 40 * S);
    const a3 = load(b3, structuredClone(b.store.stored('acme', 'job1')!));
    await a3.recover({ replay: false });
    expect(a3.record.buffered).toEqual([T0 + 20 * S, T0 + 40 * S]);
  });
});

describe('JobActor: steps and the record it goes on from', () => {
  it('a no-op uses a step too: the next change starts a fresh outbox (never the loaded one)', async () => {
    const b = bed(T0 + 5 * S);
    const a = load(b);
    await a.recover({ replay: false });
    await a.send({ type: 'TICK' }); // nothing due
    const r = await a.send({ type: 'PAUSE', reason: null });
    expect(eventTypes(r)).toEqual(['job.paused']);
    expect(r.outboxStep).toBe(2);
  });

  it('after a landed write, a fault restarts from that write (the record it really stored)', async () => {
    const b = bed();
    const flag = { on: false };
    const machine = jobMachine.provide({
      guards: {
        slotDue: ({ context, event }) => {
          if (flag.on) throw new Error('boom');
          return !context.spec.paused && context.nextRunAt !== null && event.now >= context.nextRunAt;
        },
      },
    });
    const a = load(b, record({ allowOverlap: true }), { machine });
    await a.recover({ replay: false });
    b.store.fail('save', new Error('timeout'), true);
    await advance(b, 10 * S); // slot 1 fired; the write timed out but landed
    expect(a.record.lastScheduledAt).toBe(T0 + 10 * S);
    flag.on = true;
    await expect(a.send({ type: 'TICK' })).rejects.toMatchObject({ code: 'internal' });
    expect(a.record.lastScheduledAt).toBe(T0 + 10 * S);
    expect(a.record.active.map((x) => x.executionId)).toEqual([slot(1)]);
    expect(b.store.stored('acme', 'job1')!.lastScheduledAt).toBe(T0 + 10 * S);
  });

  it('events replayed for an adopted record are not carried once the replay is over, even when it failed (the publisher retries them)', async () => {
    const b = bed();
    const a = load(b);
    await a.recover({ replay: false });
    const d = new Driver(record(), T0);
    d.send({ type: 'PAUSE', reason: 'theirs' });
    b.store.put({ ...structuredClone(d.ctx), outboxStep: 10 });
    b.publisher.failures.push(new Error('js down')); // the replay of their outbox fails
    await expect(a.send({ type: 'RUN_NOW', ignoreOverlap: false })).rejects.toMatchObject({ code: 'unavailable' });
    await flush();
    const r = await a.send({ type: 'RESUME' });
    expect(eventTypes(r)).toEqual(['job.resumed']);
  });

  it('of the last record\'s events only those still pending are carried into a step without events of its own', async () => {
    const b = bed(T0 + 10 * S);
    const d = new Driver(record());
    d.tick(T0 + 10 * S);
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) });
    const a = load(b, structuredClone(d.ctx));
    await a.recover({ replay: false });
    const paused = await a.send({ type: 'PAUSE', reason: null });
    const [pausedEvent] = paused.outbox.flatMap((e) => (e.kind === 'event' && e.event.type === 'job.paused' ? [e.event.id] : []));
    b.publisher.pendingIds.add(pausedEvent!);
    b.clock.advance(S);
    const hb = await a.send({ type: 'HEARTBEAT', executionId: slot(1) });
    expect(hb.outbox.map((e) => (e.kind === 'event' ? e.event.id : e.kind))).toEqual([pausedEvent]);
    expect(hb.outboxStep).toBe(paused.outboxStep + 1);
  });
});

describe('sameContent (the no-op check)', () => {
  it('a record with fewer fields is not the same as one with more, either way round', () => {
    const r = record();
    const { pausedReason: _, ...fewer } = r;
    expect(sameContent(fewer as JobRecord, r)).toBe(false);
    expect(sameContent(r, fewer as JobRecord)).toBe(false);
    expect(sameContent(r, r)).toBe(true);
    expect(sameContent(r, structuredClone(r))).toBe(true);
  });
});
