import { jetstreamManager } from '@nats-io/jetstream';
import { connect, createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ExecutionCancelledError,
  OrchestratorWorker,
  SchedulerClient,
  cancelSubject,
  completedSubject,
  dispatchSubject,
  type CancelReply,
  type CancelRequest,
  type Dispatch,
  type DispatchRequest,
  type OrchestratorWorkerOptions,
} from '../../src/client/index.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { TestBed, uniquePrefix, until, type AuditEventWire } from '../helpers/harness.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface CompletionWire {
  executionId: string;
  jobId: string;
  status: string;
  error?: { message?: string; reason?: string };
  output?: unknown;
}

const enc = (v: unknown): string => JSON.stringify(v);

/**
 * The orchestrator side of SPEC §10's cancel requests, against a real nats-server: this test plays
 * the scheduler (dispatch requests, cancel requests on `P.<o>.dispatch.cancel`) on its own
 * connection, and reads what the worker publishes on `P.<o>.execution.completed` with a core
 * subscription (every publish, even one JetStream would de-duplicate), while a stream captures the
 * execution subjects so the worker gets its PubAcks as with a scheduler.
 */
describe('OrchestratorWorker: cancel requests (SPEC §10)', () => {
  let server: NatsServerHandle;
  let sched: NatsConnection; // the "scheduler"
  let wnc: NatsConnection; // the worker's
  const P = uniquePrefix();
  const O = 'acme';
  let seq = 0;
  const workers: OrchestratorWorker[] = [];
  let completions: CompletionWire[] = [];
  let completionSub: Subscription;

  beforeAll(async () => {
    server = await startNatsServer();
    sched = await connect({ servers: server.url });
    wnc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(sched);
    await jsm.streams.add({ name: `${P}_EXECUTIONS`, subjects: [`${P}.*.execution.>`] });
    completionSub = sched.subscribe(completedSubject(P, O), {
      callback: (err, msg) => {
        if (!err) completions.push(msg.json<CompletionWire>());
      },
    });
    await sched.flush();
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    completions = [];
  });
  afterAll(async () => {
    completionSub?.unsubscribe();
    await sched?.close();
    await wnc?.close();
    await server?.dispose();
  });

  const worker = async (opts: Omit<OrchestratorWorkerOptions, 'nc' | 'prefix' | 'orchestratorId'>): Promise<OrchestratorWorker> => {
    const w = await OrchestratorWorker.start({ nc: wnc, prefix: P, orchestratorId: O, ...opts });
    workers.push(w);
    return w;
  };

  const dispatchOf = (jobId = 'job'): DispatchRequest => {
    const now = new Date().toISOString();
    return {
      executionId: `inc${seq}-x${(seq++).toString(36)}`,
      orchestratorId: O,
      jobId,
      scheduledAt: now,
      firedAt: now,
      trigger: 'schedule',
      attempt: 1,
      action: { type: 'command', command: 'work' },
    };
  };

  const dispatch = async (d: DispatchRequest): Promise<{ accepted: boolean; reason?: string }> =>
    (await sched.request(dispatchSubject(P, O, d.action.type), enc(d), { timeout: 5_000 })).json();

  const cancel = async (req: CancelRequest): Promise<CancelReply> =>
    (await sched.request(cancelSubject(P, O), enc(req), { timeout: 5_000 })).json();

  const cancelOf = (d: DispatchRequest): CancelRequest => ({ executionId: d.executionId, jobId: d.jobId, reason: 'overlap' });

  const completionsOf = (executionId: string): CompletionWire[] => completions.filter((c) => c.executionId === executionId);

  it('aborts the running handler, publishes one completion "cancelled", and ignores what the handler returns later', async () => {
    const started = deferred<AbortSignal>();
    const release = deferred();
    const handlerReturned = deferred();
    const seen: { aborted: boolean; reason: unknown }[] = [];
    const events: string[] = [];
    const w = await worker({
      queue: false,
      heartbeatMs: 60_000,
      handler: async (_d: Dispatch, { signal }) => {
        started.resolve(signal);
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        seen.push({ aborted: signal.aborted, reason: signal.reason });
        await release.promise;
        handlerReturned.resolve();
        return { late: true }; // after the cancel: must not become a completion
      },
    });
    w.on('cancelled', (d, req) => events.push(`cancelled ${d.executionId} ${req.reason}`));
    w.on('completed', (d, status) => events.push(`completed ${d.executionId} ${status}`));

    const d = dispatchOf();
    expect(await dispatch(d)).toEqual({ accepted: true });
    const signal = await started.promise;
    expect(signal.aborted).toBe(false);
    expect(w.active).toBe(1);

    expect(await cancel(cancelOf(d))).toEqual({ ok: true, found: true });
    await until(() => completionsOf(d.executionId).length === 1, 5_000, 'the cancelled completion');
    expect(completionsOf(d.executionId)).toEqual([
      { executionId: d.executionId, jobId: 'job', status: 'cancelled', error: { message: expect.stringContaining('overlap'), reason: 'overlap' } },
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.aborted).toBe(true);
    expect(seen[0]!.reason).toBeInstanceOf(ExecutionCancelledError);
    expect(seen[0]!.reason).toMatchObject({ executionId: d.executionId, jobId: 'job', reason: 'overlap' });
    await until(() => events.length === 2, 5_000, 'the worker events');
    expect(events).toEqual([`cancelled ${d.executionId} overlap`, `completed ${d.executionId} cancelled`]);
    // the cancelled handler still holds its slot until it returns
    expect(w.active).toBe(1);

    release.resolve();
    await handlerReturned.promise;
    await until(() => w.active === 0, 5_000, 'the handler to return');
    await wnc.flush();
    await sched.flush();
    expect(completionsOf(d.executionId)).toHaveLength(1);
    expect(completionsOf(d.executionId)[0]!.status).toBe('cancelled');

    // a second cancel of the same execution finds nothing to stop; a repeat of the dispatch is a duplicate, not run again
    expect(await cancel(cancelOf(d))).toEqual({ ok: true, found: false });
    const dup = deferred<string>();
    w.on('duplicate', (_x, state) => dup.resolve(state));
    expect(await dispatch(d)).toEqual({ accepted: true });
    expect(await dup.promise).toBe('done');
    await wnc.flush();
    await sched.flush();
    // its completion had its PubAck: nothing is published again
    expect(completionsOf(d.executionId).map((c) => c.status)).toEqual(['cancelled']);
  });

  it('a handler that throws once aborted does not turn the cancelled execution into a failed one', async () => {
    const started = deferred();
    let settled = false;
    await worker({
      queue: false,
      handler: async (_d, { signal }) => {
        started.resolve();
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
        settled = true;
      },
    });
    const d = dispatchOf();
    expect(await dispatch(d)).toEqual({ accepted: true });
    await started.promise;
    expect(await cancel(cancelOf(d))).toEqual({ ok: true, found: true });
    await until(() => completionsOf(d.executionId).length > 0, 5_000, 'the completion');
    await until(() => workers[0]!.active === 0, 5_000, 'the handler to settle');
    await wnc.flush();
    await sched.flush();
    expect(settled).toBe(false);
    expect(completionsOf(d.executionId).map((c) => c.status)).toEqual(['cancelled']);
  });

  it('a cancel of an unknown or finished execution is answered and changes nothing', async () => {
    const gate = deferred();
    const started = deferred<AbortSignal>();
    let rejected = 0;
    const w = await worker({
      handler: async (d, { signal }) => {
        if (d.jobId === 'quick') return 'done';
        started.resolve(signal);
        await gate.promise;
        return 'finished';
      },
    });
    w.on('rejected', () => rejected++);
    w.on('cancelled', () => expect.fail('nothing was to be cancelled'));

    // finished: completed succeeded, then a cancel for it
    const quick = dispatchOf('quick');
    expect(await dispatch(quick)).toEqual({ accepted: true });
    await until(() => completionsOf(quick.executionId).length === 1, 5_000, 'the quick completion');

    const running = dispatchOf('slow');
    expect(await dispatch(running)).toEqual({ accepted: true });
    const signal = await started.promise;

    // default queue group: the worker answers not-found too (after letting a member that has it reply first)
    expect(await cancel({ executionId: 'never-dispatched', jobId: 'slow', reason: 'overlap' })).toEqual({ ok: true, found: false });
    expect(await cancel(cancelOf(quick))).toEqual({ ok: true, found: false });
    // the right execution id under another job is not it
    expect(await cancel({ executionId: running.executionId, jobId: 'other', reason: 'overlap' })).toEqual({ ok: true, found: false });
    // malformed
    const bad = (await sched.request(cancelSubject(P, O), enc({ jobId: 'slow' }), { timeout: 5_000 })).json<CancelReply>();
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_request', message: expect.stringContaining('executionId') } });

    await wnc.flush();
    await sched.flush();
    expect(signal.aborted).toBe(false);
    expect(completions.map((c) => `${c.jobId} ${c.status}`)).toEqual(['quick succeeded']);
    expect(rejected).toBe(0);

    gate.resolve();
    await until(() => completionsOf(running.executionId).length === 1, 5_000, 'the slow completion');
    expect(completionsOf(running.executionId)[0]).toMatchObject({ status: 'succeeded', output: 'finished' });
  });

  it('a cancel request on P.<o>.dispatch.cancel is never taken for a dispatch by a worker serving P.<o>.dispatch.>', async () => {
    const calls: Dispatch[] = [];
    const rejected: (string | null)[] = [];
    const w = await worker({
      // default: every action type (P.<o>.dispatch.>), in the default queue group
      handler: async (d) => {
        calls.push(d);
        return null;
      },
    });
    w.on('rejected', (d, reason) => rejected.push(d ? `${d.executionId}: ${reason}` : reason));

    // a cancel body, and a body that would even pass as a dispatch, on the cancel subject
    const replies: unknown[] = [];
    const inbox = createInbox();
    const sub = sched.subscribe(inbox, {
      callback: (err, m: Msg) => {
        if (!err) replies.push(m.json());
      },
    });
    await sched.flush();
    sched.publish(cancelSubject(P, O), enc({ executionId: 'e-1', jobId: 'job', reason: 'overlap' }), { reply: inbox });
    sched.publish(cancelSubject(P, O), enc({ ...dispatchOf(), reason: 'overlap' }), { reply: inbox });
    await until(() => replies.length >= 2, 5_000, 'the cancel replies');
    await wnc.flush();
    await sched.flush();
    sub.unsubscribe();
    // exactly one reply each, both cancel replies: a dispatch reply ({accepted: ...}) would have come first
    expect(replies).toEqual([
      { ok: true, found: false },
      { ok: true, found: false },
    ]);
    expect(calls).toEqual([]);
    expect(rejected).toEqual([]);

    // and a dispatch whose body looks like a cancel request is a dispatch
    const d = { ...dispatchOf(), reason: 'overlap' };
    expect(await dispatch(d)).toEqual({ accepted: true });
    await until(() => completionsOf(d.executionId).length === 1, 5_000, 'the completion');
    expect(completionsOf(d.executionId)[0]!.status).toBe('succeeded');
    expect(calls.map((c) => c.executionId)).toEqual([d.executionId]);

    await expect(OrchestratorWorker.start({ nc: wnc, prefix: P, orchestratorId: O, actionType: 'cancel' as never, handler: async () => null })).rejects.toThrow(
      /reserved/,
    );
  });

  it('in a queue group, the member running the execution hears its cancel, whichever member got the dispatch', async () => {
    const signals = new Map<string, AbortSignal>();
    const handler = async (d: Dispatch, { signal }: { signal: AbortSignal }): Promise<null> => {
      signals.set(d.executionId, signal);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      return null;
    };
    const a = await worker({ handler, queue: 'shared' });
    const b = await worker({ handler, queue: 'shared' });
    const ds = Array.from({ length: 8 }, () => dispatchOf());
    for (const d of ds) expect(await dispatch(d)).toEqual({ accepted: true });
    await until(() => signals.size === ds.length, 5_000, 'every handler to start');
    expect(a.active + b.active).toBe(ds.length);
    for (const d of ds) expect(await cancel(cancelOf(d))).toEqual({ ok: true, found: true });
    await until(() => ds.every((d) => completionsOf(d.executionId).length === 1), 5_000, 'every completion');
    expect(ds.map((d) => completionsOf(d.executionId)[0]!.status)).toEqual(ds.map(() => 'cancelled'));
    expect([...signals.values()].every((s) => s.aborted)).toBe(true);
  });

  it('a cancel while accept is deciding: the dispatch is acknowledged, completed "cancelled", and the handler never runs', async () => {
    const deciding = deferred();
    const decide = deferred<boolean>();
    let ran = 0;
    await worker({
      queue: false,
      accept: async () => {
        deciding.resolve();
        return decide.promise;
      },
      handler: async () => {
        ran++;
        return null;
      },
    });
    const d = dispatchOf();
    const reply = dispatch(d);
    await deciding.promise;
    expect(await cancel(cancelOf(d))).toEqual({ ok: true, found: true });
    decide.resolve(true);
    expect(await reply).toEqual({ accepted: true });
    await until(() => completionsOf(d.executionId).length === 1, 5_000, 'the completion');
    await until(() => workers[0]!.active === 0, 5_000, 'the worker to be idle');
    expect(completionsOf(d.executionId)[0]!.status).toBe('cancelled');
    expect(ran).toBe(0);
  });

  it('stop() drains: a cancelled handler that has not returned yet is waited for', async () => {
    const started = deferred();
    const release = deferred();
    let returned = false;
    const w = await worker({
      queue: false,
      handler: async (_d, { signal }) => {
        started.resolve();
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        await release.promise;
        returned = true;
        return null;
      },
    });
    const d = dispatchOf();
    expect(await dispatch(d)).toEqual({ accepted: true });
    await started.promise;
    expect(await cancel(cancelOf(d))).toEqual({ ok: true, found: true });
    await until(() => completionsOf(d.executionId).length === 1, 5_000, 'the completion');
    const stopped = w.stop();
    expect(w.state).toBe('draining');
    release.resolve();
    await stopped;
    expect(returned).toBe(true);
    expect(w.state).toBe('stopped');
  });
});

/** With a real scheduler: `cancel_other` sends the cancel request, the worker ends the execution, the next slot runs. */
describe('OrchestratorWorker and a scheduler: cancel_other end to end', () => {
  let bed: TestBed;
  let nc: NatsConnection;
  const P = uniquePrefix();

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' });
    nc = await connect({ servers: bed.server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await bed?.dispose();
  });

  it('the running execution is cancelled by the next slot and completes "cancelled"; the job counts it', async () => {
    const o = (await bed.orchestrator(P, 'acme')).watchEvents();
    await o.flush();
    const client = new SchedulerClient({ nc, prefix: P, orchestratorId: 'acme' });
    const aborted: string[] = [];
    const done = deferred();
    const w = await OrchestratorWorker.start({
      nc,
      prefix: P,
      orchestratorId: 'acme',
      handler: async (d, { signal }) => {
        // every execution runs until it is cancelled (or the test ends)
        await Promise.race([done.promise, new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))]);
        if (signal.aborted) aborted.push(d.executionId);
        return null;
      },
    });
    try {
      const job = await client.create({ jobId: 'c', schedule: { kind: 'interval', every: '500ms' }, target: { type: 'command', command: 'x' }, overlapPolicy: 'cancel_other' });
      expect(job.overlapPolicy).toBe('cancel_other');
      const view = await until(
        async () => {
          const v = await client.show('c');
          return v.counters.cancelled >= 2 ? v : null;
        },
        15_000,
        'two cancelled executions',
      );
      await client.pause('c');
      expect(view.counters.terminated).toBe(0);
      const events: AuditEventWire[] = o.events;
      const requested = events.filter((e) => e.jobId === 'c' && e.type === 'execution.cancel_requested').map((e) => e.executionId);
      const cancelledDone = events
        .filter((e) => e.jobId === 'c' && e.type === 'execution.completed' && e.data.status === 'cancelled')
        .map((e) => e.executionId);
      expect(cancelledDone.length).toBeGreaterThanOrEqual(2);
      // every cancelled completion was asked for, and its handler saw the abort
      for (const id of cancelledDone) {
        expect(requested).toContain(id);
        expect(aborted).toContain(id);
      }
    } finally {
      done.resolve();
      await w.stop();
    }
  });
});
