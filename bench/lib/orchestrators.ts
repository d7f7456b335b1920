import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { Samples, pipelined, sleep, wallNow } from './util.js';

export interface Reply {
  ok: boolean;
  error?: { code: string; message: string };
  [k: string]: unknown;
}

export interface DispatchSeen {
  executionId: string;
  orchestratorId: string;
  jobId: string;
  scheduledAt: number;
  trigger: string;
  /** wall-clock epoch ms (sub-ms) at which the dispatch request reached the load generator */
  receivedAt: number;
}

interface DispatchBody {
  executionId: string;
  orchestratorId: string;
  jobId: string;
  scheduledAt: string;
  trigger: string;
}

/**
 * Every orchestrator of one prefix, played by one connection: one wildcard subscription answers
 * all dispatches `{accepted: true}` and at once publishes the completion to
 * `P.<o>.execution.completed`. No per-message logging; a hook sees each dispatch.
 */
export class Orchestrators {
  dispatches = 0;
  /** commands answered `unavailable` and sent again (SPEC §4: unavailable means retry) */
  retries = 0;
  /** creates answered `unavailable` whose retry found the job stored */
  createdOnRetry = 0;
  onDispatch: ((d: DispatchSeen) => void) | null = null;
  private sub: Subscription | null = null;

  constructor(
    readonly nc: NatsConnection,
    readonly prefix: string,
  ) {}

  serve(mode: 'complete' | 'accept' = 'complete'): this {
    this.sub = this.nc.subscribe(`${this.prefix}.*.dispatch.>`, {
      callback: (_err, m: Msg) => {
        const receivedAt = wallNow();
        let d: DispatchBody;
        try {
          d = m.json<DispatchBody>();
        } catch {
          return;
        }
        m.respond('{"accepted":true}');
        if (mode === 'complete') {
          this.nc.publish(
            `${this.prefix}.${d.orchestratorId}.execution.completed`,
            `{"executionId":${JSON.stringify(d.executionId)},"jobId":${JSON.stringify(d.jobId)},"status":"succeeded"}`,
          );
        }
        this.dispatches++;
        this.onDispatch?.({ executionId: d.executionId, orchestratorId: d.orchestratorId, jobId: d.jobId, scheduledAt: Date.parse(d.scheduledAt), trigger: d.trigger, receivedAt });
      },
    });
    return this;
  }

  /**
   * One command; `unavailable` (failover, ownership changing) is retried up to 20 times, as a
   * client would. A `create` retried after `unavailable` that finds its job `already_exists` was
   * stored by the attempt that answered `unavailable`: it counts as created (see `createdOnRetry`).
   */
  async cmd(orchestratorId: string, op: string, body: unknown, timeoutMs = 30_000): Promise<Reply> {
    const subject = `${this.prefix}.${orchestratorId}.schedule.${op}`;
    const data = JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      const r = (await this.nc.request(subject, data, { timeout: timeoutMs })).json<Reply>();
      if (op === 'create' && attempt > 1 && r.error?.code === 'already_exists') {
        this.createdOnRetry++;
        return { ok: true, job: null };
      }
      if (r.ok || r.error?.code !== 'unavailable' || attempt >= 20) return r;
      this.retries++;
      await sleep(Math.min(200, 5 * attempt));
    }
  }

  /** A command's round trip in ms (wall clock of the load generator), or throws when not ok. */
  async timedCmd(orchestratorId: string, op: string, body: unknown): Promise<number> {
    const t0 = performance.now();
    const r = await this.cmd(orchestratorId, op, body, 10_000);
    const ms = performance.now() - t0;
    if (!r.ok) throw new Error(`${op} failed: ${JSON.stringify(r.error)}`);
    return ms;
  }

  /**
   * Creates `count` jobs with at most `window` create requests outstanding. Resolves with the
   * elapsed ms and the failures (first error kept).
   */
  async createMany(
    count: number,
    window: number,
    job: (i: number) => { orchestratorId: string; body: Record<string, unknown> },
  ): Promise<{ elapsedMs: number; failed: number; failedIdx: Set<number>; firstError: string | null }> {
    let failed = 0;
    const failedIdx = new Set<number>();
    let firstError: string | null = null;
    const elapsedMs = await pipelined(count, window, async (i) => {
      const { orchestratorId, body } = job(i);
      try {
        const r = await this.cmd(orchestratorId, 'create', body);
        if (!r.ok) {
          failed++;
          failedIdx.add(i);
          firstError ??= JSON.stringify(r.error);
        }
      } catch (err) {
        failed++;
        failedIdx.add(i);
        firstError ??= (err as Error).message;
      }
    });
    return { elapsedMs, failed, failedIdx, firstError };
  }

  close(): void {
    this.sub?.unsubscribe();
    this.sub = null;
  }
}

/**
 * Dispatches whose `scheduledAt` lies in [from, to): lateness of the first arrival of each slot,
 * arrivals per slot (duplicates), and which expected slots never came.
 */
export class SlotTracker {
  readonly lateness = new Samples();
  readonly perSlot = new Map<string, number>();
  /** the execution id of each slot's first arrival */
  private readonly firstId = new Map<string, string>();
  /** arrivals of a slot under another execution id than its first (SPEC §9: must never happen) */
  otherExecutionId = 0;
  nonScheduleTriggers = 0;

  constructor(
    readonly from: number,
    readonly to: number,
  ) {}

  record(d: DispatchSeen): void {
    if (d.scheduledAt < this.from || d.scheduledAt >= this.to) return;
    const key = `${d.orchestratorId}.${d.jobId}.${d.scheduledAt}`;
    const n = this.perSlot.get(key) ?? 0;
    this.perSlot.set(key, n + 1);
    if (n === 0) {
      this.firstId.set(key, d.executionId);
      this.lateness.add(d.receivedAt - d.scheduledAt);
      if (d.trigger !== 'schedule') this.nonScheduleTriggers++;
    } else if (this.firstId.get(key) !== d.executionId) {
      this.otherExecutionId++;
    }
  }

  /** Compares with the slots that should have fired in the window. */
  check(expected: Iterable<string>): { expected: number; missing: number; duplicated: number; unexpected: number } {
    let n = 0;
    let missing = 0;
    const want = new Set<string>();
    for (const k of expected) {
      n++;
      want.add(k);
      if (!this.perSlot.has(k)) missing++;
    }
    let duplicated = 0;
    let unexpected = 0;
    for (const [k, c] of this.perSlot) {
      if (c > 1) duplicated += c - 1;
      if (!want.has(k)) unexpected++;
    }
    return { expected: n, missing, duplicated, unexpected };
  }
}

/** An interval job as the load generator created it. */
export interface IntervalJob {
  orchestratorId: string;
  jobId: string;
  startAt: number;
  every: number;
}

/** The slot keys (as {@link SlotTracker} writes them) of interval jobs in [from, to). */
export function* expectedSlots(jobs: readonly IntervalJob[], from: number, to: number): Generator<string> {
  for (const j of jobs) {
    let k = Math.max(0, Math.ceil((from - j.startAt) / j.every));
    for (let t = j.startAt + k * j.every; t < to; t = j.startAt + ++k * j.every) {
      if (t >= from) yield `${j.orchestratorId}.${j.jobId}.${t}`;
    }
  }
}
