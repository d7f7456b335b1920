/**
 * Running the service: readiness that tells the truth during a NATS outage, one log line per
 * outage instead of a stack a second, the bind address, and a clear word when the port is taken.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { sleep, uniquePrefix, until } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { spawnScheduler } from '../helpers/scheduler-process.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.dispose();
});

const readyz = async (port: number, host = '127.0.0.1'): Promise<{ status: number; body: { ready: boolean; reasons?: string[] } }> => {
  const r = await fetch(`http://${host}:${port}/readyz`);
  return { status: r.status, body: (await r.json()) as { ready: boolean; reasons?: string[] } };
};

describe('operations', () => {
  it('/readyz is 503 with the reason while NATS is away, 200 again after; the outage is logged in a few lines, not once a second', async () => {
    const httpPort = await freePort();
    const s = await spawnScheduler({ NATS_URL: server.url, SCHED_PREFIX: uniquePrefix(), SCHED_HTTP_PORT: String(httpPort), SCHED_HTTP_HOST: '127.0.0.1', SCHED_LEASE_TTL_MS: '2000' });
    try {
      expect(await readyz(httpPort)).toEqual({ status: 200, body: expect.objectContaining({ ready: true }) });
      await server.stop();
      const down = await until(async () => {
        const r = await readyz(httpPort);
        return r.status === 503 ? r : null;
      }, 10_000, '/readyz 503');
      expect(down.body.ready).toBe(false);
      expect(down.body.reasons?.join('; ')).toMatch(/NATS|JetStream/);
      await sleep(6_000); // the rebalancing loop runs every 200 ms: 30 failures
      await server.start();
      await until(async () => (await readyz(httpPort)).status === 200, 20_000, '/readyz 200 after the outage');
      const outage = s.output.filter((l) => l.includes('rebalanc'));
      expect(outage.length).toBeLessThanOrEqual(4);
      expect(s.output.filter((l) => l.includes('"stack"')).length).toBe(0);
    } finally {
      expect(await s.kill('SIGTERM')).toBe(0);
    }
  }, 60_000);

  it('a second replica on the same HTTP port stops with one line naming SCHED_HTTP_PORT', async () => {
    const httpPort = await freePort();
    const P = uniquePrefix();
    const a = await spawnScheduler({ NATS_URL: server.url, SCHED_PREFIX: P, SCHED_HTTP_PORT: String(httpPort) });
    try {
      const err = await spawnScheduler({ NATS_URL: server.url, SCHED_PREFIX: P, SCHED_HTTP_PORT: String(httpPort) }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message).toContain('exited (1)');
      expect(err?.message).toContain('SCHED_HTTP_PORT');
      expect(err?.message).toContain('EADDRINUSE');
      expect(err?.message).not.toMatch(/\n\s+at /);
    } finally {
      expect(await a.kill('SIGTERM')).toBe(0);
    }
  }, 60_000);
});
