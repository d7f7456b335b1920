import { EventEmitter } from 'node:events';
import { jetstream, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { ID_PATTERN, PREFIX_PATTERN, isValidId, isValidPrefix, mustMatch } from '../contract/ids.js';
import { completedSubject, dispatchSubject, heartbeatSubject } from '../transport/subjects.js';
import { DEFAULT_PREFIX } from './client.js';
import type { ActionType, Dispatch } from './types.js';

/** `true` accepts; `false` or `{reason}` refuses (the execution then fails at once, SPEC §5). */
export type AcceptDecision = boolean | { reason: string };

export interface OrchestratorWorkerOptions<O = unknown> {
  /**
   * A connected NATS client; the worker never closes it. Its subscription comes back when the
   * connection reconnects, so connect with `maxReconnectAttempts: -1` to ride out any outage
   * (nats.js's default gives up after 10 attempts, about 20 s; then the connection is closed and
   * the worker gets nothing more). Completions that cannot be published meanwhile are retried
   * (`publishAttempts`); what is still lost the scheduler times out after `maxRuntimeMs`.
   */
  nc: NatsConnection;
  /** `SCHED_PREFIX` of the scheduler deployment (default `sched`). */
  prefix?: string;
  orchestratorId: string;
  /** Serve only `P.<o>.dispatch.<actionType>`; default every action type. */
  actionType?: ActionType;
  /** Runs one execution. Its result is the completion's `output`; a throw completes it as `failed`. */
  handler: (dispatch: Dispatch) => Promise<O>;
  /** Decides whether to take a dispatch, before it is acknowledged. Default: take everything. */
  accept?: (dispatch: Dispatch) => AcceptDecision | Promise<AcceptDecision>;
  /** Executions run at once; a dispatch beyond it is refused (default 100). */
  concurrency?: number;
  /** Heartbeat period while the handler runs (default 10 s); keep it well under the job's `maxRuntimeMs`. */
  heartbeatMs?: number;
  /**
   * Queue group, so that several worker processes share the dispatches instead of all running
   * each one (default `<prefix>_<orchestratorId>_workers`); `false` for a plain subscription.
   */
  queue?: string | false;
  /** Finished executions remembered for dedupe (default 10,000, oldest forgotten first). */
  remember?: number;
  /** Attempts to get the completion's PubAck (default 5, with backoff from 250 ms). */
  publishAttempts?: number;
}

/** What the worker reports, bullmq-style. `error` is written to stderr when nobody listens. */
export interface WorkerEvents {
  /** A dispatch was acknowledged with `{accepted: true}` and its handler starts. */
  accepted: [dispatch: Dispatch];
  /** A dispatch was refused (`accept` said no, concurrency limit, malformed); `dispatch` is null when it did not parse. */
  rejected: [dispatch: Dispatch | null, reason: string];
  /** A dispatch of an execution already running or done: acknowledged again, not run again. */
  duplicate: [dispatch: Dispatch, state: 'running' | 'done'];
  /** The completion was published; `receipt` is its PubAck, null when it could not be delivered. */
  completed: [dispatch: Dispatch, status: 'succeeded' | 'failed', receipt: PubAck | null];
  /** A heartbeat or completion could not be published, or a handler of an event threw. */
  error: [err: Error, dispatch?: Dispatch];
}

/**
 * The worker's lifecycle.
 * - `running`: serving dispatches; entered by `start`.
 * - `draining`: `stop()` was called; dispatches already received are served, running executions
 *   finish and publish their completion; nothing new arrives.
 * - `stopped`: everything finished; the subscription is gone.
 */
export type WorkerState = 'running' | 'draining' | 'stopped';

type Entry =
  | { state: 'deciding'; decision: Promise<DispatchReply> }
  | { state: 'running'; done: Promise<void> }
  | { state: 'done'; completion: string; receipt: PubAck | null };

type DispatchReply = { accepted: true } | { accepted: false; reason: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Serves the dispatches of one orchestrator (SPEC §5): replies `{accepted: true}` before running
 * the handler (or `{accepted: false, reason}`), heartbeats while it runs, then publishes the
 * completion through JetStream so the PubAck is the receipt.
 *
 * Dedupe and the at-least-once window: the scheduler sends a dispatch again under the same
 * `executionId` when no reply came within `dispatchTimeoutMs` (a lost or slow reply), and a slot's
 * execution id is deterministic. A repeated dispatch of an execution this worker is running or
 * has finished is acknowledged and not run twice. The memory is this process's: a repeat that
 * reaches another worker of the queue group, or this one after a restart or after `remember`
 * executions, runs again. A handler with side effects that must happen once should key them on
 * `dispatch.executionId`.
 */
export class OrchestratorWorker<O = unknown> extends EventEmitter<WorkerEvents> {
  readonly prefix: string;
  readonly orchestratorId: string;
  private readonly js: JetStreamClient;
  private readonly executions = new Map<string, Entry>();
  private readonly finished: string[] = [];
  private sub: Subscription | null = null;
  private stopping: Promise<void> | null = null;
  private _state: WorkerState = 'running';
  private reserved = 0;
  private readonly concurrency: number;
  private readonly heartbeatMs: number;
  private readonly remember: number;
  private readonly publishAttempts: number;

  private constructor(private readonly opts: OrchestratorWorkerOptions<O>) {
    super();
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.orchestratorId = opts.orchestratorId;
    if (!isValidId(this.orchestratorId)) throw new Error(`orchestratorId "${this.orchestratorId}" ${mustMatch(ID_PATTERN)}`);
    if (!isValidPrefix(this.prefix)) throw new Error(`prefix "${this.prefix}" ${mustMatch(PREFIX_PATTERN)}`);
    this.js = jetstream(opts.nc);
    this.concurrency = opts.concurrency ?? 100;
    this.heartbeatMs = opts.heartbeatMs ?? 10_000;
    this.remember = opts.remember ?? 10_000;
    this.publishAttempts = Math.max(1, opts.publishAttempts ?? 5);
  }

  /** Subscribes and resolves once the server knows the subscription. */
  static async start<O>(opts: OrchestratorWorkerOptions<O>): Promise<OrchestratorWorker<O>> {
    const w = new OrchestratorWorker(opts);
    const subject = dispatchSubject(w.prefix, w.orchestratorId, opts.actionType ?? '>');
    const queue = opts.queue === undefined ? `${w.prefix}_${w.orchestratorId}_workers` : opts.queue;
    w.sub = opts.nc.subscribe(subject, {
      ...(queue !== false && { queue }),
      callback: (err, msg) => {
        if (err) w.report(err);
        else w.onDispatch(msg);
      },
    });
    await opts.nc.flush();
    return w;
  }

  get state(): WorkerState {
    return this._state;
  }

  /** Executions whose handler is running now. */
  get active(): number {
    let n = 0;
    for (const e of this.executions.values()) if (e.state === 'running') n++;
    return n;
  }

  /** Stops taking dispatches, lets running executions finish and publish their completions. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this._state = 'draining';
      await this.sub?.drain().catch((err: unknown) => this.report(err));
      for (;;) {
        const pending = [...this.executions.values()].flatMap((e): Promise<unknown>[] =>
          e.state === 'running' ? [e.done] : e.state === 'deciding' ? [e.decision] : [],
        );
        if (pending.length === 0) break;
        await Promise.allSettled(pending);
      }
      this._state = 'stopped';
    })();
    return this.stopping;
  }

  private onDispatch(msg: Msg): void {
    let d: Dispatch;
    try {
      d = parseDispatch(msg.json());
    } catch (err) {
      const reason = `malformed dispatch: ${(err as Error).message}`;
      this.respond(msg, { accepted: false, reason });
      this.safeEmit('rejected', null, reason);
      return;
    }
    const known = this.executions.get(d.executionId);
    if (known) {
      if (known.state === 'deciding') {
        void known.decision.then((r) => this.respond(msg, r));
        return;
      }
      this.respond(msg, { accepted: true });
      this.safeEmit('duplicate', d, known.state);
      if (known.state === 'done' && known.receipt === null) {
        // the first completion never got its receipt: try again (same Nats-Msg-Id)
        void this.publishCompletion(d, known.completion).then((ack) => {
          if (ack) known.receipt = ack;
        });
      }
      return;
    }
    if (this.reserved >= this.concurrency) {
      const reason = `worker at its concurrency limit (${this.concurrency})`;
      this.respond(msg, { accepted: false, reason });
      this.safeEmit('rejected', d, reason);
      return;
    }
    this.reserved++;
    const decision = this.decide(d);
    this.executions.set(d.executionId, { state: 'deciding', decision });
    void decision.then((reply) => {
      this.respond(msg, reply);
      if (!reply.accepted) {
        this.reserved--;
        this.executions.delete(d.executionId);
        this.safeEmit('rejected', d, reply.reason);
        return;
      }
      const done = this.run(d).finally(() => this.reserved--);
      this.executions.set(d.executionId, { state: 'running', done });
      this.safeEmit('accepted', d);
    });
  }

  private async decide(d: Dispatch): Promise<DispatchReply> {
    if (!this.opts.accept) return { accepted: true };
    try {
      const v = await this.opts.accept(d);
      if (v === true) return { accepted: true };
      return { accepted: false, reason: typeof v === 'object' && v !== null ? String(v.reason) : 'refused by the worker' };
    } catch (err) {
      return { accepted: false, reason: `accept failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  private async run(d: Dispatch): Promise<void> {
    const beat = setInterval(() => {
      this.js
        .publish(heartbeatSubject(this.prefix, this.orchestratorId), JSON.stringify({ executionId: d.executionId, jobId: d.jobId }))
        .catch((err: unknown) => this.report(err, d));
    }, this.heartbeatMs);
    let completion: string;
    let status: 'succeeded' | 'failed';
    try {
      const output = await this.opts.handler(d);
      status = 'succeeded';
      try {
        completion = JSON.stringify({ executionId: d.executionId, jobId: d.jobId, status, ...(output !== undefined && { output }) });
      } catch (err) {
        status = 'failed';
        completion = JSON.stringify({ executionId: d.executionId, jobId: d.jobId, status, error: { message: `output is not JSON: ${(err as Error).message}` } });
      }
    } catch (err) {
      status = 'failed';
      const message = err instanceof Error ? err.message : String(err);
      completion = JSON.stringify({ executionId: d.executionId, jobId: d.jobId, status, error: { message } });
    } finally {
      clearInterval(beat);
    }
    const receipt = await this.publishCompletion(d, completion);
    this.executions.set(d.executionId, { state: 'done', completion, receipt });
    this.finished.push(d.executionId);
    while (this.finished.length > this.remember) this.executions.delete(this.finished.shift()!);
    this.safeEmit('completed', d, status, receipt);
  }

  /** Publishes as a JetStream message (the PubAck is the receipt), deduplicated by the stream on the execution id. */
  private async publishCompletion(d: Dispatch, completion: string): Promise<PubAck | null> {
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.js.publish(completedSubject(this.prefix, this.orchestratorId), completion, {
          msgID: `${d.executionId}-completed`,
        });
      } catch (err) {
        if (attempt >= this.publishAttempts) {
          this.report(err, d);
          return null;
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  private respond(msg: Msg, reply: DispatchReply): void {
    try {
      msg.respond(JSON.stringify(reply));
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown, d?: Dispatch): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') === 0) {
      console.error(`OrchestratorWorker(${this.orchestratorId}): ${e.message}${d ? ` (execution ${d.executionId})` : ''}`);
      return;
    }
    this.emit('error', e, ...(d ? [d] : []) as [] | [Dispatch]);
  }

  private safeEmit<K extends 'accepted' | 'rejected' | 'duplicate' | 'completed'>(event: K, ...args: WorkerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: WorkerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.report(err);
    }
  }
}

/** Checks the fields the worker relies on; the rest is passed through as sent. */
function parseDispatch(v: unknown): Dispatch {
  const d = v as Partial<Dispatch> | null;
  if (typeof d !== 'object' || d === null) throw new Error('not an object');
  if (typeof d.executionId !== 'string' || d.executionId === '') throw new Error('no executionId');
  if (typeof d.jobId !== 'string' || d.jobId === '') throw new Error('no jobId');
  if (typeof d.action !== 'object' || d.action === null || typeof d.action.type !== 'string') throw new Error('no action');
  return d as Dispatch;
}
