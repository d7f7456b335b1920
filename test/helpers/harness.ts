import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { Scheduler, type SchedulerOptions } from '../../src/runtime/scheduler.js';
import { startNatsServer, type NatsServerHandle } from './nats-server.js';

let prefixSeq = 0;
/** A prefix no other test of this file uses, so tests sharing a server never see each other. */
export const uniquePrefix = (): string => `t${process.pid.toString(36)}${(prefixSeq++).toString(36)}`;

export interface Reply {
  ok: boolean;
  error?: { code: string; message: string; details?: unknown };
  [k: string]: unknown;
}

export interface ReplyWithHeaders {
  body: Reply;
  headers: Record<string, string>;
}

export async function until<T>(fn: () => T | undefined | false | null | Promise<T | undefined | false | null>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface AuditEventWire {
  id: string;
  type: string;
  at: string;
  orchestratorId: string;
  jobId: string;
  executionId?: string;
  data: Record<string, unknown>;
}

export interface DispatchWire {
  executionId: string;
  orchestratorId: string;
  jobId: string;
  scheduledAt: string;
  firedAt: string;
  trigger: string;
  attempt: number;
  firesAt?: string;
  action: Record<string, unknown>;
  receivedAt: number;
  subject: string;
}

/** An orchestrator as a test plays it: commands, a dispatch handler, completions, event watching. */
export class Orchestrator {
  readonly dispatches: DispatchWire[] = [];
  readonly events: AuditEventWire[] = [];
  private subs: Subscription[] = [];
  /** What to answer a dispatch: `{accepted: true}` by default; `null` means no reply. */
  answer: (d: DispatchWire) => object | null = () => ({ accepted: true });

  constructor(
    readonly nc: NatsConnection,
    readonly prefix: string,
    readonly id: string,
  ) {}

  async cmd(op: string, body: unknown = {}): Promise<Reply> {
    return (await this.cmdWithHeaders(op, body)).body;
  }

  async cmdWithHeaders(op: string, body: unknown = {}, raw?: Uint8Array | string): Promise<ReplyWithHeaders> {
    const m = await this.nc.request(`${this.prefix}.${this.id}.schedule.${op}`, raw ?? JSON.stringify(body), { timeout: 10_000 });
    const headers: Record<string, string> = {};
    if (m.headers) for (const [k, v] of m.headers) headers[k] = v.join(',');
    return { body: m.json<Reply>(), headers };
  }

  /** Answers dispatches (see `answer`) and records them. */
  serveDispatches(): this {
    this.subs.push(
      this.nc.subscribe(`${this.prefix}.${this.id}.dispatch.>`, {
        callback: (_err, m: Msg) => {
          const d = { ...m.json<DispatchWire>(), receivedAt: Date.now(), subject: m.subject };
          this.dispatches.push(d);
          const a = this.answer(d);
          if (a !== null) m.respond(JSON.stringify(a));
        },
      }),
    );
    return this;
  }

  /** Records every event of this orchestrator (live subscription). */
  watchEvents(): this {
    this.subs.push(
      this.nc.subscribe(`${this.prefix}.${this.id}.events.>`, {
        callback: (_err, m: Msg) => {
          this.events.push(m.json<AuditEventWire>());
        },
      }),
    );
    return this;
  }

  /** Publishes a completion as a request, so the JetStream PubAck is the receipt. */
  async complete(executionId: string, jobId: string, status = 'succeeded', extra: object = {}): Promise<void> {
    await this.nc.request(`${this.prefix}.${this.id}.execution.completed`, JSON.stringify({ executionId, jobId, status, ...extra }), { timeout: 5_000 });
  }

  async heartbeat(executionId: string, jobId: string): Promise<void> {
    await this.nc.request(`${this.prefix}.${this.id}.execution.heartbeat`, JSON.stringify({ executionId, jobId }), { timeout: 5_000 });
  }

  eventsOf(type: string, jobId?: string): AuditEventWire[] {
    return this.events.filter((e) => e.type === type && (jobId === undefined || e.jobId === jobId));
  }

  waitEvent(type: string, pred: (e: AuditEventWire) => boolean = () => true, timeoutMs = 10_000): Promise<AuditEventWire> {
    return until(() => this.events.find((e) => e.type === type && pred(e)), timeoutMs, `event ${type}`);
  }

  dispatchesOf(jobId: string): DispatchWire[] {
    return this.dispatches.filter((d) => d.jobId === jobId);
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }
}

/** What a test may inject into a scheduler besides its environment. */
export type SchedulerExtras = Partial<Pick<SchedulerOptions, 'clock' | 'machine' | 'inspect'>>;

export interface SchedulerUnderTest {
  scheduler: Scheduler;
  nc: NatsConnection;
  config: Config;
  stop(): Promise<void>;
}

/** Runs a scheduler in this process against `url` (its own connection). */
export async function startScheduler(
  url: string,
  env: Record<string, string> = {},
  opts: SchedulerExtras = {},
): Promise<SchedulerUnderTest> {
  const config = loadConfig({ NATS_URL: url, SCHED_HTTP_PORT: '0', LOG_LEVEL: 'silent', ...env });
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const scheduler = await Scheduler.start({ config, nc, log, ...opts });
  return {
    scheduler,
    nc,
    config,
    stop: async () => {
      await scheduler.stop();
      await nc.drain().catch(() => undefined);
    },
  };
}

/** A server for one test file, with helpers to make orchestrators and schedulers on it. */
export class TestBed {
  private closers: (() => Promise<void> | void)[] = [];

  private constructor(readonly server: NatsServerHandle) {}

  static async start(): Promise<TestBed> {
    return new TestBed(await startNatsServer());
  }

  async scheduler(env: Record<string, string> = {}, opts: SchedulerExtras = {}): Promise<SchedulerUnderTest> {
    const s = await startScheduler(this.server.url, env, opts);
    this.closers.push(() => s.stop());
    return s;
  }

  async orchestrator(prefix: string, id: string): Promise<Orchestrator> {
    const nc = await connect({ servers: this.server.url });
    const o = new Orchestrator(nc, prefix, id);
    this.closers.push(async () => {
      o.close();
      await nc.close();
    });
    return o;
  }

  async dispose(): Promise<void> {
    for (const c of this.closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await this.server.dispose();
  }
}
