import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../../test/helpers/nats-server.js';
import { diffWrites, streamWrites, sum } from '../lib/jetstream.js';
import { expectedSlots, Orchestrators, SlotTracker, type IntervalJob } from '../lib/orchestrators.js';
import { CpuMeter } from '../lib/proc.js';
import { SchedulerProcess } from '../lib/scheduler.js';
import { fmtInt, fmtMs, fmtRate, progress, sleep } from '../lib/util.js';
import { verdict, type BenchContext, type Row } from './types.js';

const PREFIX = 'benchload';
const ORCHESTRATORS = 50;

interface StepResult {
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

/**
 * Figures 2 and 3 on one scheduler process. Figure 2: interval jobs whose slots are spread evenly
 * (1,000 triggers/s), an orchestrator that accepts and completes at once; lateness = dispatch
 * received − scheduledAt over a measured window, and every expected slot checked for exactly one
 * arrival. Figure 3: jobs every second are added step by step to raise the trigger rate until
 * p99 lateness reaches 1 s or a slot is missed; JetStream writes are counted from stream sequences.
 */
export async function load(ctx: BenchContext): Promise<Row[]> {
  const q = ctx.quick;
  const n2 = q ? 2_000 : 10_000;
  const every2 = q ? 2_000 : 10_000;
  const window2 = q ? 4_000 : 60_000;
  const window3 = q ? 2_000 : 20_000;
  const steps = q ? [2_000] : [1_500, 2_000, 3_000, 4_000, 6_000, 8_000];
  const lateWaitMs = q ? 3_000 : 10_000;
  const rate2 = (n2 * 1000) / every2;

  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  let sched: SchedulerProcess | null = null;
  const orch = new Orchestrators(nc, PREFIX).serve('complete');
  try {
    sched = await SchedulerProcess.start(nc, {
      natsUrl: server.url,
      prefix: PREFIX,
      cpuProfDir: ctx.cpuProfDir && path.join(ctx.cpuProfDir, 'load'),
    });
    const pids = [sched.pid, server.pid, process.pid];
    const jobs: IntervalJob[] = [];
    const create = async (count: number, every: number, lead: number, tag: string): Promise<number> => {
      const t0 = Math.ceil((Date.now() + lead) / 1000) * 1000;
      const base = jobs.length;
      for (let i = 0; i < count; i++) {
        jobs.push({ orchestratorId: `o${(base + i) % ORCHESTRATORS}`, jobId: `${tag}${i}`, startAt: t0 + Math.floor((i * every) / count), every });
      }
      const r = await orch.createMany(count, 256, (i) => {
        const j = jobs[base + i]!;
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
      progress(`load: created ${count} jobs (every ${every} ms) in ${fmtMs(r.elapsedMs)}`);
      return t0;
    };

    const measure = async (from: number, windowMs: number, rate: number): Promise<StepResult> => {
      const to = from + windowMs;
      const tracker = new SlotTracker(from, to);
      orch.onDispatch = (d) => tracker.record(d);
      await sleep(Math.max(0, from - Date.now()));
      const w0 = await streamWrites(jsm, PREFIX);
      const d0 = orch.dispatches;
      const cpu = new CpuMeter(pids);
      const t0 = performance.now();
      await sleep(Math.max(0, to - Date.now()));
      const secs = (performance.now() - t0) / 1000;
      const cpuUse = cpu.read();
      const w = diffWrites(await streamWrites(jsm, PREFIX), w0);
      const triggers = orch.dispatches - d0;
      // late arrivals of slots inside the window still count (lateness), up to lateWaitMs
      const want = [...expectedSlots(jobs, from, to)];
      const end = Date.now() + lateWaitMs;
      while (tracker.perSlot.size < want.length && Date.now() < end) await sleep(100);
      await sleep(300);
      orch.onDispatch = null;
      sched!.assertAlive();
      const c = tracker.check(want);
      const total = sum(w);
      const short = (k: string): string => k.replace(`KV_${PREFIX}_`, 'kv:').replace(`${PREFIX}_`, '');
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
        writesPerSec: total / secs,
        writesPerTrigger: triggers > 0 ? total / triggers : Number.NaN,
        writeDetail: Object.entries(w)
          .map(([k, v]) => `${short(k)} ${(v / Math.max(1, triggers)).toFixed(2)}`)
          .join(', '),
        cpu: `scheduler ${cpuUse[0]!.toFixed(0)}%, nats-server ${cpuUse[1]!.toFixed(0)}%, load generator ${cpuUse[2]!.toFixed(0)}%`,
      };
    };

    const describe = (s: StepResult): string =>
      `${fmtRate(s.rate)}: p50 ${fmtMs(s.p50)}, p99 ${fmtMs(s.p99)}, max ${fmtMs(s.max)}, slots ${fmtInt(s.expected)} ` +
      `(missing ${s.missing}, duplicated ${s.duplicated} of which ${s.duplicatedOtherId} under another execution id, non-schedule triggers ${s.nonSchedule}), ` +
      `${fmtRate(s.writesPerSec)} JetStream writes = ${s.writesPerTrigger.toFixed(2)}/trigger (${s.writeDetail}); CPU ${s.cpu}`;

    // ---- figure 2 -------------------------------------------------------------------------
    const lead = Math.max(3_000, n2 * 0.8 + 2_000);
    const t0 = await create(n2, every2, lead, 'l');
    const from2 = Math.max(t0, Date.now()) + every2 + (q ? 1_000 : 5_000);
    progress(`load: figure 2 measuring ${window2 / 1000} s from ${new Date(from2).toISOString()}`);
    const s2 = await measure(from2, window2, rate2);
    progress(`load: ${describe(s2)}`);

    // ---- figure 3 -------------------------------------------------------------------------
    const sustained = (s: StepResult): boolean => s.p99 < 1_000 && s.missing === 0 && s.duplicated === 0;
    const results: StepResult[] = [s2];
    let current = rate2;
    // step up only from a sustained rate
    for (const rate of sustained(s2) ? steps : []) {
      const add = rate - current;
      const tStart = await create(add, 1_000, 2_000, `r${rate}_`);
      current = rate;
      const from = Math.max(tStart, Date.now()) + 2_000;
      const s = await measure(from, window3, rate);
      results.push(s);
      progress(`load: ${describe(s)}`);
      if (!sustained(s)) break;
    }
    const best = results.filter(sustained).at(-1);
    const ceilingPerSec = ctx.shared.ceilingPerSec;

    ctx.notes.push(
      `2. Lateness: ${fmtInt(n2)} interval jobs every ${every2 / 1000} s over ${ORCHESTRATORS} orchestrators, startAt staggered ` +
        `${every2 / n2} ms apart (${fmtRate(rate2)}); the load generator answers {accepted:true} and publishes the completion at once. ` +
        `Window ${window2 / 1000} s after one full period of warm-up. ${describe(s2)}.`,
      `3. Throughput: after figure 2, jobs every 1 s are added to reach each rate (${steps.map(fmtInt).join(', ')}/s), ` +
        `${window3 / 1000} s measured per step; a rate is sustained when p99 < 1 s, no slot is missing and none is duplicated. ` +
        `Writes are the growth of every stream's last sequence (KV bucket, events, executions = the orchestrator's completions). ` +
        (results.length > 1 ? results.slice(1).map(describe).join(' | ') : `Not stepped up: ${fmtRate(rate2)} itself was not sustained.`),
    );
    if (!best) {
      return [
        ...figure2Rows(s2),
        { figure: '3. Sustained trigger rate (p99 < 1 s)', target: '≥ 1,000/s', measured: `< ${fmtRate(rate2)} (p99 ${fmtMs(s2.p99)} at ${fmtRate(rate2)})`, status: 'MISS' },
      ];
    }
    const ratio = ceilingPerSec ? best.writesPerSec / ceilingPerSec : Number.NaN;
    const maxTried = results.at(-1)!;
    return [
      ...figure2Rows(s2),
      {
        figure: '3. Sustained trigger rate (p99 < 1 s, all persisted)',
        target: '≥ 1,000/s',
        measured: `${fmtRate(best.rate)}${maxTried !== best ? ` (${fmtRate(maxTried.rate)}: p99 ${fmtMs(maxTried.p99)}, ${maxTried.missing} missing)` : ' (highest step tried)'}`,
        status: verdict(best.rate >= 1_000),
      },
      {
        figure: '3. JetStream writes at that rate / ceiling',
        target: '—',
        measured: `${fmtRate(best.writesPerSec)} (${best.writesPerTrigger.toFixed(1)}/trigger) = ${Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)}%` : 'n/a'} of ceiling`,
        status: 'info',
      },
    ];
  } finally {
    orch.close();
    if (sched) {
      const code = await sched.stop();
      if (code !== 0) progress(`load: scheduler exited with ${code}; last log lines:\n${sched.stderrTail.join('\n')}`);
      if (sched.warnLines > 0) {
        progress(`load: scheduler logged ${sched.warnLines} warn/error lines; first:\n${sched.firstLines.join('\n')}\nlast: ${sched.stderrTail.at(-1)}`);
        ctx.notes.push(`2/3. The scheduler logged ${sched.warnLines} warn/error lines during figures 2-3; the first: ${sched.firstLines[0]?.slice(0, 300)}`);
      }
    }
    await nc.drain().catch(() => undefined);
    await server.dispose();
  }
}

function figure2Rows(s: StepResult): Row[] {
  return [
    { figure: '2. Trigger lateness p50 @1,000/s', target: '≤ 5 ms', measured: fmtMs(s.p50), status: verdict(s.p50 <= 5) },
    { figure: '2. Trigger lateness p99 @1,000/s', target: '≤ 50 ms', measured: fmtMs(s.p99), status: verdict(s.p99 <= 50) },
    {
      figure: '2. Missed / duplicated slots',
      target: '0 / 0',
      measured: `${s.missing} / ${s.duplicated} of ${fmtInt(s.expected)}`,
      status: verdict(s.missing === 0 && s.duplicated === 0),
    },
  ];
}

