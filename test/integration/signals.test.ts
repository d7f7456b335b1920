/**
 * Stopping the service the way a process manager and a terminal do: SIGTERM to exactly the
 * process the README's command starts (`npm start`), and Ctrl-C (SIGINT to the whole foreground
 * process group). Each must shut down once, cleanly, exit 0 within 10 s, and leave no process
 * behind: not the scheduler, not the embedded nats-server that `npm start` starts without NATS_URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { answers } from '../../src/runtime/embedded.js';
import { uniquePrefix, until } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Every live descendant of `pid` (from /proc), with its command line. */
function descendants(pid: number): { pid: number; cmd: string }[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out: { pid: number; cmd: string }[] = [];
  const walk = (p: number): void => {
    for (const [child, pp] of parent) {
      if (pp !== p) continue;
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${child}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      } catch {
        /* gone */
      }
      out.push({ pid: child, cmd });
      walk(child);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>;
  tree: { pid: number; cmd: string }[];
  natsPort: number;
  signalled: (at: number) => void;
}

/** `npm start` as the README says, with no NATS_URL: it starts its own nats-server. */
async function npmStart(detached: boolean): Promise<Started> {
  const natsPort = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sched-signals-'));
  dirs.push(dataDir);
  const env: Record<string, string | undefined> = { ...process.env, SCHED_DEFAULT_NATS_PORT: String(natsPort), SCHED_DATA_DIR: dataDir, SCHED_HTTP_PORT: '0', SCHED_PREFIX: uniquePrefix(), LOG_LEVEL: 'info' };
  delete env.NATS_URL;
  const child = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  let sentAt = 0;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, afterMs: Date.now() - sentAt })),
  );
  await until(() => out.includes('"scheduler ready"') || child.exitCode !== null, 60_000, 'scheduler ready');
  expect(out).toContain('"scheduler ready"');
  const tree = descendants(child.pid!);
  return { child, output: () => out, exited, tree, natsPort, signalled: (at) => (sentAt = at) };
}

const lines = (out: string, msg: string): number => out.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;

describe('stopping `npm start`', () => {
  it('SIGTERM to the npm process stops the scheduler and its nats-server once and cleanly: exit 0 within 10 s, nothing left', async () => {
    const s = await npmStart(false);
    // npm, the scheduler (node dist/main.js) and the embedded nats-server
    expect(s.tree.some((p) => p.cmd.includes('dist/main.js'))).toBe(true);
    expect(s.tree.some((p) => p.cmd.includes('nats-server'))).toBe(true);
    s.signalled(Date.now());
    s.child.kill('SIGTERM');
    const { code, afterMs } = await s.exited;
    expect(code).toBe(0);
    expect(afterMs).toBeLessThan(10_000);
    await until(() => s.tree.every((p) => !alive(p.pid)), 5_000, `no process left of ${JSON.stringify(s.tree)}`);
    expect(await answers('127.0.0.1', s.natsPort)).toBe(false);
    expect(lines(s.output(), 'shutting down')).toBe(1);
    expect(lines(s.output(), 'stopped')).toBe(1);
  }, 90_000);

  it('Ctrl-C (SIGINT to the whole process group, which npm also forwards) shuts down once: exit 0, nothing left', async () => {
    const s = await npmStart(true);
    s.signalled(Date.now());
    process.kill(-s.child.pid!, 'SIGINT');
    const { code, afterMs } = await s.exited;
    expect(code).toBe(0);
    expect(afterMs).toBeLessThan(10_000);
    await until(() => s.tree.every((p) => !alive(p.pid)), 5_000, `no process left of ${JSON.stringify(s.tree)}`);
    expect(await answers('127.0.0.1', s.natsPort)).toBe(false);
    const out = s.output();
    expect(lines(out, 'shutting down')).toBe(1);
    expect(out).not.toContain('second signal');
    expect(lines(out, 'stopped')).toBe(1);
  }, 90_000);
});
