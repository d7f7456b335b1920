/**
 * SPEC §12 on a real 3-node JetStream cluster (three nats-server processes with routes on
 * loopback) and two scheduler replicas: every bucket and stream is R3 without any setting, and
 * SIGKILL of the node that leads the job records keeps the scheduler dispatching, answers every
 * command `ok` or `unavailable` (never a wrong `not_found`, never `internal`), and loses no slot.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { account, describeAccounting, readTrail, type IntervalJob } from '../helpers/accounting.js';
import { startCluster, untilMetaLeader, type Cluster } from '../helpers/cluster.js';
import { Orchestrator, sleep, uniquePrefix, until } from '../helpers/harness.js';
import { spawnScheduler, type SchedulerProcess } from '../helpers/scheduler-process.js';

/** `npm run soak` sets SOAK_SECONDS: every node is lost in turn. */
const SOAK = Number(process.env.SOAK_SECONDS ?? 0) > 0;

let cluster: Cluster;
const procs: SchedulerProcess[] = [];
const conns: NatsConnection[] = [];
beforeAll(async () => {
  cluster = await startCluster(3);
}, 60_000);
afterAll(async () => {
  for (const p of procs) await p.kill('SIGKILL');
  for (const nc of conns) await nc.close().catch(() => undefined);
  await cluster?.dispose();
});

async function orchestrator(P: string, id: string): Promise<Orchestrator> {
  const nc = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  conns.push(nc);
  const o = new Orchestrator(nc, P, id).serveDispatches();
  o.answer = (d) => {
    void (async () => {
      await sleep(50);
      for (let i = 0; i < 100; i++) {
        try {
          await o.complete(d.executionId, d.jobId);
          return;
        } catch {
          await sleep(300);
        }
      }
    })();
    return { accepted: true };
  };
  return o;
}

describe('a 3-node JetStream cluster', () => {
  it('R3 by default; losing the node that leads the job records keeps dispatching, answers ok or unavailable, loses no slot', async () => {
    const P = uniquePrefix();
    const env = { NATS_URL: cluster.url, SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' };
    procs.push(await spawnScheduler(env, 60_000), await spawnScheduler(env, 60_000));
    const admin = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1 });
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    for (const s of [`KV_${P}_jobs`, `KV_${P}_leases`, `KV_${P}_orchestrators`, `${P}_EXECUTIONS`, `${P}_EVENTS`]) {
      expect((await jsm.streams.info(s)).config.num_replicas, s).toBe(3);
    }

    const orchs = [await orchestrator(P, 'alpha'), await orchestrator(P, 'beta')];
    const jobs = new Map<Orchestrator, IntervalJob[]>();
    const startAt = Math.ceil(Date.now() / 1000) * 1000 + 2000;
    for (const o of orchs) {
      const list: IntervalJob[] = [];
      for (let i = 0; i < 25; i++) {
        const r = await o.cmd('create', { jobId: `j${i}`, schedule: { kind: 'interval', every: 1000 }, startAt: new Date(startAt + i * 40).toISOString(), target: { type: 'command', command: 'c' }, misfireGraceMs: 1000 });
        expect(r.ok, JSON.stringify(r)).toBe(true);
        list.push({ jobId: `j${i}`, first: Date.parse((r.job as { nextRunAt: string }).nextRunAt), every: 1000 });
      }
      jobs.set(o, list);
    }
    await until(() => orchs.every((o) => o.dispatches.length >= 50), 20_000, 'dispatches before the fault');

    // commands keep flowing while the node is lost: only ok or unavailable
    const codes = new Map<string, number>();
    let polling = true;
    const poll = (async () => {
      for (let n = 0; polling; n++) {
        const o = orchs[n % 2]!;
        const op = n % 3 === 0 ? 'list' : n % 3 === 1 ? 'show' : 'update';
        const body = op === 'list' ? {} : op === 'show' ? { jobId: `j${n % 25}` } : { jobId: `j${n % 25}`, patch: { name: `n${n}` } };
        const code = await o.cmd(op, body).then(
          (r) => (r.ok ? 'ok' : (r.error?.code ?? 'no code')),
          () => 'no reply',
        );
        codes.set(`${op}:${code}`, (codes.get(`${op}:${code}`) ?? 0) + 1);
        await sleep(100);
      }
    })();

    // the leader of the job records first; `npm run soak` then loses each node in turn
    const killedAt = Date.now();
    const victims: number[] = [];
    for (let round = 0; round < (SOAK ? 3 : 1); round++) {
      const leader = (await jsm.streams.info(`KV_${P}_jobs`)).cluster?.leader;
      const victim = round === 0 ? cluster.nodes.findIndex((_, i) => leader?.endsWith(`-n${i}`)) : (victims[round - 1]! + 1) % 3;
      expect(victim).toBeGreaterThanOrEqual(0);
      victims.push(victim);
      await cluster.nodes[victim]!.kill();
      await sleep(15_000);
      await cluster.nodes[victim]!.start();
      await untilMetaLeader(cluster.url);
      await sleep(8_000);
    }
    const victim = victims.join(',n');
    polling = false;
    await poll;

    // the longest pause in dispatching, from shortly before the kill to the end
    const times = orchs.flatMap((o) => o.dispatches.map((d) => d.receivedAt)).filter((t) => t >= killedAt - 2_000).sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    const replies = Object.fromEntries([...codes].sort());
    console.log(`[cluster] node n${victim} (first: the leader of the job records) SIGKILLed for 15 s each: longest dispatch gap ${gap} ms; replies ${JSON.stringify(replies)}`);
    expect(gap).toBeLessThanOrEqual(10_000);
    expect([...codes.keys()].filter((k) => !k.endsWith(':ok') && !k.endsWith(':unavailable') && !k.endsWith(':no reply'))).toEqual([]);

    for (const o of orchs) {
      for (const j of jobs.get(o)!) {
        const r = await until(async () => {
          const x = await o.cmd('show', { jobId: j.jobId });
          return x.ok ? x : null;
        }, 15_000, `show ${o.id}/${j.jobId}`);
        expect(r.ok).toBe(true);
      }
      const to = Date.now() - 2_000;
      const vs = (await o.cmd('list', { limit: 1000 })).jobs as { activeExecutions: { executionId: string }[] }[];
      const active = new Set(vs.flatMap((v) => v.activeExecutions.map((a) => a.executionId)));
      // an event is published a moment after its record is written (longer at R3 with a node
      // gone): the trail is read again before a slot or an execution counts as lost
      let a = account(await readTrail(o.nc, P, o.id), jobs.get(o)!, startAt, to, active);
      for (let k = 0; k < 5 && (a.unaccounted.length > 0 || a.dangling.length > 0); k++) {
        await sleep(500);
        a = account(await readTrail(o.nc, P, o.id), jobs.get(o)!, startAt, to, active);
      }
      console.log(describeAccounting(`cluster ${o.id}`, a));
      expect(a.unaccounted).toEqual([]);
      expect(a.twoIds).toEqual([]);
      expect(a.dangling).toEqual([]);
    }
  }, SOAK ? 400_000 : 180_000);

  it('brings buckets and streams created at R1 (by hand, or by an older version) up to R3 at start, and says so', async () => {
    const P = uniquePrefix();
    const env = { NATS_URL: cluster.url, SCHED_PREFIX: P };
    const r1 = await spawnScheduler({ ...env, SCHED_STREAM_REPLICAS: '1' }, 60_000);
    expect(await r1.kill('SIGTERM')).toBe(0);
    const admin = await connect({ servers: cluster.url.split(',') });
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    const names = [`KV_${P}_jobs`, `KV_${P}_leases`, `KV_${P}_orchestrators`, `${P}_EXECUTIONS`, `${P}_EVENTS`];
    for (const s of names) expect((await jsm.streams.info(s)).config.num_replicas, s).toBe(1);
    const r3 = await spawnScheduler(env, 60_000);
    procs.push(r3);
    for (const s of names) expect((await jsm.streams.info(s)).config.num_replicas, s).toBe(3);
    expect(r3.output.filter((l) => l.includes('stream replicas raised')).length).toBe(names.length);
    expect(await r3.kill('SIGTERM')).toBe(0);
  }, 120_000);

  it('deploy/cluster holds a configuration per node that nats-server accepts, each routing to the other two', async () => {
    const { spawnSync } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const { findNatsServerBinary } = await import('../helpers/nats-server.js');
    for (const i of [1, 2, 3]) {
      const file = new URL(`../../deploy/cluster/nats-${i}.conf`, import.meta.url).pathname;
      const r = spawnSync(findNatsServerBinary(), ['-c', file, '-t'], { encoding: 'utf8' });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(`server_name: nats-${i}`);
      expect([...text.matchAll(/nats-route:\/\/nats-(\d):6222/g)].map((m) => Number(m[1])).sort()).toEqual([1, 2, 3].filter((j) => j !== i));
    }
  });
});
