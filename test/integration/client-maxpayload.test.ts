import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LimitExceededError, SchedulerClient } from '../../src/client/index.js';
import { startScheduler, uniquePrefix, type SchedulerUnderTest } from '../helpers/harness.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

/**
 * A request above the NATS server's max_payload is a quota the client names (LimitExceededError),
 * not an unavailable scheduler: nats.js refuses to publish it, which used to surface as
 * "no reply from the scheduler".
 */

const MAX_PAYLOAD = 8 * 1024;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('a request larger than the server\'s max_payload', () => {
  let server: NatsServerHandle;
  let sched: SchedulerUnderTest;
  let nc: NatsConnection;
  let client: SchedulerClient;
  const P = uniquePrefix();
  const job = (argsBytes: number) => ({
    jobId: `j${argsBytes}`,
    schedule: { kind: 'interval', every: '1h' },
    target: { type: 'command', command: 'x', args: { blob: 'x'.repeat(argsBytes) } },
  }) as const;

  beforeAll(async () => {
    server = await startNatsServer({ config: `max_payload: ${MAX_PAYLOAD}` });
    // SCHED_MAX_INPUT_BYTES below max_payload, so that both limits can be met
    sched = await startScheduler(server.url, { SCHED_PREFIX: P, SCHED_MAX_INPUT_BYTES: '2048' });
    nc = await connect({ servers: server.url });
    client = new SchedulerClient({ nc, prefix: P, orchestratorId: 'acme' });
  });
  afterAll(async () => {
    await nc?.close();
    await sched?.stop();
    await server?.dispose();
  });

  it('the server announces the max_payload it was started with', () => {
    expect(nc.info?.max_payload).toBe(MAX_PAYLOAD);
  });

  it('is a LimitExceededError naming the size, the server\'s max_payload and SCHED_MAX_INPUT_BYTES', async () => {
    const spec = job(3 * MAX_PAYLOAD);
    const size = Buffer.byteLength(JSON.stringify(spec));
    const err = await rejection(client.create(spec));
    expect(err).toBeInstanceOf(LimitExceededError);
    const e = err as LimitExceededError;
    expect(e.code).toBe('limit_exceeded');
    expect(e.status).toBe(429);
    expect(e.rateLimited).toBe(false);
    expect(e.operation).toBe('create');
    expect(e.jobId).toBe(spec.jobId);
    expect(e.message).toContain(`${size} bytes`);
    expect(e.message).toContain(`max_payload of ${MAX_PAYLOAD} bytes`);
    expect(e.message).toContain('SCHED_MAX_INPUT_BYTES');
    // nothing was created
    expect(await rejection(client.show(spec.jobId))).toMatchObject({ code: 'not_found' });
  });

  it('also for run_now inputs and updates', async () => {
    await client.create(job(10));
    await expect(client.runNow('j10', { inputs: { blob: 'y'.repeat(MAX_PAYLOAD) } })).rejects.toBeInstanceOf(LimitExceededError);
    await expect(client.update('j10', { name: 'n'.repeat(MAX_PAYLOAD) })).rejects.toBeInstanceOf(LimitExceededError);
  });

  it('under max_payload but over SCHED_MAX_INPUT_BYTES it reaches the scheduler, whose quota says so (not retried)', async () => {
    const err = await rejection(client.create(job(4096)));
    expect(err).toBeInstanceOf(LimitExceededError);
    const e = err as LimitExceededError;
    expect(e.rateLimited).toBe(false);
    expect(e.message).toContain('more than the limit of 2048');
    expect(e.details).toEqual([{ path: 'target.args', message: 'at most 2048 bytes' }]);
  });

  it('a request that fits both goes through', async () => {
    const v = await client.create(job(1024));
    expect(v.jobId).toBe('j1024');
  });
});
