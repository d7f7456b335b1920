import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseManager } from '../../src/cluster/leases.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { until } from '../helpers/harness.js';


/**
 * LeaseManager against a real server: a renewal that landed without its answer (the revision
 * moved, our own value is there) keeps the lease; another replica's value there loses it; a
 * replica cut off from the server stops acting on its own monotonic clock, before the server
 * could have let anyone else take the lease.
 */
const TTL = 1_500;
const log = pino({ level: 'silent' });
const enc = new TextEncoder();
let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.drain();
  await server?.dispose();
});

async function open(bucket: string, conn = nc) {
  const lost: string[] = [];
  const m = await LeaseManager.open(jetstream(conn, { timeout: 500 }), bucket, TTL, log, (o) => lost.push(o));
  return { m, lost, kv: await new Kvm(jetstream(nc)).open(bucket) };
}

describe('LeaseManager', () => {
  it('a renewal that landed without an answer (our own value at a newer revision) keeps the lease', async () => {
    const { m, lost, kv } = await open('L1');
    expect(await m.acquire('acme')).toBe(true);
    const rev = (await kv.get('acme'))!.revision;
    // what a renewal that timed out but landed leaves behind: our value, a newer revision
    await kv.update('acme', enc.encode(JSON.stringify({ owner: m.replicaId, acquiredAt: new Date().toISOString() })), rev);
    // several renewal rounds (every TTL/3) later, it is still ours and renewed by CAS
    await new Promise((r) => setTimeout(r, TTL * 1.5));
    expect(lost).toEqual([]);
    expect(m.owns('acme')).toBe(true);
    expect((await kv.get('acme'))!.revision).toBeGreaterThan(rev + 1);
    await m.stop();
  });

  it("another replica's value at a newer revision loses the lease at the next renewal", async () => {
    const { m, lost, kv } = await open('L2');
    expect(await m.acquire('acme')).toBe(true);
    const rev = (await kv.get('acme'))!.revision;
    await kv.update('acme', enc.encode(JSON.stringify({ owner: 'someone-else', acquiredAt: new Date().toISOString() })), rev);
    await until(() => lost.includes('acme'), 5_000, 'lease lost');
    expect(m.owns('acme')).toBe(false);
    expect(m.owned()).toEqual([]);
    await m.stop();
  });

  it('cut off from the server, it stops acting before the lease could have run out there', async () => {
    const conn = await connect({ servers: server.url, reconnect: false });
    const { m, kv } = await open('L3', conn);
    expect(await m.acquire('acme')).toBe(true);
    const renewedAt = performance.now();
    const lastRevision = (await kv.get('acme'))!.revision;
    await conn.close();
    expect(m.owns('acme')).toBe(true);
    // The last renewal was sent at or before `renewedAt`; the server may drop the key TTL after
    // it, not earlier. By that instant this replica must have stopped acting, on its own clock.
    await new Promise((r) => setTimeout(r, Math.max(0, renewedAt + TTL - performance.now())));
    expect(m.owns('acme')).toBe(false);
    // nobody else wrote the key meanwhile
    const e = await kv.get('acme');
    expect(e === null || e.revision === lastRevision || e.operation !== 'PUT').toBe(true);
    await m.stop().catch(() => undefined);
  });
});
