/**
 * Ownership (src/cluster/ownership.ts) without a server: fake leases and registry, the real
 * supervisors and job actors over the in-memory fakes of actor-fakes.ts. How a takeover loads the
 * jobs (one read of the bucket for many orchestrators, one per orchestrator for a few), and which
 * jobs its recovery covers.
 */
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { Supervisor, parseCommand } from '../../src/actors/supervisor.js';
import type { LeaseManager } from '../../src/cluster/leases.js';
import { Ownership, type OwnershipPorts } from '../../src/cluster/ownership.js';
import type { OrchestratorRegistry } from '../../src/cluster/registry.js';
import { FailureLog } from '../../src/runtime/failureLog.js';
import type { StoredRecord } from '../../src/store/jobStore.js';
import { bed, deferred, flush, type Bed } from './actor-fakes.js';
import { LIMITS, record } from './machine-helpers.js';

/** Leases that any acquire gets (one replica alone), with epoch 1. */
function fakeLeases(): LeaseManager {
  const held = new Set<string>();
  return {
    replicaId: 'r1',
    owns: (o: string) => held.has(o),
    epochOf: (o: string) => (held.has(o) ? 1 : null),
    holds: (o: string) => held.has(o),
    owned: () => [...held],
    replicas: () => ['r1'],
    acquire: async (o: string) => {
      held.add(o);
      return true;
    },
    release: async (o: string) => void held.delete(o),
    ownerOf: async (o: string) => (held.has(o) ? 'r1' : null),
  } as unknown as LeaseManager;
}

interface Setup {
  b: Bed;
  own: Ownership;
  supervisors: Map<string, Supervisor>;
  /** The `loadAll` calls: the orchestrator asked for, or `*` for the whole bucket. */
  reads: string[];
  caughtUp: ReturnType<typeof deferred<void>>;
}

function setup(orchestrators: string[], stored: StoredRecord[], gateCaughtUp = false): Setup {
  const b = bed();
  const supervisors = new Map<string, Supervisor>();
  const reads: string[] = [];
  const caughtUp = deferred<void>();
  if (!gateCaughtUp) caughtUp.resolve();
  const log = b.log as unknown as Logger;
  const ports: OwnershipPorts = {
    leases: fakeLeases(),
    registry: { list: () => orchestrators, has: () => true, takeClean: async () => false, markClean: async () => undefined } as unknown as OrchestratorRegistry,
    supervisors,
    loadAll: async function* (o?: string) {
      reads.push(o ?? '*');
      const mine = stored.filter((r) => o === undefined || r.record.orchestratorId === o);
      if (mine.length > 0) yield mine;
    },
    supervisor: (o, epoch, fence) => new Supervisor(o, b.deps({ fence }), { ...LIMITS, maxJobsPerOrchestrator: 100 }, epoch),
    caughtUp: () => caughtUp.promise,
    pendingFor: () => 0,
    stopping: () => false,
    log,
    balanceLog: new FailureLog(log, 'balance'),
    takeoverLog: new FailureLog(log, 'takeover'),
    leaseTtlMs: 10_000,
  };
  return { b, own: new Ownership(ports), supervisors, reads, caughtUp };
}

let revision = 0;
/** A stored record of job `jobId` of `o` (none is due: nothing is written while these tests run). */
const storedJob = (o: string, jobId: string): StoredRecord => ({ record: { ...record({ jobId }), orchestratorId: o }, revision: ++revision });

describe('Ownership: taking orchestrators over', () => {
  it('many orchestrators at once: their jobs come from one read of the whole bucket, each in its own supervisor', async () => {
    const os = ['o1', 'o2', 'o3', 'o4', 'o5'];
    const t = setup(os, os.flatMap((o) => [storedJob(o, 'a'), storedJob(o, 'b')]));
    await t.own.balance();
    expect(t.reads).toEqual(['*']);
    expect([...t.supervisors.keys()].sort()).toEqual(os);
    for (const o of os) expect([...t.supervisors.get(o)!.actors()].map((a) => a.key).sort()).toEqual([`${o}.a`, `${o}.b`]);
  });

  it('the newest revision of a job wins when the read delivers it twice (written during the read)', async () => {
    const os = ['o1', 'o2', 'o3', 'o4'];
    const old = storedJob('o1', 'a');
    const newer = { record: { ...old.record, spec: { ...old.record.spec, name: 'newer' } }, revision: old.revision + 10 };
    const t = setup(os, [newer, old]);
    await t.own.balance();
    expect([...t.supervisors.get('o1')!.actors()].map((a) => a.record.spec.name)).toEqual(['newer']);
  });

  it('a few orchestrators of many: one read per orchestrator, not the whole bucket', async () => {
    // one orchestrator left to take, of 8 registered (the others held elsewhere: never acquired here)
    const all = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8'];
    const t = setup(all, []);
    await t.own.route('o1', true);
    expect(t.reads).toEqual(['o1']);
    expect(t.supervisors.has('o1')).toBe(true);
  });

  it('a job created while the takeover waits for the execution messages is recovered once, by its create (job.created published once)', async () => {
    const t = setup(['acme'], [], true);
    const balancing = t.own.balance();
    await flush();
    const sup = t.supervisors.get('acme')!;
    expect(sup).toBeDefined();
    await sup.create(parseCommand('create', { jobId: 'fresh', schedule: { kind: 'interval', every: 10_000 }, target: { type: 'command', command: 'c' } }));
    expect(t.b.publisher.types()).toEqual(['job.created']);
    t.caughtUp.resolve();
    await balancing;
    await flush();
    expect(t.b.publisher.types()).toEqual(['job.created']);
  });
});
