import { EventEmitter } from 'node:events';
import { jetstream, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { ID_PATTERN, PREFIX_PATTERN, isValidId, isValidPrefix, mustMatch } from '../contract/ids.js';
import { cancelSubject, completedSubject, dispatchSubject, heartbeatSubject } from '../transport/subjects.js';
import { DEFAULT_PREFIX } from './client.js';
import type { ActionType, CancelRequest, Dispatch } from './types.js';

/** `true` accepts; `false` or `{reason}` refuses (the execution then fails at once, SPEC §5). */
export type AcceptDecision = boolean | { reason: string };

/**
 * The second argument of the handler (handlers written for one argument need no change).
 */
export interface HandlerContext {
  /**
   * Aborted when the scheduler asks to cancel this execution (a request on `P.<o>.dispatch.cancel`,
   * sent under the `cancel_other` and `terminate_other` overlap policies, SPEC §10). Its `reason`
   * is an {@link ExecutionCancelledError}. The worker has then already published the completion
   * as `cancelled`; whatever the handler returns or throws afterwards is ignored. Stop the work
   * (pass the signal on to `fetch`, child processes, ...) and return.
   */
  signal: AbortSignal;
}

/** The `reason` of a handler's aborted signal: the scheduler cancelled the execution (SPEC §10). */
export class ExecutionCancelledError extends Error {
  override readonly name = 'ExecutionCancelledError';
  readonly executionId: string;
  readonly jobId: string;
  /** Why the scheduler cancelled it (`overlap`: a newer slot of the job is due). */
  readonly reason: string;

  constructor(readonly request: CancelRequest) {
    super(`execution ${request.executionId} cancelled by the scheduler (${request.reason})`);
    this.executionId = request.executionId;
    this.jobId = request.jobId;
    this.reason = request.reason;
  }
}

/** The worker's reply to a cancel request: `found` is whether it stopped an execution it was running. */
export type CancelReply = { ok: true; found: boolean } | { ok: false; error: { code: 'invalid_request'; message: string } };

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
  /**
   * Runs one execution. Its result is the completion's `output`; a throw completes it as `failed`.
   * `context.signal` is aborted when the scheduler cancels the execution: it is then completed as
   * `cancelled` at once, and the handler's later result or throw is ignored.
   */
  handler: (dispatch: Dispatch, context: HandlerContext) => Promise<O>;
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
  completed: [dispatch: Dispatch, status: 'succeeded' | 'failed' | 'cancelled', receipt: PubAck | null];
  /** A cancel request stopped an execution of this worker: its signal is aborted, its completion `cancelled` follows. */
  cancelled: [dispatch: Dispatch, request: CancelRequest];
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
  | { state: 'deciding'; decision: Promise<DispatchReply>; dispatch: Dispatch; cancel?: CancelRequest }
  | { state: 'running'; dispatch: Dispatch; done: Promise<void>; cancel: (req: CancelRequest) => boolean }
  | { state: 'done'; completion: string; receipt: PubAck | null };

type Status = 'succeeded' | 'failed' | 'cancelled';
interface Outcome {
  status: Status;
  completion: string;
}

/**
 * How long a worker of a queue group waits before answering a cancel request for an execution it
 * does not have: every worker of the group hears every cancel, and the one running the execution
 * should be the one whose reply reaches the scheduler.
 */
const NOT_FOUND_REPLY_DELAY_MS = 250;

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
 *
 * Cancel requests (SPEC §10, `cancel_other` and `terminate_other`): the worker also serves
 * `P.<o>.dispatch.cancel` (every worker of a queue group hears each one). For an execution it is
 * running, it aborts the handler's `context.signal`, stops the heartbeats, publishes the completion
 * `cancelled` at once and answers `{ok: true, found: true}`; the handler's later result is ignored
 * and its concurrency slot is freed when it returns. For an execution it does not have (unknown,
 * finished, or whose outcome is already being published) it answers `{ok: true, found: false}` and
 * changes nothing; in a queue group that answer waits a moment, so that the member running the
 * execution answers first. A cancel that comes while `accept` is deciding is kept: if the dispatch
 * is accepted, it is completed `cancelled` without running the handler.
 */
export class OrchestratorWorker<O = unknown> extends EventEmitter<WorkerEvents> {
  readonly prefix: string;
  readonly orchestratorId: string;
  private readonly js: JetStreamClient;
  private readonly executions = new Map<string, Entry>();
  private readonly finished: string[] = [];
  private sub: Subscription | null = null;
  private cancelSub: Subscription | null = null;
  /** Handlers of cancelled executions that have not returned yet (they still hold a concurrency slot). */
  private readonly lingering = new Set<Promise<unknown>>();
  private inGroup = false;
  /** Not-found answers to cancel requests held back a moment (queue group); sent at once by `stop()`. */
  private readonly delayedReplies = new Set<() => void>();
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

  /**
   * Subscribes and resolves once the server knows the subscriptions: the dispatches (in the queue
   * group) and the cancel requests `P.<o>.dispatch.cancel` (SPEC §10; a plain subscription, so that
   * the worker running an execution hears its cancel whichever member of the group got the
   * dispatch). `cancel` is never an action type: the dispatch subscription ignores that subject.
   */
  static async start<O>(opts: OrchestratorWorkerOptions<O>): Promise<OrchestratorWorker<O>> {
    if ((opts.actionType as string | undefined) === 'cancel') throw new Error('actionType "cancel" is reserved for cancel requests (SPEC §10)');
    const w = new OrchestratorWorker(opts);
    const subject = dispatchSubject(w.prefix, w.orchestratorId, opts.actionType ?? '>');
    const cancels = cancelSubject(w.prefix, w.orchestratorId);
    const queue = opts.queue === undefined ? `${w.prefix}_${w.orchestratorId}_workers` : opts.queue;
    w.inGroup = queue !== false;
    w.sub = opts.nc.subscribe(subject, {
      ...(queue !== false && { queue }),
      callback: (err, msg) => {
        if (err) w.report(err);
        else if (msg.subject !== cancels) w.onDispatch(msg); // a cancel request is not a dispatch
      },
    });
    w.cancelSub = opts.nc.subscribe(cancels, {
      callback: (err, msg) => {
        if (err) w.report(err);
        else w.onCancel(msg);
      },
    });
    await opts.nc.flush();
    return w;
  }

  get state(): WorkerState {
    return this._state;
  }

  /** Executions whose handler is running now (a cancelled one until its handler returns). */
  get active(): number {
    let n = this.lingering.size;
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
        pending.push(...this.lingering);
        if (pending.length === 0) break;
        await Promise.allSettled(pending);
      }
      // cancels are heard while executions run, so that a draining worker can still be cancelled
      await this.cancelSub?.drain().catch((err: unknown) => this.report(err));
      for (const answer of [...this.delayedReplies]) answer();
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
    const deciding: Entry & { state: 'deciding' } = { state: 'deciding', decision, dispatch: d };
    this.executions.set(d.executionId, deciding);
    void decision.then((reply) => {
      this.respond(msg, reply);
      if (!reply.accepted) {
        this.reserved--;
        this.executions.delete(d.executionId);
        this.safeEmit('rejected', d, reply.reason);
        return;
      }
      const ctl = new AbortController();
      // the first outcome (the handler's or a cancel) is the one published
      let settle!: (o: Outcome) => void;
      const outcome = new Promise<Outcome>((resolve) => (settle = resolve));
      let decided = false;
      const decide = (o: Outcome): boolean => {
        if (decided) return false;
        decided = true;
        settle(o);
        return true;
      };
      const cancel = (req: CancelRequest): boolean => {
        if (!decide(cancelledOutcome(d, req))) return false;
        ctl.abort(new ExecutionCancelledError(req));
        this.safeEmit('cancelled', d, req);
        return true;
      };
      this.safeEmit('accepted', d);
      // cancelled while `accept` was deciding: accepted (the scheduler counts it as started), then
      // completed as cancelled without running the handler
      if (deciding.cancel) cancel(deciding.cancel);
      const done = this.run(d, ctl.signal, outcome, decide).finally(() => this.reserved--);
      this.executions.set(d.executionId, { state: 'running', dispatch: d, done, cancel });
    });
  }

  /** A cancel request (SPEC §10): aborts the execution's handler and completes it as `cancelled`. */
  private onCancel(msg: Msg): void {
    let req: CancelRequest;
    try {
      req = parseCancel(msg.json());
    } catch (err) {
      this.respondCancel(msg, { ok: false, error: { code: 'invalid_request', message: `malformed cancel request: ${(err as Error).message}` } });
      return;
    }
    const known = this.executions.get(req.executionId);
    let found = false;
    if (known?.state === 'deciding' && known.dispatch.jobId === req.jobId) {
      found = known.cancel === undefined;
      known.cancel ??= req;
    } else if (known?.state === 'running' && known.dispatch.jobId === req.jobId) {
      found = known.cancel(req);
    }
    if (found || !this.inGroup) {
      this.respondCancel(msg, { ok: true, found });
      return;
    }
    // another worker of the group may be running it: let its reply come first
    const answer = (): void => {
      clearTimeout(timer);
      this.delayedReplies.delete(answer);
      this.respondCancel(msg, { ok: true, found: false });
    };
    const timer = setTimeout(answer, NOT_FOUND_REPLY_DELAY_MS);
    timer.unref();
    this.delayedReplies.add(answer);
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

  /**
   * Runs the handler with heartbeats until it settles or the execution is cancelled, whichever
   * comes first, and publishes that outcome: exactly one completion per execution. A cancelled
   * handler keeps its concurrency slot (and `stop()` waits for it) until it returns.
   */
  private async run(d: Dispatch, signal: AbortSignal, first: Promise<Outcome>, decide: (o: Outcome) => boolean): Promise<void> {
    const beat = setInterval(() => {
      this.js
        .publish(heartbeatSubject(this.prefix, this.orchestratorId), JSON.stringify({ executionId: d.executionId, jobId: d.jobId }))
        .catch((err: unknown) => this.report(err, d));
    }, this.heartbeatMs);
    // not started when the cancel came while `accept` was deciding
    const handled = signal.aborted ? null : this.handle(d, signal);
    void handled?.then(decide);
    const outcome = await first;
    clearInterval(beat);
    const lingering = outcome.status === 'cancelled' ? handled : null;
    if (lingering) {
      this.lingering.add(lingering);
      void lingering.finally(() => this.lingering.delete(lingering));
    }
    const receipt = await this.publishCompletion(d, outcome.completion);
    this.executions.set(d.executionId, { state: 'done', completion: outcome.completion, receipt });
    this.finished.push(d.executionId);
    while (this.finished.length > this.remember) this.executions.delete(this.finished.shift()!);
    this.safeEmit('completed', d, outcome.status, receipt);
    if (lingering) await lingering;
  }

  /** The handler's outcome; never rejects. */
  private async handle(d: Dispatch, signal: AbortSignal): Promise<Outcome> {
    const completion = (status: Status, rest: object): Outcome => ({ status, completion: JSON.stringify({ executionId: d.executionId, jobId: d.jobId, status, ...rest }) });
    try {
      const output = await this.opts.handler(d, { signal });
      try {
        return completion('succeeded', output === undefined ? {} : { output });
      } catch (err) {
        return completion('failed', { error: { message: `output is not JSON: ${(err as Error).message}` } });
      }
    } catch (err) {
      return completion('failed', { error: { message: err instanceof Error ? err.message : String(err) } });
    }
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

  private respondCancel(msg: Msg, reply: CancelReply): void {
    try {
      msg.respond(JSON.stringify(reply));
    } catch (err) {
      this.report(err);
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

  private safeEmit<K extends 'accepted' | 'rejected' | 'duplicate' | 'completed' | 'cancelled'>(event: K, ...args: WorkerEvents[K]): void {
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

/** The completion of a cancelled execution. */
function cancelledOutcome(d: Dispatch, req: CancelRequest): Outcome {
  const status = 'cancelled';
  const error = { message: `cancelled by the scheduler (${req.reason})`, reason: req.reason };
  return { status, completion: JSON.stringify({ executionId: d.executionId, jobId: d.jobId, status, error }) };
}

/** The fields of a cancel request the worker relies on (`reason` is passed through as sent). */
function parseCancel(v: unknown): CancelRequest {
  const c = v as Partial<CancelRequest> | null;
  if (typeof c !== 'object' || c === null) throw new Error('not an object');
  if (typeof c.executionId !== 'string' || c.executionId === '') throw new Error('no executionId');
  if (typeof c.jobId !== 'string' || c.jobId === '') throw new Error('no jobId');
  return { ...c, reason: typeof c.reason === 'string' ? c.reason : 'overlap' } as CancelRequest;
}
