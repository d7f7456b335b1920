import path from 'node:path';
import { creationLead, describeStep as describe, SchedulerLoad, type LoadStep as StepResult } from '../lib/loadgen.js';
import { fmtInt, fmtMs, fmtRate, progress } from '../lib/util.js';
import { verdict, type BenchContext, type Row } from './types.js';

const PREFIX = 'benchload';
const ORCHESTRATORS = 50;

/**
 * Figures 2 and 3 on one scheduler process. Figure 2: interval jobs whose slots are spread evenly
 * (1,000 triggers/s), an orchestrator that accepts and completes at once; lateness = dispatch
 * received − scheduledAt over a measured window, and every expected slot checked for exactly one
 * arrival. Figure 3: jobs every second are added step by step to raise the trigger rate until
 * p99 lateness reaches 1 s or a slot is missed; JetStream writes are counted from stream sequences.
 */
export async function load(ctx: BenchContext): Promise<Row[]> {
  const q = ctx.quick;
  const every2 = q ? 2_000 : 10_000;
  const n2 = Math.round(((ctx.rate2 ?? 1_000) * every2) / 1000);
  const window2 = q ? 4_000 : 60_000;
  const window3 = q ? 2_000 : 20_000;
  const steps = q ? [2_000] : [1_500, 2_000, 3_000, 4_000, 6_000, 8_000];
  const lateWaitMs = q ? 3_000 : 10_000;
  const rate2 = (n2 * 1000) / every2;

  const run = await SchedulerLoad.start({
    prefix: PREFIX,
    orchestrators: ORCHESTRATORS,
    label: 'load:',
    cpuProfDir: ctx.cpuProfDir && path.join(ctx.cpuProfDir, 'load'),
  });
  try {
    const create = run.create.bind(run);
    const measure = (from: number, windowMs: number, rate: number): Promise<StepResult> => run.measure(from, windowMs, rate, lateWaitMs);

    // ---- figure 2 -------------------------------------------------------------------------
    const t0 = await create(n2, every2, creationLead(n2), 'l');
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
    const warned = await run.close();
    if (warned) ctx.notes.push(`2/3. The scheduler logged ${warned.warnLines} warn/error lines during figures 2-3; the first: ${warned.first}`);
  }
}

function figure2Rows(s: StepResult): Row[] {
  return [
    { figure: `2. Trigger lateness p50 @${fmtRate(s.rate)}`, target: '≤ 5 ms', measured: fmtMs(s.p50), status: verdict(s.p50 <= 5) },
    { figure: `2. Trigger lateness p99 @${fmtRate(s.rate)}`, target: '≤ 50 ms', measured: fmtMs(s.p99), status: verdict(s.p99 <= 50) },
    {
      figure: '2. Missed / duplicated slots',
      target: '0 / 0',
      measured: `${s.missing} / ${s.duplicated} of ${fmtInt(s.expected)}`,
      status: verdict(s.missing === 0 && s.duplicated === 0),
    },
  ];
}

