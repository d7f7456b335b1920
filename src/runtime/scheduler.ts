import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { Config } from '../config.js';
import type { Operation } from '../contract/constants.js';
import { SchedulerError, notFound } from '../contract/errors.js';
import { isValidId } from '../contract/ids.js';
import { completionSchema, heartbeatSchema, issueDetails } from '../contract/schemas.js';
import { systemClock, type Clock } from '../actors/clock.js';
import { looseEvent, parseCommand, Supervisor, type SupervisorLimits } from '../actors/supervisor.js';
import { TimerQueue } from '../actors/timerQueue.js';
import type { JobActor, JobActorDeps } from '../actors/jobActor.js';
import type { JobRecord } from '../core/record.js';
import { Metrics } from './metrics.js';
import { RateLimiter } from './rateLimit.js';
import { jobMachine, type JobMachine } from '../machines/jobMachine.js';
import { JobStore } from '../store/jobStore.js';
import { CommandServer, parseBody } from '../transport/commandServer.js';
import { Dispatcher } from '../transport/dispatcher.js';
import { EventPublisher } from '../transport/eventPublisher.js';
import { ExecutionConsumer, type ExecutionKind } from '../transport/executionConsumer.js';
import { ensureStreams } from '../transport/streams.js';
import { names, type Names } from '../transport/subjects.js';

export interface SchedulerOptions {
  config: Config;
  /** A connected client; the scheduler does not close it (the caller drains it). */
  nc: NatsConnection;
  log: Logger;
  clock?: Clock;
  /** The job machine; tests provide one with injected faults. */
  machine?: JobMachine;
  inspect?: (e: InspectionEvent) => void;
  metrics?: Metrics;
}

/**
 * The scheduler: loads every stored job, runs one supervisor per orchestrator, serves commands
 * and consumes completions. `start` resolves when it is ready (state loaded, misfires handled).
 */
export class Scheduler {
  private readonly supervisors = new Map<string, Supervisor>();
  private ready = false;
  private stopping: Promise<void> | null = null;
  private commands!: CommandServer;
  private executions!: ExecutionConsumer;
  private timers!: TimerQueue;
  private dispatcher!: Dispatcher;
  private publisher!: EventPublisher;
  private deps!: JobActorDeps;
  private readonly limits: SupervisorLimits;
  private readonly rateLimiter: RateLimiter;
  readonly metrics: Metrics;
  readonly names: Names;

  private constructor(private readonly opts: SchedulerOptions) {
    this.names = names(opts.config.SCHED_PREFIX);
    this.limits = {
      maxJobsPerOrchestrator: opts.config.SCHED_MAX_JOBS_PER_ORCHESTRATOR,
      maxInputBytes: opts.config.SCHED_MAX_INPUT_BYTES,
      minIntervalMs: opts.config.SCHED_MIN_INTERVAL_MS,
    };
    this.rateLimiter = new RateLimiter(opts.config.SCHED_RATE_LIMIT, opts.config.SCHED_RATE_LIMIT * 2);
    this.metrics = opts.metrics ?? new Metrics();
    this.metrics.bind({ records: () => this.records(), pendingEvents: () => this.publisher?.pending ?? 0 });
  }

  /** Every job record held (a live view; for metrics and tools). */
  *records(): Generator<JobRecord> {
    for (const a of this.jobActors()) yield a.record;
  }

  /** Every job actor held. */
  *jobActors(): Generator<JobActor> {
    for (const s of this.supervisors.values()) yield* s.actors();
  }

  static async start(opts: SchedulerOptions): Promise<Scheduler> {
    const s = new Scheduler(opts);
    await s.boot();
    return s;
  }

  get isReady(): boolean {
    return this.ready;
  }

  get jobCount(): number {
    let n = 0;
    for (const s of this.supervisors.values()) n += s.size;
    return n;
  }

  private async boot(): Promise<void> {
    const { nc, log, config } = this.opts;
    const clock = this.opts.clock ?? systemClock;
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, this.names, config.SCHED_EVENTS_MAX_AGE);
    const store = await JobStore.open(js, this.names.jobsBucket);
    this.publisher = new EventPublisher(js, this.names.prefix, log, (e) => this.metrics.observe(e));
    this.dispatcher = new Dispatcher(nc, this.names.prefix);
    this.timers = new TimerQueue(clock, (key) => this.onTimer(key));
    this.deps = {
      store,
      publisher: this.publisher,
      dispatcher: this.dispatcher,
      timers: this.timers,
      clock,
      log,
      machine: this.opts.machine ?? jobMachine,
      inspect: this.opts.inspect,
    };
    this.commands = new CommandServer(nc, this.names.prefix, this.names.queueGroup, (o, op, body) => this.timed(o, op, body), log);
    this.commands.start();

    // Load every job, apply what orchestrators reported while we were down, then let each job
    // handle what it missed (misfire policy) and arm its timer.
    const started = Date.now();
    const loaded = [];
    for await (const stored of store.loadAll()) {
      loaded.push(this.supervisor(stored.record.orchestratorId, true)!.adopt(stored));
    }
    this.executions = new ExecutionConsumer(js, jsm, this.names, (o, kind, data) => this.execution(o, kind, data), log);
    await this.executions.start();
    if (!(await this.executions.caughtUp(10_000))) log.warn('execution backlog not fully processed before recovery');
    await runLimited(loaded, 256, (a) => a.recover());
    log.info({ jobs: loaded.length, ms: Date.now() - started }, 'jobs loaded');
    this.ready = true;
    log.info({ prefix: this.names.prefix, server: nc.info?.version }, 'scheduler ready');
  }

  private supervisor(orchestratorId: string, create: boolean): Supervisor | undefined {
    let s = this.supervisors.get(orchestratorId);
    if (!s && create) {
      s = new Supervisor(orchestratorId, this.deps, this.limits);
      this.supervisors.set(orchestratorId, s);
    }
    return s;
  }

  private onTimer(key: string): void {
    const dot = key.indexOf('.');
    this.supervisors.get(key.slice(0, dot))?.tick(key.slice(dot + 1));
  }

  private async timed(orchestratorId: string, op: Operation, body: unknown): Promise<object> {
    const end = this.metrics.commandDuration.startTimer({ op });
    try {
      const r = await this.command(orchestratorId, op, body);
      end({ code: 'ok' });
      return r;
    } catch (err) {
      end({ code: err instanceof SchedulerError ? err.code : 'internal' });
      throw err;
    }
  }

  /** One command of SPEC §4 for one orchestrator. */
  async command(orchestratorId: string, op: Operation, raw: unknown): Promise<object> {
    if (!this.ready) throw new SchedulerError('unavailable', this.stopping ? 'shutting down' : 'not ready');
    if (!this.rateLimiter.take(orchestratorId)) {
      throw new SchedulerError('limit_exceeded', `more than ${this.opts.config.SCHED_RATE_LIMIT} commands a second`);
    }
    switch (op) {
      case 'create':
        return this.supervisor(orchestratorId, true)!.create(parseCommand(op, raw));
      case 'list': {
        const q = parseCommand(op, raw);
        return this.supervisor(orchestratorId, false)?.list(q) ?? { jobs: [] };
      }
      case 'show': {
        const b = parseCommand(op, raw);
        return this.owner(orchestratorId, b.jobId).show(b);
      }
      case 'update': {
        const b = parseCommand(op, raw);
        return this.owner(orchestratorId, b.jobId).update(b);
      }
      case 'pause': {
        const b = parseCommand(op, raw);
        return this.owner(orchestratorId, b.jobId).pause(b);
      }
      case 'resume': {
        const b = parseCommand(op, raw);
        return this.owner(orchestratorId, b.jobId).resume(b);
      }
      case 'delete': {
        const b = parseCommand(op, raw);
        return this.owner(orchestratorId, b.jobId).delete(b);
      }
      case 'run_now': {
        const b = parseCommand(op, raw);
        return this.owner(orchestratorId, b.jobId).runNow(b);
      }
    }
  }

  /** The supervisor of the orchestrator that may hold `jobId`; `not_found` when it has no jobs. */
  private owner(orchestratorId: string, jobId: string): Supervisor {
    const s = this.supervisor(orchestratorId, false);
    if (!s) throw notFound(jobId);
    return s;
  }

  /** A completion or heartbeat from `P_EXECUTIONS`; the orchestrator is the subject's. */
  async execution(orchestratorId: string, kind: ExecutionKind, data: Uint8Array): Promise<void> {
    const sup = isValidId(orchestratorId) ? this.supervisor(orchestratorId, false) : undefined;
    let body: unknown;
    try {
      body = parseBody(data);
    } catch (err) {
      if (kind === 'completed') await this.rejected(orchestratorId, null, null, 'malformed', { message: (err as Error).message });
      return;
    }
    if (kind === 'heartbeat') {
      const h = heartbeatSchema.safeParse(body);
      if (h.success) await sup?.heartbeat(h.data);
      else this.opts.log.warn({ orchestratorId, issues: issueDetails(h.error) }, 'malformed heartbeat ignored');
      return;
    }
    const c = completionSchema.safeParse(body);
    if (!c.success) {
      const b = body as Record<string, unknown>;
      await this.rejected(orchestratorId, isValidId(b.jobId) ? b.jobId : null, typeof b.executionId === 'string' && /^[A-Za-z0-9_-]{1,128}$/.test(b.executionId) ? b.executionId : null, 'malformed', {
        issues: issueDetails(c.error),
      });
      return;
    }
    if (!sup) {
      await this.rejected(orchestratorId, c.data.jobId, c.data.executionId, 'unknown_job', { status: c.data.status });
      return;
    }
    await sup.completion(c.data);
  }

  private async rejected(o: string, jobId: string | null, executionId: string | null, reason: string, data: Record<string, unknown>): Promise<void> {
    this.opts.log.warn({ orchestratorId: o, jobId, executionId, reason }, 'completion rejected');
    await this.publisher.publish([looseEvent(o, jobId, executionId, this.deps.clock.now(), { reason, ...data })]);
  }

  /**
   * Clean shutdown: stop taking commands and completions, stop timers and retries, let every
   * job finish what it is writing, then give pending event publishes a moment to land.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ready = false;
      await this.commands.stop();
      await this.executions?.stop();
      this.timers.stop();
      this.dispatcher.close();
      const idle: Promise<unknown>[] = [];
      for (const s of this.supervisors.values()) for (const a of s.actors()) idle.push(a.run(async () => undefined));
      await Promise.allSettled(idle);
      for (const s of this.supervisors.values()) s.stop();
      await this.publisher.close(2_000);
    })();
    return this.stopping;
  }
}

async function runLimited<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < items.length) await fn(items[i++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
