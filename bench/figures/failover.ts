import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../../test/helpers/nats-server.js';
import { Orchestrators } from '../lib/orchestrators.js';
import { SchedulerProcess } from '../lib/scheduler.js';
import { Samples, fmtMs, progress, sleep, wallNow } from '../lib/util.js';
import type { BenchContext, Row } from './types.js';

const TTL = 3_000;
const ORCHESTRATORS = 10;
const JOBS_PER_ORCHESTRATOR = 5;
const EVERY = 1_000;

async function replicaIds(kv: KV): Promise<string[]> {
  const ids: string[] = [];
  for await (const k of await kv.keys('_replicas.*')) ids.push(k.slice('_replicas.'.length));
  return ids;
}

/** Owner and server write time of every orchestrator's lease. */
async function leases(kv: KV, orchestrators: string[]): Promise<Map<string, { owner: string; renewedAt: number }>> {
  const out = new Map<string, { owner: string; renewedAt: number }>();
  for (const o of orchestrators) {
    const e = await kv.get(o);
    if (e && e.operation === 'PUT' && e.length > 0) out.set(o, { owner: (e.json<{ owner: string }>()).owner, renewedAt: e.created.getTime() });
  }
  return out;
}

/**
 * Figure 7 (issue 8): two scheduler replicas share 10 orchestrators (5 interval jobs each, every
 * 1 s, completed at once); the replica owning orchestrators is SIGKILLed, and for each of its
 * orchestrators we take the time from the kill to the first dispatch by the new owner, and from
 * the lease's end on the server (its last renewal's server timestamp + TTL) to that dispatch.
 * The killed replica is replaced by a new process before the next round. Every slot is checked
 * for a second execution id.
 */
export async function failover(ctx: BenchContext): Promise<Row[]> {
  const rounds = ctx.quick ? 2 : 5;
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  const prefix = 'benchfail';
  const procs = new Map<string, SchedulerProcess>();
  const env = { SCHED_LEASE_TTL_MS: String(TTL) };
  try {
    const orch = new Orchestrators(nc, prefix).serve('complete');
    const ids = Array.from({ length: ORCHESTRATORS }, (_, i) => `fo${i}`);
    const idsPerSlot = new Map<string, Set<string>>();
    const firstAfter = new Map<string, number>();
    let killedAt = Number.POSITIVE_INFINITY;
    orch.onDispatch = (d) => {
      const k = `${d.orchestratorId}/${d.jobId}/${d.scheduledAt}`;
      let s = idsPerSlot.get(k);
      if (!s) idsPerSlot.set(k, (s = new Set()));
      s.add(d.executionId);
      if (d.receivedAt > killedAt && !firstAfter.has(d.orchestratorId)) firstAfter.set(d.orchestratorId, d.receivedAt);
    };
    const startReplica = async (): Promise<string> => {
      const kvNow = procs.size > 0 ? await new Kvm(jetstream(nc)).open(`${prefix}_leases`) : null;
      const before = new Set(kvNow ? await replicaIds(kvNow) : []);
      const p = await SchedulerProcess.start(nc, { natsUrl: server.url, prefix, env, cpuProfDir: ctx.cpuProfDir });
      const leasesKv = await new Kvm(jetstream(nc)).open(`${prefix}_leases`);
      for (;;) {
        const id = (await replicaIds(leasesKv)).find((x) => !before.has(x) && !procs.has(x));
        if (id) {
          procs.set(id, p);
          return id;
        }
        await sleep(50);
      }
    };
    await startReplica();
    const leasesKv = await new Kvm(jetstream(nc)).open(`${prefix}_leases`);
    const created = await orch.createMany(ORCHESTRATORS * JOBS_PER_ORCHESTRATOR, 64, (i) => ({
      orchestratorId: ids[i % ORCHESTRATORS]!,
      body: { jobId: `j${Math.floor(i / ORCHESTRATORS)}`, schedule: { kind: 'interval', every: EVERY }, target: { type: 'command', command: 'bench' } },
    }));
    if (created.failed > 0) throw new Error(`create failed: ${created.firstError}`);
    await startReplica();
    const fromKill = new Samples();
    const fromExpiry = new Samples();
    const detail: string[] = [];
    for (let round = 1; round <= rounds; round++) {
      // wait until both replicas own a share
      let owners = new Map<string, { owner: string; renewedAt: number }>();
      for (let i = 0; i < 200; i++) {
        owners = await leases(leasesKv, ids);
        const by = new Set([...owners.values()].map((v) => v.owner));
        if (owners.size === ORCHESTRATORS && by.size >= 2) break;
        await sleep(100);
      }
      await sleep(1_000); // steady firing
      const victimId = [...owners.values()][0]!.owner;
      const victim = procs.get(victimId);
      if (!victim) throw new Error(`no process for replica ${victimId}`);
      firstAfter.clear();
      const before = await leases(leasesKv, ids);
      const lost = [...before].filter(([, v]) => v.owner === victimId).map(([o]) => o);
      const lastRenewal = await leases(leasesKv, lost);
      killedAt = wallNow();
      await victim.kill();
      procs.delete(victimId);
      const deadline = wallNow() + 30_000;
      while (lost.some((o) => !firstAfter.has(o)) && wallNow() < deadline) await sleep(20);
      const parts: string[] = [];
      for (const o of lost) {
        const at = firstAfter.get(o);
        if (at === undefined) {
          parts.push(`${o} none in 30 s`);
          continue;
        }
        fromKill.add(at - killedAt);
        const expiry = (lastRenewal.get(o)?.renewedAt ?? Number.NaN) + TTL;
        if (Number.isFinite(expiry)) fromExpiry.add(at - expiry);
        parts.push(`${o} ${(at - killedAt).toFixed(0)} ms`);
      }
      detail.push(`round ${round}: ${lost.length} orchestrators (${parts.join(', ')})`);
      progress(`failover round ${round}: ${parts.join(', ')}`);
      killedAt = Number.POSITIVE_INFINITY;
      await startReplica();
    }
    await sleep(1_000);
    const dupSlots = [...idsPerSlot.values()].filter((s) => s.size > 1).length;
    const kill = { max: fromKill.max(), p50: fromKill.pct(50), count: fromKill.count };
    const exp = { max: fromExpiry.max(), p50: fromExpiry.pct(50) };
    ctx.notes.push(
      `7. Failover: 2 replicas (lease TTL ${TTL} ms), ${ORCHESTRATORS} orchestrators × ${JOBS_PER_ORCHESTRATOR} interval jobs every ${EVERY} ms, completed at once; ${rounds} rounds: SIGKILL of a replica owning orchestrators, time to the first dispatch of each of its orchestrators by the new owner, from the kill and from the lease's end on the server (last renewal's server time + TTL); the killed replica is replaced before the next round. ${detail.join('; ')}. Slots seen: ${idsPerSlot.size}, under more than one execution id: ${dupSlots}.`,
    );
    const target = TTL + 1_000;
    return [
      { figure: `7. Failover: first dispatch after SIGKILL (TTL ${TTL / 1000} s)`, target: `≤ ${fmtMs(target)}`, measured: `max ${fmtMs(kill.max)} (p50 ${fmtMs(kill.p50)}, n ${kill.count})`, status: kill.count > 0 && kill.max <= target ? 'pass' : 'MISS' },
      { figure: '7. Failover: after the lease ended on the server', target: '—', measured: `max ${fmtMs(exp.max)} (p50 ${fmtMs(exp.p50)})`, status: 'info' },
      { figure: '7. Slots dispatched under two execution ids', target: '0', measured: String(dupSlots), status: dupSlots === 0 ? 'pass' : 'MISS' },
    ];
  } finally {
    for (const p of procs.values()) await p.stop(5_000).catch(() => undefined);
    await nc.drain().catch(() => undefined);
    await server.dispose();
  }
}
