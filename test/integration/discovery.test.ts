import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Svcm, ServiceResponseType, type ServiceClient, type ServiceIdentity, type ServiceInfo, type ServiceStats } from '@nats-io/services';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Operation } from '../../src/contract/constants.js';
import { serviceInfoSchema, servicePingSchema, serviceStatsSchema } from '../../src/contract/messages.js';
import { commandStatsFromHistogram, serviceName, startDiscovery, type Discovery } from '../../src/transport/discovery.js';
import { TestBed, uniquePrefix, type Orchestrator, type SchedulerUnderTest } from '../helpers/harness.js';
import { startNatsServer } from '../helpers/nats-server.js';

const SCHEMAS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/protocol/schemas');
const OPS = Object.values(Operation);

/** Every reply of a `$SRV` request within the stall window (the services client API). */
async function collect<T>(it: Promise<AsyncIterable<T>>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of await it) out.push(x);
  return out;
}

describe('NATS service discovery ($SRV.PING / INFO / STATS)', () => {
  let bed: TestBed;
  let sched: SchedulerUnderTest;
  let acme: Orchestrator;
  let client: ServiceClient;
  let probe: NatsConnection;
  let discovery: Discovery;
  const P = uniquePrefix();
  const name = serviceName(P);

  beforeAll(async () => {
    bed = await TestBed.start();
    sched = await bed.scheduler({ SCHED_PREFIX: P });
    acme = await bed.orchestrator(P, 'acme');
    discovery = await startDiscovery(sched.nc, {
      prefix: P,
      version: '1.2.3',
      replicaId: 'replica-a',
      metadata: { region: 'eu', prefix: 'not-overridable' },
      commandStats: () => commandStatsFromHistogram(sched.scheduler.metrics.commandDuration),
    });
    probe = await connect({ servers: bed.server.url });
    client = new Svcm(probe).client({ strategy: 'stall', stall: 300, maxWait: 5_000 });
  });
  afterAll(async () => {
    await discovery?.stop();
    await probe?.close();
    await bed?.dispose();
  });

  it('answers $SRV.PING (all services, by name, by name and id) with its identity and metadata', async () => {
    const all = await collect(client.ping());
    const mine = all.filter((p) => p.id === discovery.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toEqual({
      type: ServiceResponseType.PING,
      name,
      id: discovery.id,
      version: '1.2.3',
      metadata: { region: 'eu', prefix: P, replicaId: 'replica-a' },
    } satisfies ServiceIdentity);

    // the scheduler registers itself too (its replica id in the metadata)
    const byName = await collect(client.ping(name));
    expect(byName.map((p) => p.id)).toContain(discovery.id);
    expect(byName.map((p) => p.metadata?.replicaId).sort()).toEqual([sched.scheduler.replicaId, 'replica-a'].sort());

    // raw request on the fully qualified subject, as a client in another language would send it
    const raw = await probe.request(`$SRV.PING.${name}.${discovery.id}`, '', { timeout: 2_000 });
    expect(raw.json<ServiceIdentity>()).toMatchObject({ type: 'io.nats.micro.v1.ping_response', name, id: discovery.id });
    expect(servicePingSchema.safeParse(raw.json()).success).toBe(true); // as docs/protocol/schemas/srv.ping.reply.json says
  });

  it('lists every command endpoint in $SRV.INFO with its subject and the command queue group', async () => {
    const [info] = await collect(client.info(name, discovery.id));
    expect(info).toBeDefined();
    const i = info as ServiceInfo;
    expect(serviceInfoSchema.safeParse(i).success).toBe(true);
    expect(i).toMatchObject({ type: ServiceResponseType.INFO, name, id: discovery.id, version: '1.2.3' });
    expect(i.description).toContain(`${P}.<orchestratorId>.schedule.<op>`);
    expect(i.endpoints.map((e) => e.name).sort()).toEqual([...OPS].sort());
    for (const e of i.endpoints) {
      expect(e.subject).toBe(`${P}.*.schedule.${e.name}`);
      expect(e.queue_group).toBe(`${P}_scheduler`);
      // the schemas an endpoint names exist in the generated protocol docs
      for (const k of ['request_schema', 'reply_schema', 'error_schema']) {
        const file = e.metadata?.[k];
        expect(file, `${e.name} ${k}`).toBeTypeOf('string');
        expect(existsSync(path.join(SCHEMAS, file!)), `${file} exists`).toBe(true);
      }
    }
    // no $SRV subject is reported as an endpoint
    expect(i.endpoints.some((e) => e.subject.startsWith('$SRV'))).toBe(false);
  });

  it('leaves the command traffic to the command server, and reports its counts in $SRV.STATS', async () => {
    for (let n = 0; n < 20; n++) {
      const r = await acme.cmd('list', {});
      expect(r.ok).toBe(true);
    }
    const missing = await acme.cmd('show', { jobId: 'nope' });
    expect(missing.error?.code).toBe('not_found');

    const [stats] = await collect(client.stats(name, discovery.id));
    const s = stats as ServiceStats;
    expect(serviceStatsSchema.safeParse(s).success).toBe(true);
    expect(s).toMatchObject({ type: ServiceResponseType.STATS, name, id: discovery.id, version: '1.2.3' });
    expect(Number.isNaN(Date.parse(s.started))).toBe(false);
    expect(s.endpoints?.map((e) => e.name).sort()).toEqual([...OPS].sort());
    const list = s.endpoints?.find((e) => e.name === 'list');
    const show = s.endpoints?.find((e) => e.name === 'show');
    const create = s.endpoints?.find((e) => e.name === 'create');
    expect(list).toMatchObject({ subject: `${P}.*.schedule.list`, queue_group: `${P}_scheduler`, num_requests: 20, num_errors: 0 });
    expect(list!.processing_time).toBeGreaterThan(0);
    expect(list!.average_processing_time).toBe(Math.round(list!.processing_time / 20));
    expect(show).toMatchObject({ num_requests: 1, num_errors: 1 });
    expect(create).toMatchObject({ num_requests: 0, num_errors: 0, processing_time: 0, average_processing_time: 0 });
  });

  it('subscribes to no command subject itself: without a command server a command has no responders', async () => {
    const Q = uniquePrefix();
    const d = await startDiscovery(probe, { prefix: Q, version: '0.1.0' });
    try {
      const [info] = await collect(client.info(serviceName(Q)));
      expect(info?.endpoints).toHaveLength(OPS.length);
      await expect(probe.request(`${Q}.acme.schedule.list`, '{}', { timeout: 2_000 })).rejects.toThrow(/no responders/i);
      // without a stats source the endpoints are listed with zero counts
      const [stats] = await collect(client.stats(serviceName(Q)));
      expect(stats?.endpoints?.every((e) => e.num_requests === 0 && e.num_errors === 0)).toBe(true);
    } finally {
      await d.stop();
    }
  });

  it('finds every replica of a deployment by name, and a stopped one no more', async () => {
    const second = await startDiscovery(probe, { prefix: P, version: '1.2.3', replicaId: 'replica-b' });
    const both = await collect(client.ping(name));
    expect(both.map((p) => p.metadata?.replicaId).sort()).toEqual([sched.scheduler.replicaId, 'replica-a', 'replica-b'].sort());
    // a stats source that fails does not break STATS: counts are 0 and last_error says why
    const failing = await startDiscovery(probe, {
      prefix: uniquePrefix(),
      version: '0.1.0',
      commandStats: () => Promise.reject(new Error('metrics gone')),
    });
    const [fs] = await collect(client.stats(failing.name));
    expect(fs?.endpoints?.[0]).toMatchObject({ num_requests: 0, last_error: 'stats unavailable: metrics gone' });
    await failing.stop();

    await second.stop();
    await second.stop(); // idempotent
    await expect(second.stopped).resolves.toBeNull();
    const after = await collect(client.ping(name));
    expect(after.map((p) => p.metadata?.replicaId).sort()).toEqual([sched.scheduler.replicaId, 'replica-a'].sort());
  });
});

describe('service discovery without permission to subscribe to $SRV.>', () => {
  it('ends with an error on `stopped` instead of failing silently', async () => {
    const server = await startNatsServer({
      config: [
        'authorization {',
        '  users: [ { user: "nosrv", password: "nosrv-secret", permissions: { publish: { allow: [">"] }, subscribe: { allow: ["_INBOX.>"] } } } ]',
        '}',
      ].join('\n'),
    });
    const nc = await connect({ servers: server.url, user: 'nosrv', pass: 'nosrv-secret' });
    try {
      const d = await startDiscovery(nc, { prefix: uniquePrefix(), version: '0.1.0' });
      const err = await Promise.race([d.stopped, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 5_000))]);
      expect(err).toBeInstanceOf(Error);
      expect(String((err as Error).message)).toMatch(/permission/i);
      await d.stop();
    } finally {
      await nc.close();
      await server.dispose();
    }
  });
});
