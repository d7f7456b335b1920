import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { answers } from '../../src/runtime/embedded.js';
import { uniquePrefix } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { spawnScheduler } from '../helpers/scheduler-process.js';


const withoutNatsUrl = (): void => {
  delete process.env.NATS_URL;
};

describe('npm start without NATS_URL (an embedded server for trying it out)', () => {
  it('starts a local nats-server with JetStream when nothing answers on the default address, and stops it on exit', async () => {
    withoutNatsUrl();
    const port = await freePort();
    const P = uniquePrefix();
    const s = await spawnScheduler({ SCHED_DEFAULT_NATS_PORT: String(port), SCHED_PREFIX: P });
    try {
      expect(s.output.some((l) => l.includes('started a local nats-server'))).toBe(true);
      const nc = await connect({ servers: `nats://127.0.0.1:${port}` });
      const r = await nc.request(`${P}.acme.schedule.create`, JSON.stringify({ jobId: 'j', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'c' } }), { timeout: 5_000 });
      expect(r.json<{ ok: boolean }>().ok).toBe(true);
      await nc.close();
    } finally {
      expect(await s.kill('SIGTERM')).toBe(0);
    }
    expect(await answers('127.0.0.1', port)).toBe(false);
  }, 30_000);

  it('says how to install nats-server when none can be found', async () => {
    withoutNatsUrl();
    const port = await freePort();
    const err = await spawnScheduler({ SCHED_DEFAULT_NATS_PORT: String(port), NATS_SERVER_BIN: '/nonexistent/nats-server' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toContain('exited (1)');
    expect(err?.message).toContain('apt-get install nats-server');
  }, 30_000);

  it('never starts one when NATS_URL is set: it fails with one clear message instead', async () => {
    const port = await freePort();
    const err = await spawnScheduler({ NATS_URL: `nats://127.0.0.1:${port}` }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toContain(`cannot connect to NATS at nats://127.0.0.1:${port}`);
    expect(err?.message).not.toContain('local nats-server');
    expect(await answers('127.0.0.1', port)).toBe(false);
  }, 30_000);

  it('bad configuration stops start-up with one clear message', async () => {
    const err = await spawnScheduler({ NATS_URL: 'nats://127.0.0.1:1', SCHED_PREFIX: 'bad.prefix', SCHED_HTTP_PORT: 'eighty' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toContain('exited (2)');
    expect(err?.message).toMatch(/SCHED_PREFIX: must be a single subject token.*SCHED_HTTP_PORT/);
  }, 30_000);
});
