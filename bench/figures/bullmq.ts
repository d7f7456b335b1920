import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Job } from 'bullmq';
import { anchorAfter, creationLead, describeStep, firstSlotFrom, measureWindow, SchedulerLoad, spreadJobs, type LoadStep } from '../lib/loadgen.js';
import { loadLine } from '../lib/machine.js';
import type { DispatchSeen } from '../lib/orchestrators.js';
import { REDIS_MISSING, RedisServer, findRedisServer, redisVersion } from '../lib/redis.js';
import { fmtInt, fmtMs, fmtRate, pipelined, progress, wallNow } from '../lib/util.js';
import type { BenchContext, Row } from './types.js';

const EVERY = 2_000;
const WORKER_CONCURRENCY = 100;

interface Side {
  p50: number;
  p99: number;
  max: number;
  expected: number;
  missing: number;
  duplicated: number;
  detail: string;
  /** the error when this side could not be measured at this rate (the other side and rates still are) */
  failed?: string;
}

/** One side at one rate; a failure (a process that exited, a create that failed) is that cell's result. */
async function isolated(who: string, rate: number, f: () => Promise<Side>): Promise<Side> {
  try {
    return await f();
  } catch (err) {
    const msg = (err as Error).message.replace(/\s+/g, ' ');
    progress(`bullmq: ${who} at ${fmtRate(rate)} failed: ${(err as Error).stack ?? msg}`);
    const nan = Number.NaN;
    return { p50: nan, p99: nan, max: nan, expected: nan, missing: nan, duplicated: nan, detail: `failed: ${msg.slice(0, 300)}`, failed: msg };
  }
}

interface Timing {
  windowMs: number;
  warmupMs: number;
  lateWaitMs: number;
}

const bullmqVersion = (): string => {
  try {
    const pkg = createRequire(import.meta.url).resolve('bullmq/package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

/**
 * Figure 9: the load of figure 2 (R·2 interval jobs every 2 s, anchors spread evenly over the period,
 * so R triggers/s) on this scheduler and on BullMQ job schedulers, one after the other, at each rate
 * R. Each side gets a fresh server (nats-server + scheduler process; redis-server with AOF every
 * second) and the same window after one period of warm-up.
 */
export async function bullmqSideBySide(ctx: BenchContext): Promise<Row[]> {
  const q = ctx.quick;
  const rates = q ? [1_000, 2_000] : [1_000, 2_000, 5_000];
  const timing: Timing = { windowMs: q ? 8_000 : 20_000, warmupMs: q ? 1_000 : 5_000, lateWaitMs: q ? 3_000 : 10_000 };
  const bin = findRedisServer();
  if (!bin) {
    progress(`bullmq: ${REDIS_MISSING}`);
    ctx.notes.push(`9. BullMQ side by side: ${REDIS_MISSING}.`);
    return [{ figure: '9. BullMQ side by side', target: '—', measured: REDIS_MISSING, status: 'info' }];
  }
  const rows: Row[] = [];
  const lines: string[] = [];
  const table: string[][] = [];
  for (const rate of rates) {
    const n = (rate * EVERY) / 1000;
    const before = loadLine('load');
    progress(`bullmq: ${fmtRate(rate)} (${fmtInt(n)} jobs every ${EVERY / 1000} s) on this scheduler; ${before}`);
    const ours = await isolated('this scheduler', rate, () => oursAt(ctx, rate, n, timing));
    lines.push(`this @${fmtRate(rate)}: ${ours.detail}`);
    progress(`bullmq: this scheduler ${ours.detail}`);
    progress(`bullmq: ${fmtRate(rate)} on BullMQ job schedulers`);
    const theirs = await isolated('BullMQ', rate, () => bullmqAt(rate, n, timing));
    lines.push(`BullMQ @${fmtRate(rate)}: ${theirs.detail}`);
    progress(`bullmq: BullMQ ${theirs.detail}`);
    const missed = (s: Side): string => (s.failed ? 'n/a' : fmtInt(s.missing));
    const p99Ratio = ours.p99 > 0 && Number.isFinite(theirs.p99) ? `${(theirs.p99 / ours.p99).toFixed(1)}×` : 'n/a';
    const side = (s: Side): string => (s.failed ? `failed (${s.failed.slice(0, 60)})` : `${fmtMs(s.p50)} / ${fmtMs(s.p99)} / ${fmtInt(s.missing)}`);
    table.push([fmtRate(rate), side(ours), side(theirs), `p99 ${p99Ratio}; missed ${missed(ours)} vs ${missed(theirs)}`, os.loadavg()[0]!.toFixed(2)]);
    rows.push({
      figure: `9. This vs BullMQ @${fmtRate(rate)} (p50 / p99 / missed)`,
      target: '—',
      measured: `${side(ours)} vs ${side(theirs)}; BullMQ p99 / this p99 = ${p99Ratio}`,
      status: 'info',
    });
  }
  const head = ['rate', 'this p50 / p99 / missed', 'BullMQ p50 / p99 / missed', 'ratio (BullMQ p99 / this p99; missed)', 'load avg after'];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const fmtRow = (c: string[]): string => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  ctx.notes.push(
    `9. BullMQ side by side: the load of figure 2 at ${rates.map(fmtInt).join(', ')} triggers/s (R·2 interval jobs every ${EVERY / 1000} s, anchors ` +
      `spread evenly over the period), ${timing.windowMs / 1000} s measured after one period and ${timing.warmupMs / 1000} s of warm-up, one side at a time (the other's processes stopped) ` +
      `(${os.cpus().length} cores, node ${process.version}). This: one scheduler process + nats-server, an orchestrator that accepts and completes at once, ` +
      `lateness = dispatch received − scheduledAt. BullMQ ${bullmqVersion()}: queue.upsertJobScheduler(id, {every: ${EVERY}, startDate: anchor}) per job ` +
      `(removeOnComplete), one Worker (concurrency ${WORKER_CONCURRENCY}) in the load generator whose processor returns at once, a private redis-server ` +
      `${redisVersion(bin)} (--appendonly yes --appendfsync everysec --save ''); lateness = processor start − the job's slot, the <nextMillis> of its id ` +
      `repeat:<schedulerId>:<nextMillis> (the instant it was delayed to; job.delay reads 0 once promoted and opts.prevMillis is not carried past the first ` +
      `iteration). Missed = slots due in the window without an arrival within ${timing.lateWaitMs / 1000} s after it; duplicated = extra arrivals of a slot.`,
    fmtRow(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...table.map(fmtRow),
    ...lines,
  );
  return rows;
}

const sideOf = (s: LoadStep): Side => ({ ...s, detail: describeStep(s) });

async function oursAt(ctx: BenchContext, rate: number, n: number, t: Timing): Promise<Side> {
  const run = await SchedulerLoad.start({
    prefix: `benchvs${rate}`,
    orchestrators: 50,
    label: 'bullmq (this):',
    cpuProfDir: ctx.cpuProfDir && path.join(ctx.cpuProfDir, `bullmq-vs-${rate}`),
  });
  try {
    const t0 = await run.create(n, EVERY, creationLead(n), 'v');
    const from = Math.max(t0, Date.now()) + EVERY + t.warmupMs;
    return sideOf(await run.measure(from, t.windowMs, rate, t.lateWaitMs));
  } finally {
    const warned = await run.close();
    if (warned) ctx.notes.push(`9. The scheduler logged ${warned.warnLines} warn/error lines at ${fmtRate(rate)}; the first: ${warned.first}`);
  }
}

async function bullmqAt(rate: number, n: number, t: Timing): Promise<Side> {
  const { Queue, Worker } = await import('bullmq');
  const redis = await RedisServer.start();
  if (!redis) throw new Error(REDIS_MISSING);
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const name = `bench${rate}`;
  const queue = new Queue(name, { connection });
  let seen: ((d: DispatchSeen) => void) | null = null;
  let errors = 0;
  let firstError = '';
  const worker = new Worker(
    name,
    async (job: Job) => {
      const receivedAt = wallNow();
      const id = job.id ?? '';
      seen?.({ executionId: id, orchestratorId: 'o0', jobId: job.repeatJobKey ?? '', scheduledAt: Number(id.slice(id.lastIndexOf(':') + 1)), trigger: 'schedule', receivedAt });
    },
    { connection, concurrency: WORKER_CONCURRENCY },
  );
  worker.on('error', (err) => {
    errors++;
    firstError ||= err.message;
  });
  try {
    await worker.waitUntilReady();
    const t0 = anchorAfter(creationLead(n));
    const jobs = spreadJobs(n, EVERY, t0, 'b');
    let failed = 0;
    let moved = 0;
    const ms = await pipelined(n, 256, async (i) => {
      const j = jobs[i]!;
      // a startDate already past when the upsert runs would start the scheduler at "now", off its grid
      const startDate = firstSlotFrom(j, Date.now() + 1_000);
      if (startDate !== j.startAt) moved++;
      try {
        await queue.upsertJobScheduler(j.jobId, { every: j.every, startDate }, { name: 'bench', data: { n: i }, opts: { removeOnComplete: true, removeOnFail: true } });
      } catch (err) {
        failed++;
        firstError ||= (err as Error).message;
      }
    });
    if (failed > 0) throw new Error(`${failed} upsertJobScheduler failed: ${firstError}`);
    progress(`bullmq: created ${fmtInt(n)} job schedulers (every ${EVERY} ms) in ${fmtMs(ms)}${moved ? `, ${fmtInt(moved)} of them started a period later` : ''}`);
    const from = Math.max(t0, Date.now()) + EVERY + t.warmupMs;
    const m = await measureWindow({
      jobs,
      from,
      windowMs: t.windowMs,
      lateWaitMs: t.lateWaitMs,
      pids: [redis.pid, process.pid],
      attach: (tr) => (seen = tr && ((d) => tr.record(d))),
    });
    const { tracker, check: c, cpu } = m;
    const s = { p50: tracker.lateness.pct(50), p99: tracker.lateness.pct(99), max: tracker.lateness.max(), expected: c.expected, missing: c.missing, duplicated: c.duplicated };
    return {
      ...s,
      detail:
        `${fmtRate(rate)}: p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}, max ${fmtMs(s.max)}, slots ${fmtInt(s.expected)} (missing ${s.missing}, duplicated ${s.duplicated}); ` +
        `worker errors ${errors}${firstError ? ` (${firstError.slice(0, 160)})` : ''}; CPU redis-server ${cpu[0]!.toFixed(0)}%, worker = load generator ${cpu[1]!.toFixed(0)}%`,
    };
  } finally {
    await worker.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    await redis.stop();
  }
}
