/**
 * The job actor's I/O shell without a server: an in-memory record store, event sink and dispatch
 * port, a manual clock. Fencing by ownership epoch, timers per actor, and reconciling with the
 * store after a failed compare-and-set (issue: fault tolerance).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/actors/clock.js';
import { JobActor, type JobActorDeps } from '../../src/actors/jobActor.js';
import { TimerQueue } from '../../src/actors/timerQueue.js';
import type { AuditEvent, JobRecord } from '../../src/core/record.js';
import { jobMachine } from '../../src/machines/jobMachine.js';
import { StaleRevisionError, type JobStore, type Lookup } from '../../src/store/jobStore.js';
import type { Dispatcher, DispatchOutcome, DispatchRequest } from '../../src/transport/dispatcher.js';
import type { EventPublisher } from '../../src/transport/eventPublisher.js';
import { record, T0 } from './machine-helpers.js';

/** The KV bucket as a map: compare-and-set on a revision counter shared by all keys, like a stream. */
class FakeStore {
  seq = 0;
  readonly entries = new Map<string, { record: JobRecord; revision: number } | { deleted: true; revision: number }>();
  writes = 0;
  failures = 0;

  private key(r: { orchestratorId: string; jobId: string }): string {
    return `${r.orchestratorId}.${r.jobId}`;
  }

  put(r: JobRecord): number {
    const revision = ++this.seq;
    this.entries.set(this.key(r), { record: structuredClone(r), revision });
    return revision;
  }

  async save(r: JobRecord, revision: number): Promise<number> {
    const e = this.entries.get(this.key(r));
    if ((e?.revision ?? 0) !== revision) {
      this.failures++;
      throw new StaleRevisionError(this.key(r));
    }
    this.writes++;
    return this.put(r);
  }

  async create(r: JobRecord): Promise<number> {
    const e = this.entries.get(this.key(r));
    if (e && !('deleted' in e)) throw new StaleRevisionError(this.key(r));
    this.writes++;
    return this.put(r);
  }

  async remove(o: string, j: string, revision: number): Promise<void> {
    const e = this.entries.get(`${o}.${j}`);
    if (e?.revision !== revision) throw new StaleRevisionError(`${o}.${j}`);
    this.entries.set(`${o}.${j}`, { deleted: true, revision: ++this.seq });
  }

  async lookup(o: string, j: string): Promise<Lookup> {
    const e = this.entries.get(`${o}.${j}`);
    if (!e) return { kind: 'absent' };
    if ('deleted' in e) return { kind: 'deleted', revision: e.revision };
    return { kind: 'present', record: structuredClone(e.record), revision: e.revision };
  }

  async get(o: string, j: string): Promise<{ record: JobRecord; revision: number } | null> {
    const l = await this.lookup(o, j);
    return l.kind === 'present' ? { record: l.record, revision: l.revision } : null;
  }
}

interface Bed {
  clock: ManualClock;
  store: FakeStore;
  events: AuditEvent[];
  dispatches: DispatchRequest[];
  timers: TimerQueue<JobActor>;
  deps: (fence?: () => boolean) => JobActorDeps;
}

/** `answer` says how each dispatch attempt goes (by default it never answers). */
function bed(answer: (req: DispatchRequest) => Promise<DispatchOutcome> = () => new Promise(() => undefined)): Bed {
  const clock = new ManualClock(T0);
  const store = new FakeStore();
  const events: AuditEvent[] = [];
  const dispatches: DispatchRequest[] = [];
  const timers = new TimerQueue<JobActor>(clock, (a) => a.wake());
  const publisher = {
    publish: async (es: readonly AuditEvent[]) => void events.push(...es),
    pendingFor: () => 0,
    isPending: () => false,
    pending: 0,
  } as unknown as EventPublisher;
  const dispatcher = {
    send: (req: DispatchRequest) => {
      dispatches.push(req);
      return answer(req);
    },
    close: () => undefined,
  } as unknown as Dispatcher;
  return {
    clock,
    store,
    events,
    dispatches,
    timers,
    deps: (fence) => ({
      store: store as unknown as JobStore,
      publisher,
      dispatcher,
      timers,
      clock,
      log: pino({ level: 'silent' }),
      machine: jobMachine,
      fence,
    }),
  };
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

/** A 10 s interval job, stored, with its first slot at T0 + 10 s. */
function stored(b: Bed): { record: JobRecord; revision: number } {
  const r = record({ allowOverlap: true });
  return { record: r, revision: b.store.put(r) };
}

describe('JobActor: ownership epochs', () => {
  it("an actor of an ended epoch cannot cancel its successor's timer for the same job", async () => {
    const b = bed();
    const s = stored(b);
    let epoch = 1;
    const old = new JobActor(b.deps(() => epoch === 1), s);
    await old.recover();
    // the lease is lost and taken back: a new epoch loads the same job while the old actor is still being stopped
    epoch = 2;
    const next = new JobActor(b.deps(() => epoch === 2), s);
    await next.recover();
    old.stop();
    b.clock.advance(10_000);
    await flush();
    expect(b.dispatches.map((d) => d.scheduledAt)).toEqual([new Date(T0 + 10_000).toISOString()]);
    expect(next.record.lastScheduledAt).toBe(T0 + 10_000);
  });

  it('a fenced-off actor (its epoch ended) neither writes, dispatches nor re-arms its timer', async () => {
    const b = bed();
    const s = stored(b);
    let owned = true;
    const a = new JobActor(b.deps(() => owned), s);
    await a.recover();
    owned = false;
    b.clock.advance(60_000);
    await flush();
    await expect(a.send({ type: 'TICK' })).rejects.toMatchObject({ code: 'unavailable' });
    expect(b.dispatches).toEqual([]);
    expect(b.store.writes).toBe(0);
    expect(b.timers.size).toBe(0);
  });
});

describe('JobActor: reconciling after a failed compare-and-set', () => {
  it('a record the store no longer has (lost per-subject state: "wrong last sequence 0") is written again, and the job goes on firing', async () => {
    const b = bed();
    const s = stored(b);
    const a = new JobActor(b.deps(), s);
    await a.recover();
    b.store.entries.clear(); // the server forgot the key: every compare-and-set at our revision fails
    b.clock.advance(10_000);
    await flush();
    // the write of the first slot failed and was reconciled; the next wake-up retries from the re-created key
    b.clock.advance(2_000);
    await flush();
    b.clock.advance(10_000);
    await flush();
    const e = await b.store.get('acme', 'job1');
    expect(e).not.toBeNull();
    expect(b.store.failures).toBeLessThanOrEqual(1);
    expect(e!.record.lastScheduledAt).toBe(a.record.lastScheduledAt);
    expect(a.record.lastScheduledAt).toBeGreaterThanOrEqual(T0 + 10_000);
    expect(b.dispatches.length).toBeGreaterThanOrEqual(1);
  });

  it('a record changed by another writer is adopted (its revision and content), never retried at the stale revision', async () => {
    const b = bed();
    const s = stored(b);
    const a = new JobActor(b.deps(), s);
    await a.recover();
    // an earlier owner's stalled write lands after this actor loaded the record
    const theirs = { ...s.record, pausedReason: null, counters: { ...s.record.counters, missed: 7 } };
    b.store.put(theirs);
    b.clock.advance(10_000);
    await flush();
    b.clock.advance(2_000);
    await flush();
    const e = await b.store.get('acme', 'job1');
    expect(b.store.failures).toBe(1);
    expect(e!.record.counters.missed).toBe(7);
    expect(a.storedRevision).toBe(e!.revision);
  });

  it('a delete marker written by an earlier owner stops the job instead of retrying', async () => {
    const b = bed();
    const s = stored(b);
    const a = new JobActor(b.deps(), s);
    await a.recover();
    await b.store.remove('acme', 'job1', s.revision);
    b.clock.advance(10_000);
    await flush();
    b.clock.advance(60_000);
    await flush();
    expect(b.store.failures).toBe(1);
    expect(b.timers.size).toBe(0);
    await expect(a.send({ type: 'TICK' })).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('JobActor: the outbox keeps what is not yet published', () => {
  it("a loaded record's outbox (the previous owner died before publishing it) is carried into the next write when an event comes before the replay", async () => {
    const b = bed();
    const r = record({ allowOverlap: true });
    // the previous owner wrote job.created and died before publishing it
    const s = { record: r, revision: b.store.put(r) };
    expect(r.outbox.some((e) => e.kind === 'event' && e.event.type === 'job.created')).toBe(true);
    const a = new JobActor(b.deps(), s);
    // a completion (or a command) is applied before recover() replays the outbox
    b.clock.advance(10_000);
    await a.send({ type: 'TICK' });
    const stored = (await b.store.get('acme', 'job1'))!.record;
    expect(stored.outbox.flatMap((e) => (e.kind === 'event' ? [e.event.type] : []))).toContain('job.created');
    expect(b.events.map((e) => e.type)).toContain('job.created');
  });
});

describe('JobActor: a command replies with the outcome the machine decided', () => {
  it('run_now: the execution id comes from the machine; an overlap refusal writes nothing and dispatches nothing', async () => {
    const b = bed();
    const r = record({ overlapPolicy: 'skip' });
    const a = new JobActor(b.deps(), { record: r, revision: b.store.put(r) });
    await a.recover();
    const ok = await a.command({ type: 'RUN_NOW', ignoreOverlap: false });
    expect(ok.outcome).toEqual({ ok: true, executionId: ok.record.active[0]!.executionId });
    expect(b.dispatches.map((d) => d.executionId)).toEqual([ok.record.active[0]!.executionId]);
    const writes = b.store.writes;
    const refused = await a.command({ type: 'RUN_NOW', inputs: { x: 1 }, ignoreOverlap: false });
    expect(refused.outcome).toMatchObject({ ok: false, code: 'overlap', details: { activeExecutions: [ok.record.active[0]!.executionId] } });
    expect(b.store.writes).toBe(writes);
    expect(b.dispatches).toHaveLength(1);
    // an event that is no command has no outcome
    expect((await a.command({ type: 'TICK' })).outcome).toBeNull();
  });
});

describe('JobActor: a machine that throws is restarted as jobLogic.faulted says', () => {
  it('job.faulted is written and published on the last written record; retried after 1 s, then 2 s; then the job goes on', async () => {
    const b = bed();
    const s = stored(b);
    let throwing = true;
    const machine = jobMachine.provide({
      guards: {
        slotDue: ({ context, event }) => {
          if (throwing) throw new Error('boom');
          return context.nextRunAt !== null && event.now >= context.nextRunAt;
        },
      },
    });
    const a = new JobActor({ ...b.deps(), machine }, s);
    b.clock.advance(10_000); // the first slot is due: the timer would fire at once but for the backoff
    await expect(a.send({ type: 'TICK' })).rejects.toMatchObject({ code: 'internal' });
    const faults = () => b.events.filter((e) => e.type === 'job.faulted').map((e) => e.data);
    expect(faults()).toEqual([{ error: expect.stringContaining('boom'), event: 'TICK', faults: 1 }]);
    const e = (await b.store.get('acme', 'job1'))!;
    expect(e.record.outbox.flatMap((x) => (x.kind === 'event' ? [x.event.type] : []))).toContain('job.faulted');
    expect(a.storedRevision).toBe(e.revision);
    b.clock.advance(999);
    await flush();
    expect(faults()).toHaveLength(1);
    b.clock.advance(1);
    await flush();
    expect(faults().map((f) => f.faults)).toEqual([1, 2]);
    b.clock.advance(1_999);
    await flush();
    expect(faults()).toHaveLength(2);
    throwing = false;
    b.clock.advance(1);
    await flush();
    expect(faults()).toHaveLength(2);
    expect(b.dispatches.map((d) => d.scheduledAt)).toEqual([new Date(T0 + 10_000).toISOString()]);
    expect(a.record.lastScheduledAt).toBe(T0 + 10_000);
  });
});

describe('JobActor: dispatch retries are timers the machine decides; the dispatcher sends one attempt', () => {
  const sentAt = (b: Bed, at: number[]) => (req: DispatchRequest): Promise<DispatchOutcome> => {
    at.push(b.clock.now());
    return Promise.resolve({ accepted: false, reason: req.attempt < 3 ? 'no_responders' : 'timeout' });
  };

  it('no responders: attempts 2 and 3 go backoffMs apart, each audited before it is sent, then trigger.failed with the last reason', async () => {
    const at: number[] = [];
    let b!: Bed;
    b = bed((req) => sentAt(b, at)(req));
    const r = record({ dispatchRetry: { attempts: 3, backoffMs: 1_000 } });
    const a = new JobActor(b.deps(), { record: r, revision: b.store.put(r) });
    await a.recover();
    b.clock.advance(10_000);
    await flush();
    expect(b.dispatches.map((d) => d.attempt)).toEqual([1]);
    b.clock.advance(999);
    await flush();
    expect(b.dispatches.map((d) => d.attempt)).toEqual([1]); // not before the retry is due
    b.clock.advance(1);
    await flush();
    expect(b.dispatches.map((d) => d.attempt)).toEqual([1, 2]);
    b.clock.advance(1_000);
    await flush();
    expect(b.dispatches.map((d) => d.attempt)).toEqual([1, 2, 3]);
    expect(at).toEqual([T0 + 10_000, T0 + 11_000, T0 + 12_000]);
    const trail = b.events.filter((e) => e.type.startsWith('trigger.')).map((e) => [e.type, e.data.attempt ?? e.data.attempts, e.data.reason]);
    expect(trail).toEqual([
      ['trigger.dispatched', 1, undefined],
      ['trigger.dispatched', 2, undefined],
      ['trigger.dispatched', 3, undefined],
      ['trigger.failed', 3, 'timeout'],
    ]);
    expect(a.record.active).toEqual([]);
    // nothing more is sent
    b.clock.advance(5_000);
    await flush();
    expect(b.dispatches).toHaveLength(3);
  });

  it('a rejection is not retried; an execution that completes while its retry waits is not sent again', async () => {
    const b = bed((req) => Promise.resolve(req.jobId === 'rej' ? { accepted: false, reason: 'rejected', detail: 'busy' } : { accepted: false, reason: 'timeout' }));
    const rej = record({ jobId: 'rej' });
    const x = new JobActor(b.deps(), { record: rej, revision: b.store.put(rej) });
    const r = record();
    const y = new JobActor(b.deps(), { record: r, revision: b.store.put(r) });
    await x.recover();
    await y.recover();
    b.clock.advance(10_000);
    await flush();
    expect(b.events.filter((e) => e.type === 'trigger.failed').map((e) => [e.jobId, e.data.attempts, e.data.reason, e.data.detail])).toEqual([['rej', 1, 'rejected', 'busy']]);
    const id = y.record.active[0]!.executionId;
    await y.send({ type: 'COMPLETED', executionId: id, status: 'succeeded' }); // the worker got attempt 1 after all
    b.clock.advance(1_000);
    await flush();
    expect(b.dispatches.map((d) => [d.jobId, d.attempt])).toEqual([['rej', 1], ['job1', 1]]);
  });

  it('a stopped actor sends no retry', async () => {
    const b = bed(() => Promise.resolve({ accepted: false, reason: 'no_responders' }));
    const s = stored(b);
    const a = new JobActor(b.deps(), s);
    await a.recover();
    b.clock.advance(10_000);
    await flush();
    a.stop();
    b.clock.advance(5_000);
    await flush();
    expect(b.dispatches.map((d) => d.attempt)).toEqual([1]);
  });
});
