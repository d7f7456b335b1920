import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';

/** Is something listening on host:port? */
export function answers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** `NATS_SERVER_BIN`, else `nats-server` on the PATH, else Debian's `/usr/sbin/nats-server`. */
export function findNatsServer(env: Record<string, string | undefined> = process.env): string | null {
  const candidates = env.NATS_SERVER_BIN
    ? [env.NATS_SERVER_BIN]
    : [...(env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'nats-server')), '/usr/sbin/nats-server'];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return null;
}

export class NoNatsServerError extends Error {
  override readonly name = 'NoNatsServerError';
}

export interface EmbeddedNats {
  url: string;
  stop(): Promise<void>;
}

/**
 * For trying the scheduler out: a local nats-server with JetStream under `dataDir`, started only
 * when `NATS_URL` is not set and nothing answers on the default address. Stopped on exit.
 */
export async function startEmbeddedNats(port: number, dataDir: string, log: Logger): Promise<EmbeddedNats> {
  const bin = findNatsServer();
  if (!bin) {
    throw new NoNatsServerError(
      `no NATS server answers on nats://127.0.0.1:${port} and no nats-server binary was found: ` +
        'install one (Debian/Ubuntu: apt-get install nats-server; others: https://docs.nats.io/running-a-nats-service/introduction/installation) ' +
        'or set NATS_URL to a server with JetStream',
    );
  }
  mkdirSync(dataDir, { recursive: true });
  const child: ChildProcess = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dataDir], {
    stdio: 'ignore',
    // its own process group: a Ctrl-C in the terminal must not stop it under the scheduler, which
    // still has events to publish; the scheduler stops it last, after its own clean shutdown
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (): void => {
    child.kill('SIGTERM');
  };
  process.once('exit', kill);
  const end = Date.now() + 10_000;
  while (!(await answers('127.0.0.1', port))) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`the embedded nats-server (${bin}) did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  log.info({ bin, port, dataDir }, 'no NATS_URL and no server on the default address: started a local nats-server (JetStream under ' + dataDir + ')');
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      process.removeListener('exit', kill);
      kill();
      await exited;
    },
  };
}
