import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { schedulerRoot } from './scheduler.js';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** A frame's file, relative to this repository or to the checkout the scheduler ran from (`--root`). */
function where(url: string): string {
  const p = url.replace(/^file:\/\//, '');
  if (!p) return '(native)';
  for (const root of [schedulerRoot(), ROOT]) {
    if (!p.startsWith(`${root}/`)) continue;
    const rel = path.relative(root, p);
    // the compiled service (dist/x.js) is reported as its source (src/x.ts)
    return rel.startsWith('dist/') ? `src/${rel.slice(5).replace(/\.js$/, '.ts')}` : rel;
  }
  return p;
}

/** Groups a file into a package (node_modules/<pkg>) or a src/ folder, for the by-area table. */
function area(file: string): string {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (nm) return nm[1]!;
  if (file.startsWith('src/')) return file.split('/').slice(0, 2).join('/');
  if (file.startsWith('node:')) return 'node internals';
  return file === '(native)' ? '(native / gc / idle)' : file;
}

/** Top self-time functions and self time per area of one `.cpuprofile`. */
export function summarizeProfile(file: string, top = 25): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const file = where(n.callFrame.url);
    // tsx-transpiled files report no useful line; node_modules lines are real
    const key = `${name}  ${file}${n.callFrame.url && n.callFrame.lineNumber > 0 ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = name === '(garbage collector)' ? '(garbage collector)' : area(file);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const busy = total - idle;
  // inclusive time of src/ functions: each sample counts once for every src/ function on its stack
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: CpuNode): string => `${n.callFrame.functionName || '(anonymous)'}  ${where(n.callFrame.url)}`;
  const incl = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (!where(n.callFrame.url).startsWith('src/')) continue;
      const k = keyOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  // self time charged to the nearest src/ function on the stack: which of ours pays for the
  // library and native time (JSON, the NATS client, XState) under it
  const payer = new Map<string, number>();
  for (const [id, us] of self) {
    const name = byId.get(id)!.callFrame.functionName;
    if (name === '(idle)' || name === '(program)') continue;
    let key = name === '(garbage collector)' ? '(garbage collector)' : '(no src/ frame)';
    if (name !== '(garbage collector)') {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const n = byId.get(cur)!;
        if (where(n.callFrame.url).startsWith('src/')) {
          key = keyOf(n);
          break;
        }
      }
    }
    payer.set(key, (payer.get(key) ?? 0) + us);
  }
  const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const lines = [
    `profile ${path.relative(ROOT, file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)}%)`,
    '  self time by area (% of busy):',
    ...[...areas].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `    ${pct(v)}  ${k}`),
    `  top ${top} functions by self time (% of busy):`,
    ...[...fns].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `    ${pct(v)}  ${k}`),
    `  top ${top} src/ functions by inclusive time (% of busy):`,
    ...[...incl].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `    ${pct(v)}  ${k}`),
    `  top ${top} src/ functions by the self time under them down to the next src/ function (% of busy):`,
    ...[...payer].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `    ${pct(v)}  ${k}`),
  ];
  return lines.join('\n');
}

/** Summaries of every profile under `dir` (one sub-directory per figure). */
export function summarizeProfiles(dir: string): string {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.cpuprofile')) files.push(p);
    }
  };
  walk(dir);
  return files.length === 0 ? `no CPU profiles under ${dir}` : files.map((f) => summarizeProfile(f)).join('\n\n');
}

// `tsx bench/lib/profile.ts <file-or-dir>` prints the summary of a profile taken by hand.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const target = process.argv[2];
  if (!target) {
    process.stderr.write('usage: tsx bench/lib/profile.ts <file.cpuprofile | dir>\n');
    process.exit(2);
  }
  process.stdout.write(`${statSync(target).isDirectory() ? summarizeProfiles(target) : summarizeProfile(target, 40)}\n`);
}
