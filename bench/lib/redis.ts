import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './util.js';

/** What the figure prints when there is no redis-server. */
export const REDIS_MISSING = 'skipped: redis-server not found (apt-get install redis-server)';

/** `$REDIS_SERVER_BIN`, else `redis-server` on PATH, else /usr/bin/redis-server; null when none is executable. */
export function findRedisServer(): string | null {
  const candidates = [
    process.env.REDIS_SERVER_BIN,
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'redis-server')),
    '/usr/bin/redis-server',
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return null;
}

/** `redis-server --version`, shortened to its version ("7.0.15"). */
export function redisVersion(bin: string): string {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
    return /v=(\S+)/.exec(out)?.[1] ?? out.trim();
  } catch {
    return 'unknown';
  }
}

/** Sends PING on a fresh connection; true on +PONG (false while loading, refused or timed out). */
function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (b) => {
      got += b.toString();
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * A private redis-server: 127.0.0.1 on a random port, its data in a temp dir, AOF on with an
 * fsync every second and no RDB snapshots (`--appendonly yes --appendfsync everysec --save ''`).
 */
export class RedisServer {
  private readonly log: string[] = [];
  private readonly exited: Promise<void>;
  private gone = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {
    this.exited = new Promise((r) =>
      child.once('exit', () => {
        this.gone = true;
        live.delete(child);
        r();
      }),
    );
    const keep = (b: Buffer): void => {
      for (const l of b.toString().split('\n')) if (l) this.log.push(l);
      if (this.log.length > 20) this.log.splice(0, this.log.length - 20);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts one (a few ports are tried when one is taken); null when redis-server is not installed. */
  static async start(): Promise<RedisServer | null> {
    const bin = findRedisServer();
    if (!bin) return null;
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const c of live) c.kill('SIGKILL');
      });
    }
    let last = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = 20_000 + Math.floor(Math.random() * 40_000);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''];
      const child = spawn(bin, [...args, '--daemonize', 'no', '--logfile', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
      live.add(child);
      const r = new RedisServer(child, port, dir);
      const end = performance.now() + 10_000;
      while (!r.gone && performance.now() < end) {
        if (await ping(port)) return r;
        await sleep(50);
      }
      last = r.log.slice(-5).join('\n');
      await r.stop();
      if (!/in use/i.test(last)) break;
    }
    throw new Error(`redis-server did not answer PING:\n${last}`);
  }

  /** SIGTERM (redis flushes the AOF and exits), SIGKILL after 5 s; then the data dir is removed. */
  async stop(): Promise<void> {
    if (!this.gone) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
