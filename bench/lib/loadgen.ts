import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../../test/helpers/nats-server.js';
import { diffWrites, streamWrites, sum } from './jetstream.js';
import { expectedSlots, Orchestrators, SlotTracker, type IntervalJob } from './orchestrators.js';
import { CpuMeter } from './proc.js';
import { SchedulerProcess } from './scheduler.js';
import { fmtInt, fmtMs, fmtRate, progress, sleep } from './util.js';

/**
 * The sustained-load generator shared by the load figures (2, 3) and the side-by-side figure (8):
 * interval jobs whose anchors are spread evenly over their period, and a measured window in which
 * every expected slot is checked for exactly one arrival.
 */

/** The first whole second at least `leadMs` from now: the anchor of the first job of a batch. */
export const anchorAfter = (leadMs: number): number => Math.ceil((Date.now() + leadMs) / 1000) * 1000;

/** How long before its first slot a batch of `count` jobs is anchored (room to create them all). */
export const creationLead = (count: number): number => Math.max(3_000, count * 0.8 + 2_000);

/**
 * `count` interval jobs every `every` ms anchored from `t0`, job i at t0 + ⌊i·every/count⌋ (slots
 * spread evenly: count·1000/every triggers/s), over `orchestrators` orchestrators `o0..`.
 */
export function spreadJobs(count: number, every: number, t0: number, tag: string, base = 0, orchestrators = 1): IntervalJob[] {
  return Array.from({ length: count }, (_, i) => ({
    orchestratorId: `o${(base + i) % orchestrators}`,
    jobId: `${tag}${i}`,
    startAt: t0 + Math.floor((i * every) / count),
    every,
  }));
}

/**
 * The job's first slot on its grid (startAt + k·every) that is at least `notBefore`: a job created
 * after its anchor passed (creation slower than the lead) starts there instead of catching up.
 */
export const firstSlotFrom = (j: IntervalJob, notBefore: number): number =>
  j.startAt >= notBefore ? j.startAt : j.startAt + Math.ceil((notBefore - j.startAt) / j.every) * j.every;

export interface WindowOptions {
  jobs: readonly IntervalJob[];
  from: number;
  windowMs: number;
  /** after the window, late arrivals of its slots still count (lateness), up to this long */
  lateWaitMs: number;
  /** processes whose CPU use is measured over the window */
  pids: (number | undefined)[];
  /** routes every arrival to the tracker (null: stop) */
  attach: (tracker: SlotTracker | null) => void;
  /** at the start and the end of the window (counters read around it) */
  onStart?: () => Promise<void>;
  onEnd?: (secs: number) => Promise<void>;
}

export interface WindowResult {
  tracker: SlotTracker;
  check: ReturnType<SlotTracker['check']>;
  /** measured seconds */
  secs: number;
  /** % of one core per pid of `pids` */
  cpu: number[];
}

/** Lateness of the first arrival of each slot in [from, from + windowMs), missing and duplicated slots. */
export async function measureWindow(o: WindowOptions): Promise<WindowResult> {
  const to = o.from + o.windowMs;
  const tracker = new SlotTracker(o.from, to);
  o.attach(tracker);
  try {
    await sleep(Math.max(0, o.from - Date.now()));
    await o.onStart?.();
    const meter = new CpuMeter(o.pids);
    const t0 = performance.now();
    await sleep(Math.max(0, to - Date.now()));
    const secs = (performance.now() - t0) / 1000;
    const cpu = meter.read();
    await o.onEnd?.(secs);
    const want = [...expectedSlots(o.jobs, o.from, to)];
    const end = Date.now() + o.lateWaitMs;
    while (tracker.perSlot.size < want.length && Date.now() < end) await sleep(100);
    await sleep(300);
    return { tracker, check: tracker.check(want), secs, cpu };
  } finally {
    o.attach(null);
  }
}

/** One measured window of this project's scheduler. */
export interface LoadStep {
  rate: number;
  p50: number;
  p99: number;
  max: number;
  expected: number;
  missing: number;
  duplicated: number;
  duplicatedOtherId: number;
  nonSchedule: number;
  writesPerSec: number;
  writesPerTrigger: number;
  writeDetail: string;
  cpu: string;
}

export const describeStep = (s: LoadStep): string =>
  `${fmtRate(s.rate)}: p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}, max ${fmtMs(s.max)}, slots ${fmtInt(s.expected)} ` +
  `(missing ${s.missing}, duplicated ${s.duplicated} of which ${s.duplicatedOtherId} under another execution id, non-schedule triggers ${s.nonSchedule}), ` +
  `${fmtRate(s.writesPerSec)} JetStream writes = ${s.writesPerTrigger.toFixed(2)}/trigger (${s.writeDetail}); CPU ${s.cpu}`;

export interface SchedulerLoadOptions {
  prefix: string;
  orchestrators: number;
  /** progress lines start with it */
  label: string;
  cpuProfDir?: string | undefined;
}

/**
 * One nats-server, one scheduler process (`src/main.ts`) and the orchestrators of one prefix that
 * accept every dispatch and publish its completion at once; interval jobs are created in batches.
 */
export class SchedulerLoad {
  readonly jobs: IntervalJob[] = [];
  private sched: SchedulerProcess | null = null;

  private constructor(
    private readonly o: SchedulerLoadOptions,
    private readonly server: NatsServerHandle,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly orch: Orchestrators,
  ) {}

  static async start(o: SchedulerLoadOptions): Promise<SchedulerLoad> {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url, noAsyncTraces: true });
    const load = new SchedulerLoad(o, server, nc, await jetstreamManager(nc), new Orchestrators(nc, o.prefix).serve('complete'));
    try {
      load.sched = await SchedulerProcess.start(nc, { natsUrl: server.url, prefix: o.prefix, cpuProfDir: o.cpuProfDir });
    } catch (err) {
      await load.close();
      throw err;
    }
    return load;
  }

  /** Creates `count` jobs every `every` ms (tag + index as job id), anchored `lead` ms ahead; resolves with the first anchor. */
  async create(count: number, every: number, lead: number, tag: string): Promise<number> {
    const t0 = anchorAfter(lead);
    const base = this.jobs.length;
    this.jobs.push(...spreadJobs(count, every, t0, tag, base, this.o.orchestrators));
    const r = await this.orch.createMany(count, 256, (i) => {
      const j = this.jobs[base + i]!;
      j.startAt = firstSlotFrom(j, Date.now() + 500);
      return {
        orchestratorId: j.orchestratorId,
        body: {
          jobId: j.jobId,
          schedule: { kind: 'interval', every: j.every },
          startAt: new Date(j.startAt).toISOString(),
          target: { type: 'workflow_start', workflowId: 'wf-bench', inputs: { n: base + i } },
        },
      };
    });
    if (r.failed > 0) throw new Error(`${r.failed} creates failed: ${r.firstError}`);
    progress(`${this.o.label} created ${count} jobs (every ${every} ms) in ${fmtMs(r.elapsedMs)}`);
    return t0;
  }

  /** The window [from, from + windowMs) of every job created so far; JetStream writes counted from stream sequences. */
  async measure(from: number, windowMs: number, rate: number, lateWaitMs: number): Promise<LoadStep> {
    const { prefix } = this.o;
    let w0: Record<string, number> = {};
    let w: Record<string, number> = {};
    let d0 = 0;
    let triggers = 0;
    const m = await measureWindow({
      jobs: this.jobs,
      from,
      windowMs,
      lateWaitMs,
      pids: [this.sched!.pid, this.server.pid, process.pid],
      attach: (t) => (this.orch.onDispatch = t && ((d) => t.record(d))),
      onStart: async () => {
        w0 = await streamWrites(this.jsm, prefix);
        d0 = this.orch.dispatches;
      },
      onEnd: async () => {
        w = diffWrites(await streamWrites(this.jsm, prefix), w0);
        triggers = this.orch.dispatches - d0;
      },
    });
    this.sched!.assertAlive();
    const total = sum(w);
    const short = (k: string): string => k.replace(`KV_${prefix}_`, 'kv:').replace(`${prefix}_`, '');
    const { tracker, check: c, cpu } = m;
    return {
      rate,
      p50: tracker.lateness.pct(50),
      p99: tracker.lateness.pct(99),
      max: tracker.lateness.max(),
      expected: c.expected,
      missing: c.missing,
      duplicated: c.duplicated,
      duplicatedOtherId: tracker.otherExecutionId,
      nonSchedule: tracker.nonScheduleTriggers,
      writesPerSec: total / m.secs,
      writesPerTrigger: triggers > 0 ? total / triggers : Number.NaN,
      writeDetail: Object.entries(w)
        .map(([k, v]) => `${short(k)} ${(v / Math.max(1, triggers)).toFixed(2)}`)
        .join(', '),
      cpu: `scheduler ${cpu[0]!.toFixed(0)}%, nats-server ${cpu[1]!.toFixed(0)}%, load generator ${cpu[2]!.toFixed(0)}%`,
    };
  }

  /**
   * Stops the scheduler (SIGTERM), the connection and nats-server. Resolves with the first warn/error
   * line the scheduler logged, if any (the caller notes it).
   */
  async close(): Promise<{ warnLines: number; first: string } | null> {
    const { label } = this.o;
    this.orch.close();
    let warned: { warnLines: number; first: string } | null = null;
    const sched = this.sched;
    if (sched) {
      const code = await sched.stop();
      if (code !== 0) progress(`${label} scheduler exited with ${code}; last log lines:\n${sched.stderrTail.join('\n')}`);
      if (sched.warnLines > 0) {
        progress(`${label} scheduler logged ${sched.warnLines} warn/error lines; first:\n${sched.firstLines.join('\n')}\nlast: ${sched.stderrTail.at(-1)}`);
        warned = { warnLines: sched.warnLines, first: sched.firstLines[0]?.slice(0, 300) ?? '' };
      }
    }
    await this.nc.drain().catch(() => undefined);
    await this.server.dispose();
    return warned;
  }
}
