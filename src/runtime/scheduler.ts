import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { Config } from '../config.js';
import type { Operation } from '../contract/constants.js';
import { SchedulerError, notFound } from '../contract/errors.js';
import { isValidExecutionId, isValidId } from '../contract/ids.js';
import { completionSchema, heartbeatSchema, issueDetails } from '../contract/schemas.js';
import { systemClock, type Clock } from '../actors/clock.js';
import { looseEvent, parseCommand, Supervisor, type CommandBody, type SupervisorLimits } from '../actors/supervisor.js';
import { TimerQueue } from '../actors/timerQueue.js';
import type { JobActor, JobActorDeps } from '../actors/jobActor.js';
import type { JobRecord } from '../core/record.js';
import { Metrics } from './metrics.js';
import { FailureLog } from './failureLog.js';
import { RateLimitedError, RateLimiter } from './rateLimit.js';
import { jobMachine, type JobMachine } from '../machines/jobMachine.js';
import { JobStore } from '../store/jobStore.js';
import { CommandServer, parseBody } from '../transport/commandServer.js';
import { Dispatcher } from '../transport/dispatcher.js';
import { CancelSender } from '../transport/canceller.js';
import { JetStreamTrail } from '../transport/trail.js';
import { Watchdog, WATCHDOG_EVERY_MS, type OverdueJob } from './watchdog.js';
import { preview } from '../core/preview.js';
import { Pipeline } from '../transport/pipeline.js';
import { EventPublisher } from '../transport/eventPublisher.js';
import { ackWaitMs, ExecutionConsumer, type ExecutionKind } from '../transport/executionConsumer.js';
import { ensureReplicas, resolveReplicas } from '../transport/replicas.js';
import { ensureStreams } from '../transport/streams.js';
import { names, type Names } from '../transport/subjects.js';
import { forward, serveForwarding, type ForwardRequest } from '../transport/forwarding.js';
import { LeaseManager } from '../cluster/leases.js';
import { commandStatsFromHistogram, startDiscovery, type Discovery } from '../transport/discovery.js';
import { VERSION } from './version.js';
import { OrchestratorRegistry } from '../cluster/registry.js';
import { Ownership } from '../cluster/ownership.js';
import type { Subscription } from '@nats-io/transport-node';

export interface SchedulerOptions {
  config: Config;
  /** A connected client; the scheduler does not close it (the caller drains it). */
  nc: NatsConnection;
  /**
   * A second connection for lease renewals (default: `nc`), so that they do not queue behind job
   * writes under load. The scheduler does not close it either.
   */
  leaseNc?: NatsConnection;
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
  private timers!: TimerQueue<JobActor>;
  private dispatcher!: Dispatcher;
  private publisher!: EventPublisher;
  private deps!: JobActorDeps;
  private store!: JobStore;
  private pipeline: Pipeline | null = null;
  private leases!: LeaseManager;
  private registry!: OrchestratorRegistry;
  private forwardSub: Subscription | null = null;
  private discovery: Discovery | null = null;
  private balancer: NodeJS.Timeout | null = null;
  private readonly watchdog: Watchdog;
  private watchdogTimer: NodeJS.Timeout | null = null;
  /** Ownership and rebalancing of the orchestrators (src/cluster/ownership.ts). */
  private ownership!: Ownership;
  private readonly limits: SupervisorLimits;
  private readonly rateLimiter: RateLimiter;
  private disconnected = false;
  private readonly balanceLog: FailureLog;
  private readonly takeoverLog: FailureLog;
  readonly metrics: Metrics;
  readonly names: Names;

  private constructor(private readonly opts: SchedulerOptions) {
    this.names = names(opts.config.SCHED_PREFIX);
    this.limits = {
      maxJobsPerOrchestrator: opts.config.SCHED_MAX_JOBS_PER_ORCHESTRATOR,
      maxInputBytes: opts.config.SCHED_MAX_INPUT_BYTES,
      minIntervalMs: opts.config.SCHED_MIN_INTERVAL_MS,
      maxBackfill: opts.config.SCHED_MAX_BACKFILL,
    };
    this.rateLimiter = new RateLimiter(opts.config.SCHED_RATE_LIMIT, opts.config.SCHED_RATE_LIMIT * 2);
    this.metrics = opts.metrics ?? new Metrics();
    this.balanceLog = new FailureLog(opts.log, 'rebalancing (taking and keeping orchestrator leases)');
    this.takeoverLog = new FailureLog(opts.log, 'loading the jobs of an orchestrator taken over (lease given back)');
    this.watchdog = new Watchdog({
      records: () => this.records(),
      now: () => (opts.clock ?? systemClock).now(),
      publish: (events) => this.publisher.publish(events),
      replicaId: () => this.leases?.replicaId ?? '',
    });
    this.metrics.bind({ records: () => this.records(), pendingEvents: () => this.publisher?.pending ?? 0, overdueJobs: () => this.watchdog.overdue.length });
  }

  /** Jobs that should have fired and did not (the watchdog's last look; SPEC §11). */
  overdueJobs(): readonly OverdueJob[] {
    return this.watchdog.overdue;
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
    return this.readiness().ready;
  }

  /**
   * Can this replica act? Not before its state is loaded, not while its NATS connection is down,
   * and not while rebalancing fails (JetStream unreachable: it could neither take an orchestrator
   * nor keep one). `/readyz` answers 503 with the reasons.
   */
  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.ready) reasons.push(this.stopping ? 'shutting down' : 'starting');
    if (this.opts.nc.isClosed()) reasons.push('NATS connection closed');
    else if (this.disconnected) reasons.push('disconnected from NATS');
    if (this.balanceLog.isFailing) reasons.push('cannot reach JetStream (ownership and state)');
    return { ready: reasons.length === 0, reasons };
  }

  /** Follows the main connection's status, for readiness. */
  private watchConnection(): void {
    void (async () => {
      for await (const s of this.opts.nc.status()) {
        if (s.type === 'disconnect') this.disconnected = true;
        else if (s.type === 'reconnect') this.disconnected = false;
      }
    })().catch(() => undefined);
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
    const { replicas, clusterSize } = await resolveReplicas(nc, jsm, this.names, config.SCHED_STREAM_REPLICAS);
    log.info({ replicas, clusterSize, configured: config.SCHED_STREAM_REPLICAS ?? null }, 'stream replicas');
    await ensureStreams(jsm, this.names, config.SCHED_EVENTS_MAX_AGE, replicas);
    // the hot path's writes and dispatches: sent together per turn of the event loop (group commit)
    this.pipeline = new Pipeline(nc);
    this.store = await JobStore.open(js, this.names.jobsBucket, replicas, this.pipeline);
    this.registry = await OrchestratorRegistry.open(js, this.names.orchestratorsBucket, replicas);
    // A renewal that gets no answer gives up after a third of the TTL (at least 1 s), and the next
    // round tries again; if it landed after all, the lease keeps the validity it gave.
    const leaseJs = jetstream(this.opts.leaseNc ?? nc, { timeout: Math.max(1_000, Math.floor(config.SCHED_LEASE_TTL_MS / 3)) });
    this.leases = await LeaseManager.open(leaseJs, this.names.leasesBucket, config.SCHED_LEASE_TTL_MS, log, (o, epoch) => this.ownership.lose(o, epoch), replicas);
    this.ownership = new Ownership({
      leases: this.leases,
      registry: this.registry,
      supervisors: this.supervisors,
      loadAll: (o) => this.store.loadAll(o),
      supervisor: (o, epoch, fence) => new Supervisor(o, { ...this.deps, fence }, this.limits, epoch),
      caughtUp: (ms) => this.executions.caughtUp(ms),
      pendingFor: (o) => this.publisher.pendingFor(o),
      stopping: () => this.stopping !== null,
      log,
      balanceLog: this.balanceLog,
      takeoverLog: this.takeoverLog,
      leaseTtlMs: config.SCHED_LEASE_TTL_MS,
    });
    await ensureReplicas(jsm, this.names, replicas, log);
    this.publisher = new EventPublisher(this.pipeline, this.names.prefix, log, (e) => this.metrics.observe(e));
    this.dispatcher = new Dispatcher(this.pipeline, this.names.prefix);
    this.timers = new TimerQueue<JobActor>(clock, (actor) => actor.wake());
    this.deps = {
      store: this.store,
      publisher: this.publisher,
      dispatcher: this.dispatcher,
      canceller: new CancelSender(nc, this.names.prefix, log),
      trail: new JetStreamTrail(js, this.names.prefix, this.names.eventsStream),
      maxBuffered: config.SCHED_MAX_BUFFERED,
      coalesceMs: config.SCHED_COALESCE_MS,
      timers: this.timers,
      clock,
      log,
      machine: this.opts.machine ?? jobMachine,
      inspect: this.opts.inspect,
      storageLog: new FailureLog(log, 'job record writes (state rolled back, retried on the next event)'),
    };
    this.forwardSub = serveForwarding(nc, this.names.prefix, this.leases.replicaId, (req) => this.serveForwarded(req), log);
    this.commands = new CommandServer(nc, this.names.prefix, this.names.queueGroup, (o, op, body) => this.timed(o, op, body), log);
    this.commands.start();
    this.executions = new ExecutionConsumer(js, jsm, this.names, (o, kind, data, subject) => this.execution(o, kind, data, subject), log, ackWaitMs(config.SCHED_LEASE_TTL_MS));
    await this.executions.start();

    // Take this replica's share of the orchestrators: load their jobs, apply what orchestrators
    // reported while nobody owned them, then let each job handle what it missed.
    const started = Date.now();
    // A first pass that fails (the server slow to answer under a burst) is not fatal: the
    // rebalancing below takes what is left, as it does after any failed pass.
    await this.ownership.balance().then(
      () => this.balanceLog.succeeded(),
      (err: unknown) => this.balanceLog.failed(err),
    );
    log.info({ jobs: this.jobCount, orchestrators: this.supervisors.size, ms: Date.now() - started }, 'jobs loaded');
    this.balancer = setInterval(
      () =>
        void this.ownership.balance().then(
          () => this.balanceLog.succeeded(),
          (err: unknown) => this.balanceLog.failed(err),
        ),
      this.ownership.balanceEveryMs,
    );
    this.watchdogTimer = setInterval(
      () => void this.watchdog.scan().catch((err: unknown) => log.warn({ err }, 'job.overdue not published (retried on the next look)')),
      WATCHDOG_EVERY_MS,
    );
    this.watchdogTimer.unref();
    this.watchConnection();
    this.balancer.unref();
    this.ready = true;
    this.discovery = await startDiscovery(nc, {
      prefix: this.names.prefix,
      version: VERSION,
      replicaId: this.leases.replicaId,
      commandStats: () => commandStatsFromHistogram(this.metrics.commandDuration),
      ownership: () => this.leases.owned(),
    });
    void this.discovery.stopped.then((err) => {
      if (err && !this.stopping) log.warn({ err }, 'service discovery stopped');
    });
    log.info({ replicaId: this.leases.replicaId, server: nc.info?.version }, 'scheduler ready');
  }

  /** The id of this scheduler process among the replicas. */
  get replicaId(): string {
    return this.leases.replicaId;
  }

  /** The orchestrators this replica owns now. */
  ownedOrchestrators(): string[] {
    return this.leases.owned();
  }

  private forward(owner: string, req: ForwardRequest): Promise<object> {
    return forward(this.opts.nc, this.names.prefix, owner, req);
  }

  /** A request another replica forwarded to this one as the owner. */
  private async serveForwarded(req: ForwardRequest): Promise<object> {
    if (!this.leases.owns(req.o)) throw new SchedulerError('unavailable', 'ownership moved; retry');
    // a takeover of ours still loading the jobs: answer once they are there, as for a request received here
    await this.ownership.adopting(req.o);
    if (req.kind === 'command') return this.local(req.o, req.op, parseCommand(req.op, req.body));
    await this.executionHere(req.o, req.execKind, Buffer.from(req.data, 'base64'), req.subject);
    return {};
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

  private readonly refusals = new Map<string, number>();

  /** Rate-limit refusals are logged once per orchestrator per 10 s, with their count. */
  private noteRefusal(o: string): void {
    const n = (this.refusals.get(o) ?? 0) + 1;
    this.refusals.set(o, n);
    if (n > 1) return;
    setTimeout(() => {
      const count = this.refusals.get(o) ?? 0;
      this.refusals.delete(o);
      this.opts.log.warn({ orchestratorId: o, refused: count, reason: 'rate limit' }, 'commands refused (rate limit)');
    }, 10_000).unref();
  }

  /** One command of SPEC §4 for one orchestrator. */
  async command(orchestratorId: string, op: Operation, raw: unknown): Promise<object> {
    if (!this.ready) throw new SchedulerError('unavailable', this.stopping ? 'shutting down' : 'not ready');
    const retryAfterMs = this.rateLimiter.acquire(orchestratorId);
    if (retryAfterMs > 0) {
      this.noteRefusal(orchestratorId);
      throw new RateLimitedError(`more than ${this.opts.config.SCHED_RATE_LIMIT} commands a second; retry after ${retryAfterMs} ms`, retryAfterMs);
    }
    const body = parseCommand(op, raw); // a bad body is invalid_request wherever the orchestrator lives
    // a preview needs no job: whichever replica the request reaches answers it
    if (op === 'preview') return this.local(orchestratorId, 'preview', body as CommandBody<'preview'>);
    if (op === 'create') await this.registry.register(orchestratorId);
    const where = await this.ownership.route(orchestratorId, this.registry.has(orchestratorId));
    // the owner validates the body again: it may run another version
    if (where !== 'here' && where !== null) return this.forward(where, { kind: 'command', o: orchestratorId, op, body: raw });
    return this.local(orchestratorId, op as Operation, body);
  }

  /** A validated command for an orchestrator this replica owns (or that has no jobs anywhere). */
  private local<Op extends Operation>(orchestratorId: string, op: Op, body: CommandBody<Op>): Promise<object> {
    return (this.handlers[op] as (o: string, b: CommandBody<Op>) => Promise<object>)(orchestratorId, body);
  }

  /** The operations of SPEC §4, each with its validated body, for an orchestrator handled here. */
  private readonly handlers: { [Op in Operation]: (o: string, body: CommandBody<Op>) => Promise<object> } = {
    create: async (o, b) => {
      const s = this.supervisors.get(o);
      if (!s || !this.leases.owns(o)) throw new SchedulerError('unavailable', 'orchestrator is being taken over; retry');
      return s.create(b);
    },
    list: async (o, q) => {
      const s = this.supervisors.get(o);
      if (!s && this.registry.has(o)) throw notLoaded();
      return s?.list(q) ?? { jobs: [] };
    },
    show: async (o, b) => this.local_(o, b.jobId).show(b),
    update: async (o, b) => this.local_(o, b.jobId).update(b),
    pause: async (o, b) => this.local_(o, b.jobId).pause(b),
    resume: async (o, b) => this.local_(o, b.jobId).resume(b),
    delete: async (o, b) => this.local_(o, b.jobId).delete(b),
    run_now: async (o, b) => this.local_(o, b.jobId).runNow(b),
    backfill: async (o, b) => this.local_(o, b.jobId).backfill(b),
    explain: async (o, b) => this.local_(o, b.jobId).explain(b),
    preview: async (_o, b) => preview(b, this.limits, this.deps.clock.now()),
  };

  /**
   * The supervisor of the orchestrator that may hold `jobId`: `not_found` when the orchestrator
   * has no jobs anywhere, `unavailable` when it has some but they are not loaded here (a takeover
   * or handover in progress): never a wrong `not_found` for a job that exists.
   */
  private local_(orchestratorId: string, jobId: string): Supervisor {
    const s = this.supervisors.get(orchestratorId);
    if (s) return s;
    if (this.registry.has(orchestratorId)) throw notLoaded();
    throw notFound(jobId);
  }

  /** A completion or heartbeat from `P_EXECUTIONS`, handled by the replica owning the subject's orchestrator. */
  async execution(orchestratorId: string, kind: ExecutionKind, data: Uint8Array, subject = ''): Promise<void> {
    const where = isValidId(orchestratorId) ? await this.ownership.route(orchestratorId, this.registry.has(orchestratorId)) : null;
    if (where !== 'here' && where !== null) {
      await this.forward(where, { kind: 'execution', o: orchestratorId, execKind: kind, subject, data: Buffer.from(data).toString('base64') });
      return;
    }
    await this.executionHere(orchestratorId, kind, data, subject);
  }

  private async executionHere(orchestratorId: string, kind: ExecutionKind, data: Uint8Array, subject = ''): Promise<void> {
    const sup = isValidId(orchestratorId) ? this.supervisors.get(orchestratorId) : undefined;
    let body: unknown;
    try {
      body = parseBody(data);
    } catch (err) {
      if (kind === 'completed') await this.rejected(orchestratorId, subject, null, null, 'malformed', { message: (err as Error).message });
      else this.opts.log.warn({ orchestratorId, subject, reason: (err as Error).message }, 'malformed heartbeat ignored');
      return;
    }
    if (kind === 'heartbeat') {
      const h = heartbeatSchema.safeParse(body);
      if (h.success) {
        if (!sup && this.registry.has(orchestratorId)) throw notLoaded();
        await sup?.heartbeat(h.data);
      }
      else this.opts.log.warn({ orchestratorId, subject, reason: 'schema violation', issues: issueDetails(h.error) }, 'malformed heartbeat ignored');
      return;
    }
    const c = completionSchema.safeParse(body);
    if (!c.success) {
      const b = body as Record<string, unknown>;
      await this.rejected(orchestratorId, subject, isValidId(b.jobId) ? b.jobId : null, isValidExecutionId(b.executionId) ? b.executionId : null, 'malformed', {
        issues: issueDetails(c.error),
      });
      return;
    }
    if (!sup) {
      // Jobs exist but are not loaded here (a handover or takeover in progress): not ours to judge.
      // The message is not acknowledged, and comes back to whoever owns the orchestrator next.
      if (this.registry.has(orchestratorId)) throw notLoaded();
      await this.rejected(orchestratorId, subject, c.data.jobId, c.data.executionId, 'unknown_job', { status: c.data.status });
      return;
    }
    await sup.completion(c.data);
  }

  private async rejected(o: string, subject: string, jobId: string | null, executionId: string | null, reason: string, data: Record<string, unknown>): Promise<void> {
    this.opts.log.warn({ orchestratorId: o, subject, jobId, executionId, reason }, 'completion rejected');
    await this.publisher.publish([looseEvent(o, jobId, executionId, this.deps.clock.now(), { reason, ...data })]);
  }

  /**
   * Clean shutdown: stop taking commands and completions, stop timers and retries, let every
   * job finish what it is writing, then give pending event publishes a moment to land.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ready = false;
      await this.discovery?.stop();
      if (this.balancer) clearInterval(this.balancer);
      if (this.watchdogTimer) clearInterval(this.watchdogTimer);
      await this.commands.stop();
      await this.executions?.stop();
      this.forwardSub?.unsubscribe();
      this.timers.stop();
      this.dispatcher.close();
      await Promise.allSettled([...this.supervisors.values()].map((s) => this.ownership.retire(s)));
      // events still being retried get a moment; the orchestrators with none left are marked
      // clean, so their next owner does not replay their outboxes (duplicates past the window)
      await this.publisher.close(2_000);
      await this.ownership.markClean([...this.supervisors.keys()]);
      await this.leases.stop();
      this.registry.stop();
      this.pipeline?.close();
    })();
    return this.stopping;
  }
}

const notLoaded = (): SchedulerError => new SchedulerError('unavailable', "the orchestrator's jobs are being loaded (takeover or handover in progress); retry");
