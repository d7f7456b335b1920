import { jetstream, type Consumer, type ConsumerMessages, DeliverPolicy } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { Operation } from '../contract/constants.js';
import type { WireError } from '../contract/errors.js';
import { ID_PATTERN, PREFIX_PATTERN, isValidId, isValidPrefix, mustMatch, parseInstant } from '../contract/ids.js';
import { parseDuration } from '../schedule/duration.js';
import { commandSubject, names } from '../transport/subjects.js';
import { InternalError, InvalidRequestError, LimitExceededError, UnavailableError, errorFromWire, type RequestContext } from './errors.js';
import type {
  BackfillOptions,
  BackfillResult,
  CreateJobInput,
  ExplainAt,
  ExplainResult,
  JobDetails,
  JobPage,
  JobPatch,
  JobView,
  ListJobsInput,
  PauseOptions,
  PreviewInput,
  PreviewResult,
  RunNowOptions,
  RunNowResult,
  SchedulerEvent,
  UpdateDryRunResult,
  UpdateOptions,
} from './types.js';

export const DEFAULT_PREFIX = 'sched';
export const DEFAULT_TIMEOUT_MS = 10_000;
/** How often a command refused by the scheduler's rate limit is sent again (`rateLimitRetries`). */
export const DEFAULT_RATE_LIMIT_RETRIES = 5;
/** The longest the client waits before one retry of a rate-limited command, whatever the scheduler says. */
const MAX_RETRY_DELAY_MS = 30_000;
const encoder = new TextEncoder();

export interface SchedulerClientOptions {
  /**
   * A connected NATS client; the scheduler client never closes it. Connect with
   * `maxReconnectAttempts: -1` so that an outage does not close it for good (nats.js's default
   * gives up after 10 attempts); requests during an outage fail with `UnavailableError`.
   */
  nc: NatsConnection;
  /** `SCHED_PREFIX` of the scheduler deployment (default `sched`). */
  prefix?: string;
  /** The orchestrator every call is scoped to. */
  orchestratorId: string;
  /** How long to wait for a reply (default 10 s); no reply is an `UnavailableError`. */
  timeoutMs?: number;
  /**
   * How many times a command refused by the scheduler's per-orchestrator rate limit
   * (`SCHED_RATE_LIMIT`: a `limit_exceeded` whose details are `{limit: 'commands per second',
   * retryAfterMs}`) is sent again, each time after the `retryAfterMs` the scheduler named plus a
   * small random jitter (at most 30 s). Default 5; 0 disables. After the last try the
   * {@link LimitExceededError} is thrown (its `rateLimited` is true). A refused command did
   * nothing, so sending it again is safe for every operation. Quotas (jobs per orchestrator,
   * payload size) are never retried.
   */
  rateLimitRetries?: number;
}

export interface EventsOptions {
  /** Only this job's events (filter `P.<o>.events.<jobId>.>`); default all of the orchestrator's. */
  jobId?: string;
  /**
   * Where to start: a Date, epoch ms, an ISO-8601 instant, or a duration (`15m`, `PT1H`) meaning
   * that long ago. Default: the oldest event the stream keeps (`SCHED_EVENTS_MAX_AGE`).
   */
  since?: Date | number | string;
  /** Keep waiting for new events (default true); false ends after the last stored event. */
  follow?: boolean;
}

/**
 * A client for the commands of SPEC §4 and §10, scoped to one orchestrator. Every method resolves with
 * the reply's payload or rejects with a {@link SchedulerClientError} subclass per wire code;
 * a scheduler that does not answer (no responders, timeout) is an {@link UnavailableError}.
 *
 * ```ts
 * const client = new SchedulerClient({ nc, orchestratorId: 'acme' });
 * const job = await client.create({ schedule: { kind: 'cron', expression: '0 2 * * *' }, target: { type: 'command', command: 'report' } });
 * ```
 */
export class SchedulerClient {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly orchestratorId: string;
  private readonly timeoutMs: number;
  private readonly rateLimitRetries: number;

  constructor(opts: SchedulerClientOptions) {
    this.nc = opts.nc;
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.orchestratorId = opts.orchestratorId;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.rateLimitRetries = opts.rateLimitRetries ?? DEFAULT_RATE_LIMIT_RETRIES;
    // Both end up as subject tokens: a `.`, `*` or `>` would reach other subjects.
    const bad = !isValidPrefix(this.prefix)
      ? { path: 'prefix', message: mustMatch(PREFIX_PATTERN) }
      : !isValidId(this.orchestratorId)
        ? { path: 'orchestratorId', message: mustMatch(ID_PATTERN) }
        : !Number.isSafeInteger(this.rateLimitRetries) || this.rateLimitRetries < 0
          ? { path: 'rateLimitRetries', message: 'must be an integer, 0 or more' }
          : null;
    if (bad) {
      throw new InvalidRequestError({
        orchestratorId: String(this.orchestratorId),
        operation: 'client',
        message: `${bad.path} ${bad.message}`,
        details: [bad],
      });
    }
  }

  /** Creates a job; resolves with its normalised view. */
  async create(spec: CreateJobInput): Promise<JobView> {
    return (await this.request<{ job: JobView }>(Operation.create, spec, spec.jobId)).job;
  }

  /** One page of this orchestrator's jobs (by `jobId`), filtered by state and labels. */
  async list(query: ListJobsInput = {}): Promise<JobPage> {
    const r = await this.request<JobPage>(Operation.list, query);
    return r.nextCursor === undefined ? { jobs: r.jobs } : { jobs: r.jobs, nextCursor: r.nextCursor };
  }

  /** Every matching job, page after page. */
  async *listAll(query: Omit<ListJobsInput, 'cursor'> = {}): AsyncGenerator<JobView> {
    let cursor: string | undefined;
    do {
      const page = await this.list(cursor === undefined ? query : { ...query, cursor });
      yield* page.jobs;
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /** A job with its next 5 slots. */
  async show(jobId: string): Promise<JobDetails> {
    return (await this.request<{ job: JobDetails }>(Operation.show, { jobId }, jobId)).job;
  }

  /** Changes a job's definition; a new schedule counts from now. */
  async update(jobId: string, patch: JobPatch, opts: UpdateOptions = {}): Promise<JobView> {
    const body = opts.expectedRevision === undefined ? { jobId, patch } : { jobId, patch, expectedRevision: opts.expectedRevision };
    return (await this.request<{ job: JobView }>(Operation.update, body, jobId)).job;
  }

  /**
   * What {@link update} would do, without doing it (`dryRun`, SPEC §4): the job as it would be,
   * and its next 5 slots before and after the change. Nothing is written and no event is
   * published; a refusal (`conflict` for a stale `expectedRevision`, `invalid_request`) is the
   * one the update would get.
   */
  async updateDryRun(jobId: string, patch: JobPatch, opts: UpdateOptions = {}): Promise<UpdateDryRunResult> {
    const body = { jobId, patch, dryRun: true, ...(opts.expectedRevision !== undefined && { expectedRevision: opts.expectedRevision }) };
    const r = await this.request<UpdateDryRunResult>(Operation.update, body, jobId);
    return { job: r.job, dryRun: true, nextRunsBefore: r.nextRunsBefore, nextRunsAfter: r.nextRunsAfter };
  }

  /** Stops the schedule (idempotent); active executions go on. */
  async pause(jobId: string, opts: PauseOptions = {}): Promise<JobView> {
    return (await this.request<{ job: JobView }>(Operation.pause, { ...opts, jobId }, jobId)).job;
  }

  /** Restarts the schedule from the first slot after now. */
  async resume(jobId: string): Promise<JobView> {
    return (await this.request<{ job: JobView }>(Operation.resume, { jobId }, jobId)).job;
  }

  async delete(jobId: string): Promise<void> {
    await this.request<object>(Operation.delete, { jobId }, jobId);
  }

  /** Dispatches one execution now (overlap policy applies unless `ignoreOverlap`). */
  async runNow(jobId: string, opts: RunNowOptions = {}): Promise<RunNowResult> {
    const r = await this.request<RunNowResult>(Operation.run_now, { ...opts, jobId }, jobId);
    return { executionId: r.executionId };
  }

  /**
   * Runs the job's slots in `[from, to)` as executions (`trigger: backfill`, SPEC §10), one after
   * another (`overlapPolicy: 'buffer_all'`, the default) or all at once (`'allow'`). Works on
   * paused jobs; neither `nextRunAt` nor `remainingRuns` moves. With `dryRun` nothing is
   * dispatched: `scheduledAt` lists the slots (the first 1000); `count` is always all of them.
   * More than `SCHED_MAX_BACKFILL` slots is a `LimitExceededError`.
   */
  async backfill(jobId: string, opts: BackfillOptions): Promise<BackfillResult> {
    const body = { ...opts, jobId, from: instant(opts.from), to: instant(opts.to) };
    const r = await this.request<BackfillResult>(Operation.backfill, body, jobId);
    return { count: r.count, scheduledAt: r.scheduledAt, ...(r.backfillId !== undefined && { backfillId: r.backfillId }) };
  }

  /**
   * The slots a schedule would have, without a job (SPEC §11): each with its UTC instant, its wall
   * time and offset in the schedule's zone, and a DST note. Validated as `create` validates a
   * schedule (an `InvalidRequestError` with the same details); nothing is stored.
   */
  async preview(body: PreviewInput): Promise<PreviewResult> {
    const r = await this.request<PreviewResult>(Operation.preview, {
      ...body,
      ...(body.from !== undefined && { from: instant(body.from) }),
      ...(body.startAt instanceof Date && { startAt: instant(body.startAt) }),
      ...(body.endAt instanceof Date && { endAt: instant(body.endAt) }),
    });
    return { runs: r.runs };
  }

  /**
   * What happened to the job's slot at or just before `at` (SPEC §11), from its audit trail alone:
   * the slot (null when there is none), the `outcome`, a one-sentence answer and the ids of the
   * events it was derived from (read them with {@link events}).
   */
  async explain(jobId: string, at: ExplainAt): Promise<ExplainResult> {
    const r = await this.request<ExplainResult>(Operation.explain, { jobId, at: instant(at) }, jobId);
    return {
      slot: r.slot,
      outcome: r.outcome,
      ...(r.executionId !== undefined && { executionId: r.executionId }),
      ...(r.result !== undefined && { result: r.result }),
      ...(r.reason !== undefined && { reason: r.reason }),
      sentence: r.sentence,
      eventIds: r.eventIds,
    };
  }

  /**
   * The orchestrator's audit events (SPEC §7) from the durable `P_EVENTS` stream, through an
   * ordered consumer: in order, from `since`, without gaps. Iterate it with `for await`; `close()`
   * (or leaving the loop) removes the consumer.
   */
  events(opts: EventsOptions = {}): EventStream {
    const ctx: RequestContext = { orchestratorId: this.orchestratorId, operation: 'events', jobId: opts.jobId };
    if (opts.jobId !== undefined && !isValidId(opts.jobId)) {
      throw new InvalidRequestError({ ...ctx, message: `jobId "${opts.jobId}" ${mustMatch(ID_PATTERN)}` });
    }
    const filter = `${this.prefix}.${this.orchestratorId}.events.${opts.jobId ?? '*'}.>`;
    let start: string | undefined;
    if (opts.since !== undefined) {
      const ms = sinceToEpochMs(opts.since, Date.now());
      if (ms === null) {
        throw new InvalidRequestError({ ...ctx, message: `since "${String(opts.since)}" is neither an instant with an offset nor a duration` });
      }
      start = new Date(ms).toISOString();
    }
    const stream = names(this.prefix).eventsStream;
    const open = async (): Promise<Consumer> => {
      try {
        return await jetstream(this.nc).consumers.get(stream, {
          filter_subjects: filter,
          ...(start === undefined ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start }),
        });
      } catch (err) {
        throw new UnavailableError({ ...ctx, message: `cannot read the events stream ${stream}: ${(err as Error).message}`, cause: err });
      }
    };
    return new EventStream(open, opts.follow ?? true);
  }

  /** One command: sent again while the rate limit refuses it (`rateLimitRetries`). */
  private async request<T extends object>(op: Operation, body: object, jobId?: string): Promise<T> {
    const ctx: RequestContext = { orchestratorId: this.orchestratorId, operation: op, jobId: typeof jobId === 'string' ? jobId : undefined };
    const subject = commandSubject(this.prefix, this.orchestratorId, op);
    const data = encoder.encode(JSON.stringify(body));
    const max = this.nc.info?.max_payload;
    if (typeof max === 'number' && max > 0 && data.length > max) throw tooLarge(ctx, data.length, max);
    for (let retry = 0; ; retry++) {
      try {
        return await this.requestOnce<T>(subject, data, ctx);
      } catch (err) {
        if (!(err instanceof LimitExceededError) || !err.rateLimited || retry >= this.rateLimitRetries) throw err;
        await sleep(rateLimitDelay(err.retryAfterMs, retry));
      }
    }
  }

  private async requestOnce<T extends object>(subject: string, data: Uint8Array, ctx: RequestContext): Promise<T> {
    let msg: Msg;
    try {
      msg = await this.nc.request(subject, data, { timeout: this.timeoutMs });
    } catch (err) {
      // the server's max_payload is checked before sending, but the connection may since have
      // moved to a server with a smaller one: nats.js then refuses to publish
      if (isMaxPayloadExceeded(err)) throw tooLarge(ctx, data.length, this.nc.info?.max_payload, err);
      const message = isNoResponders(err)
        ? `no scheduler is listening on ${subject}`
        : `no reply from the scheduler on ${subject}: ${(err as Error).message}`;
      throw new UnavailableError({ ...ctx, message, cause: err });
    }
    let reply: { ok?: unknown; error?: WireError } & Record<string, unknown>;
    try {
      reply = msg.json();
    } catch (err) {
      throw new InternalError({ ...ctx, message: `the reply on ${subject} is not JSON`, cause: err });
    }
    if (typeof reply !== 'object' || reply === null) throw new InternalError({ ...ctx, message: `the reply on ${subject} is not an object` });
    if (reply.ok !== true) throw errorFromWire(reply.error, ctx);
    return reply as unknown as T;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An instant as the wire takes it: a Date as its ISO-8601 string, a string as given. */
const instant = (v: string | Date): string => (v instanceof Date ? v.toISOString() : v);

/**
 * How long to wait before retry number `retry` (0-based) of a rate-limited command: the
 * scheduler's `retryAfterMs` plus up to a fifth of it (and up to 10 ms) of random jitter, so that
 * refused commands do not all come back at the same instant. Without `retryAfterMs` (a
 * scheduler that does not send it) 100 ms doubling per retry. At most 30 s.
 */
export function rateLimitDelay(retryAfterMs: number | undefined, retry: number, random: () => number = Math.random): number {
  const base = retryAfterMs ?? 100 * 2 ** Math.min(retry, 8);
  const jitter = random() * (10 + base / 5);
  return Math.min(MAX_RETRY_DELAY_MS, Math.max(1, Math.round(base + jitter)));
}

/** The NATS client's refusal to publish more than the server's `max_payload` (nats.js: `'payload' max_payload size exceeded`). */
function isMaxPayloadExceeded(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e.message.includes('max_payload size exceeded')) return true;
  }
  return false;
}

/** A request larger than the NATS server accepts: a quota, not an outage, so never `unavailable`. */
function tooLarge(ctx: RequestContext, size: number, max: number | undefined, cause?: unknown): LimitExceededError {
  const limit = max === undefined ? "the NATS server's max_payload" : `the NATS server's max_payload of ${max} bytes`;
  return new LimitExceededError({
    ...ctx,
    message:
      `the ${ctx.operation} request is ${size} bytes, more than ${limit}; ` +
      `requests are bounded by the server's max_payload, and inputs/args by the scheduler's SCHED_MAX_INPUT_BYTES`,
    details: [{ path: '', message: max === undefined ? `at most the server's max_payload` : `at most ${max} bytes (max_payload)` }],
    ...(cause !== undefined && { cause }),
  });
}

function isNoResponders(err: unknown): boolean {
  if (err instanceof NoRespondersError) return true;
  if (err instanceof RequestError && err.isNoResponders()) return true;
  return (err as { cause?: unknown } | null)?.cause instanceof NoRespondersError;
}

/**
 * `since` as epoch ms: a Date, epoch ms, an ISO-8601 instant with an offset as the scheduler
 * accepts instants (`INSTANT_PATTERN`: `Z`, `+hh:mm` or `+hhmm`, not an hour-only `+hh`), or a
 * duration ago. Anything else is null.
 */
export function sinceToEpochMs(since: Date | number | string, now: number): number | null {
  if (since instanceof Date) return Number.isFinite(since.getTime()) ? since.getTime() : null;
  if (typeof since === 'number') return Number.isFinite(since) ? since : null;
  const instant = parseInstant(since);
  if (instant !== null) return instant;
  try {
    return now - parseDuration(since);
  } catch {
    return null;
  }
}

function parseEvent(data: Uint8Array): SchedulerEvent | null {
  try {
    const e = JSON.parse(new TextDecoder().decode(data)) as SchedulerEvent | null;
    return typeof e === 'object' && e !== null && typeof e.type === 'string' ? e : null;
  } catch {
    return null;
  }
}

/**
 * Audit events as an async iterable (one iteration). Without `follow` it ends after the last
 * event that was stored when it started.
 */
export class EventStream implements AsyncIterable<SchedulerEvent> {
  private consumer: Consumer | null = null;
  private messages: ConsumerMessages | null = null;
  private closed = false;

  constructor(
    private readonly open: () => Promise<Consumer>,
    private readonly follow: boolean,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<SchedulerEvent> {
    if (this.closed) return;
    try {
      this.consumer = await this.open();
      if (this.closed) return;
      if (!this.follow && (await this.consumer.info(true)).num_pending === 0) return;
      this.messages = await this.consumer.consume();
      if (this.closed) return;
      for await (const m of this.messages) {
        if (this.closed) return;
        const last = !this.follow && m.info.pending === 0;
        const e = parseEvent(m.data);
        if (e !== null) yield e; // anything else is not an event the scheduler wrote: skipped
        if (this.closed || last) return;
      }
    } finally {
      await this.close();
    }
  }

  /** Ends the iteration and removes the server-side consumer. */
  async close(): Promise<void> {
    if (this.closed && this.messages === null && this.consumer === null) return;
    this.closed = true;
    const messages = this.messages;
    const consumer = this.consumer;
    this.messages = null;
    this.consumer = null;
    // stop, not close: close() waits for the iterator to be drained, which an abandoned loop never does
    messages?.stop();
    if (consumer) await consumer.delete().catch(() => undefined);
  }
}
