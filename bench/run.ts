/**
 * `npm run bench [-- --quick] [-- --only=1,2] [-- --cpu-prof]`: starts its own nats-server(s) and
 * scheduler process(es), plays orchestrators over NATS and prints one table of figures against
 * their targets, plus the machine. Never part of `npm test`.
 *
 *   --quick      smaller sizes and shorter windows (same code paths); under a minute
 *   --only=LIST  figures to run (1 ceiling, 2,3 load, 4,5 scale and recovery, 5b downtime ratio alone, 6 next slot, 7 failover,
 *               8 explain with 100,000 jobs and a day of events, 9 the load of figure 2 on BullMQ job schedulers side by side: needs redis-server, skipped without)
 *   --cpu-prof   run every scheduler under `node --cpu-prof`; profiles and their top functions
 *                land in bench/.profiles/<figure>/
 *   --heap-snapshot  figure 4 takes a V8 heap snapshot of the scheduler after creating its jobs
 *                and prints the memory per object kind (bench/.profiles/heap/)
 *   --root=DIR   run the scheduler (and the schedule module of figure 6) of another checkout
 *   --rate2=R    figure 2 at R triggers/s instead of 1,000 (CPU per trigger below saturation on a slow machine)
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bullmqSideBySide } from './figures/bullmq.js';
import { explainCost } from './figures/explain.js';
import { ceiling } from './figures/ceiling.js';
import { failover } from './figures/failover.js';
import { load } from './figures/load.js';
import { nextSlot } from './figures/nextslot.js';
import { downtimeRatio, scaleAndRecovery } from './figures/scale.js';
import type { BenchContext, Row } from './figures/types.js';
import { loadLine, machineLine } from './lib/machine.js';
import { summarizeProfiles } from './lib/profile.js';
import { buildScheduler, schedulerEntry } from './lib/scheduler.js';
import { progress } from './lib/util.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

interface Figure {
  /** what `--only` matches: figure numbers, and `5b` for the downtime ratio alone */
  ids: string[];
  run: (ctx: BenchContext) => Promise<Row[]>;
}

const FIGURES: Figure[] = [
  { ids: ['1'], run: ceiling },
  { ids: ['2', '3'], run: load },
  { ids: ['4', '5'], run: scaleAndRecovery },
  { ids: ['5', '5b'], run: downtimeRatio },
  { ids: ['6'], run: nextSlot },
  { ids: ['7'], run: failover },
  { ids: ['8'], run: explainCost },
  { ids: ['9'], run: bullmqSideBySide },
];

function parseArgs(argv: string[]): { quick: boolean; only: Set<string> | null; cpuProf: boolean; heap: boolean; rate2: number | undefined } {
  let quick = false;
  let cpuProf = false;
  let heap = false;
  let only: Set<string> | null = null;
  let rate2: number | undefined;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a === '--cpu-prof') cpuProf = true;
    else if (a === '--heap-snapshot') heap = true;
    else if (a.startsWith('--only=')) only = new Set(a.slice(7).split(','));
    else if (a.startsWith('--root=')) process.env.BENCH_ROOT = path.resolve(a.slice(7));
    else if (a.startsWith('--rate2=') && Number(a.slice(8)) > 0) rate2 = Number(a.slice(8));
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench -- [--quick] [--only=1,2,3,4,5,5b,6,7,8,9] [--cpu-prof] [--heap-snapshot] [--root=DIR] [--rate2=R]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return { quick, only, cpuProf, heap, rate2 };
}

function table(rows: Row[]): string {
  const head = ['figure', 'target', 'measured', 'result'];
  const cells = rows.map((r) => [r.figure, r.target, r.measured, r.status]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cpuProfDir = args.cpuProf ? path.join(HERE, '.profiles') : undefined;
  const heapDir = args.heap ? path.join(HERE, '.profiles', 'heap') : undefined;
  for (const d of [cpuProfDir, heapDir]) {
    if (!d) continue;
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
  }
  const ctx: BenchContext = { quick: args.quick, cpuProfDir, heapDir, notes: [], shared: {}, rate2: args.rate2 };
  const rows: Row[] = [];
  const started = performance.now();
  progress(`building the scheduler (npm run build): ${schedulerEntry().label}`);
  buildScheduler();
  const loadBefore = loadLine('before:');
  progress(loadBefore);
  for (const f of FIGURES) {
    if (args.only && !f.ids.some((id) => args.only!.has(id))) continue;
    progress(`figure ${f.ids.join('+')}…`);
    try {
      rows.push(...(await f.run(ctx)));
    } catch (err) {
      progress(`figure ${f.ids.join('+')} failed: ${(err as Error).stack ?? String(err)}`);
      rows.push({ figure: `${f.ids.join('+')}. (failed)`, target: '—', measured: (err as Error).message.split('\n')[0]!.slice(0, 80), status: 'MISS' });
    }
  }
  const secs = (performance.now() - started) / 1000;
  const out = [
    '',
    `Scheduler benchmarks (${args.quick ? 'quick' : 'full'} run, ${secs.toFixed(0)} s)`,
    `machine: ${machineLine()}`,
    `scheduler: ${schedulerEntry().label}`,
    `${loadBefore}; ${loadLine('after:')}`,
    '',
    table(rows),
    '',
    'How each figure was taken:',
    ...ctx.notes.map((n) => `  ${n}`),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (cpuProfDir) process.stdout.write(`${summarizeProfiles(cpuProfDir)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
