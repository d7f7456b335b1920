import { appendFileSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { sleep } from './util.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The checkout whose scheduler the benchmarks run: this repository, or `BENCH_ROOT` (`--root`)
 * to measure another snapshot (e.g. `git archive HEAD` unpacked next to a node_modules link).
 */
export const schedulerRoot = (): string => path.resolve(process.env.BENCH_ROOT ?? REPO);

/**
 * What the benchmarks start: the compiled service, as production runs it (`bin/nats-scheduler`,
 * plain node on dist/), built first by `buildScheduler`; an older checkout without that bin runs
 * `src/main.ts` under tsx (its start-up then includes compiling TypeScript).
 */
export function schedulerEntry(): { args: string[]; label: string } {
  const bin = path.join(schedulerRoot(), 'bin/nats-scheduler');
  if (existsSync(bin)) return { args: [bin], label: `${bin} (compiled, dist/)` };
  return { args: ['--import', 'tsx', 'src/main.ts'], label: `${schedulerRoot()}/src/main.ts (tsx)` };
}

/** `npm run build` in the scheduler's checkout, so that dist/ is what its src/ says. */
export function buildScheduler(): void {
  if (!existsSync(path.join(schedulerRoot(), 'bin/nats-scheduler'))) return;
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: schedulerRoot(), stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`npm run build failed in ${schedulerRoot()} (exit ${r.status ?? r.signal})`);
}

export interface SchedulerOptions {
  natsUrl: string;
  prefix: string;
  env?: Record<string, string>;
  /** Write a V8 CPU profile of the scheduler process into this directory (`node --cpu-prof`). */
  cpuProfDir?: string | undefined;
  /** Lets `heapSnapshot()` ask the process for a V8 heap snapshot (written into this directory). */
  heapSnapshotDir?: string | undefined;
  readyTimeoutMs?: number;
}

/** Environment every benchmark scheduler gets (SPEC §8 variables). */
export const BENCH_ENV = {
  LOG_LEVEL: 'warn',
  SCHED_HTTP_PORT: '0',
  SCHED_MAX_JOBS_PER_ORCHESTRATOR: '1000000',
  /** per-orchestrator command rate limit; 0 turns it off (a load generator is not a tenant to throttle) */
  SCHED_RATE_LIMIT: '0',
} as const;

const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * The real scheduler (the compiled service, `schedulerEntry`) as a child process. Readiness is observed from outside, the
 * way an orchestrator sees it: a `show` command is polled until the reply is something other than
 * `unavailable` (the scheduler answers `unavailable` until its jobs are loaded and recovered).
 * With LOG_LEVEL=warn the "scheduler ready" log line is not printed, so the log is not used.
 */
export class SchedulerProcess {
  readonly stderrTail: string[] = [];
  /** the first warn/error lines (the tail shows only the last ones) */
  readonly firstLines: string[] = [];
  warnLines = 0;
  readyAt = 0;
  /** exit code or signal once the process is gone */
  exit: number | string | null = null;
  private exitedP: Promise<number | string>;

  private constructor(
    private readonly child: ChildProcess,
    readonly spawnedAt: number,
  ) {
    this.exitedP = new Promise((resolve) =>
      child.once('exit', (code, sig) => {
        this.exit = code ?? sig ?? 'unknown';
        resolve(this.exit);
      }),
    );
    const logTo = process.env.BENCH_SCHED_LOG;
    const collect = (buf: Buffer): void => {
      const text = buf.toString();
      if (logTo) appendFileSync(logTo, text);
      for (const line of text.split('\n')) {
        if (!line || line.includes('"benchprobe"')) continue; // the readiness probe's own not_found
        this.warnLines++;
        if (this.firstLines.length < 5) this.firstLines.push(line.length > 600 ? `${line.slice(0, 600)}…` : line);
        this.stderrTail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** ms from spawn to the first served command. */
  get readyMs(): number {
    return this.readyAt - this.spawnedAt;
  }

  static async start(nc: NatsConnection, opts: SchedulerOptions): Promise<SchedulerProcess> {
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const c of live) c.kill('SIGKILL');
      });
    }
    const args = [
      ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : []),
      ...(opts.heapSnapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${opts.heapSnapshotDir}`] : []),
      ...schedulerEntry().args,
    ];
    const env = { ...process.env, ...BENCH_ENV, NATS_URL: opts.natsUrl, SCHED_PREFIX: opts.prefix, ...opts.env };
    const spawnedAt = performance.now();
    const child = spawn(process.execPath, args, { cwd: schedulerRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    child.once('exit', () => live.delete(child));
    const p = new SchedulerProcess(child, spawnedAt);
    await p.waitReady(nc, opts.prefix, opts.readyTimeoutMs ?? 300_000);
    return p;
  }

  private async waitReady(nc: NatsConnection, prefix: string, timeoutMs: number): Promise<void> {
    let exited: number | string | null = null;
    void this.exitedP.then((c) => (exited = c));
    const subject = `${prefix}.benchprobe.schedule.show`;
    const body = JSON.stringify({ jobId: 'probe' });
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      if (exited !== null) throw new Error(`scheduler exited (${exited}) before ready:\n${this.stderrTail.join('\n')}`);
      try {
        const m = await nc.request(subject, body, { timeout: 1000 });
        const r = m.json<{ ok: boolean; error?: { code: string } }>();
        if (r.ok || r.error?.code !== 'unavailable') {
          this.readyAt = performance.now();
          return;
        }
      } catch {
        /* not connected yet (no responders) or busy */
      }
      await sleep(10);
    }
    throw new Error(`scheduler not ready in ${timeoutMs} ms:\n${this.stderrTail.join('\n')}`);
  }

  /** VmRSS and VmHWM of the scheduler process, in KiB. */
  memory(): { rssKiB: number; hwmKiB: number } {
    this.assertAlive();
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
  }

  /** Throws (with the last log lines) when the process exited on its own. */
  assertAlive(): void {
    if (this.exit !== null) throw new Error(`scheduler exited (${this.exit}); last log lines:\n${this.stderrTail.slice(-5).join('\n')}`);
  }

  /** Sends SIGUSR2 (see `heapSnapshotDir`) and resolves with the snapshot file once it is written. */
  async heapSnapshot(dir: string): Promise<string> {
    const before = new Set(readdirSync(dir));
    this.child.kill('SIGUSR2');
    for (;;) {
      await sleep(500);
      const f = readdirSync(dir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
      if (!f) continue;
      // written when its size stops changing
      const p = path.join(dir, f);
      let size = -1;
      while (size <= 0 || statSync(p).size !== size) {
        size = statSync(p).size;
        await sleep(1500);
      }
      return p;
    }
  }

  /** SIGKILL (a crash: no lease released, nothing flushed); resolves when the process is gone. */
  async kill(): Promise<number | string> {
    this.child.kill('SIGKILL');
    return this.exitedP;
  }

  /** SIGTERM (a clean shutdown, which also writes the CPU profile); SIGKILL after `graceMs`. */
  async stop(graceMs = 30_000): Promise<number | string> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exitedP;
    } finally {
      clearTimeout(t);
    }
  }
}
