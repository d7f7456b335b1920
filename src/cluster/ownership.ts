import type { Logger } from 'pino';
import { SchedulerError } from '../contract/errors.js';
import type { Supervisor } from '../actors/supervisor.js';
import type { FailureLog } from '../runtime/failureLog.js';
import type { StoredRecord } from '../store/jobStore.js';
import type { LeaseManager } from './leases.js';
import type { OrchestratorRegistry } from './registry.js';

/** What ownership needs from the rest of the scheduler. */
export interface OwnershipPorts {
  leases: LeaseManager;
  registry: OrchestratorRegistry;
  /** The supervisors of the orchestrators loaded here (shared with the scheduler, which routes to them). */
  supervisors: Map<string, Supervisor>;
  /** The stored records of an orchestrator's jobs, or of all, in batches (a record written during the read is delivered again). */
  loadAll: (o?: string) => AsyncIterable<StoredRecord[]>;
  /** A supervisor (no jobs adopted yet) for `o` under lease epoch `epoch`, fenced by `fence`. */
  supervisor: (o: string, epoch: number, fence: () => boolean) => Supervisor;
  /** The execution consumer's `caughtUp`. */
  caughtUp: (ms: number) => Promise<unknown>;
  /** The event publisher's `pendingFor`: unpublished events of an orchestrator. */
  pendingFor: (o: string) => number;
  /** True once the scheduler is shutting down. */
  stopping: () => boolean;
  log: Logger;
  balanceLog: FailureLog;
  takeoverLog: FailureLog;
  /** The lease TTL, from which the rebalancing period follows. */
  leaseTtlMs: number;
}

/**
 * Ownership and rebalancing of the orchestrators among the replicas: which replica handles an
 * orchestrator, taking over the ones nobody holds, handing over the excess, and retiring the
 * supervisors of the ones lost.
 */
export class Ownership {
  /** Orchestrators being taken over (lease acquired, jobs loading). */
  private readonly gaining = new Map<string, { adopted: Promise<void>; done: Promise<boolean> }>();
  /** The rebalancing pass under way, if any. */
  private balancing: Promise<void> | null = null;
  private readonly leases: LeaseManager;
  private readonly registry: OrchestratorRegistry;
  private readonly supervisors: Map<string, Supervisor>;

  constructor(private readonly ports: OwnershipPorts) {
    this.leases = ports.leases;
    this.registry = ports.registry;
    this.supervisors = ports.supervisors;
  }

  /** How often a replica rebalances (looks for orchestrators nobody owns). */
  get balanceEveryMs(): number {
    return Math.max(200, this.ports.leaseTtlMs / 10);
  }

  /** The loading of our takeover of `o` (resolved once its supervisor is visible), if one is under way. */
  adopting(o: string): Promise<void> | undefined {
    return this.gaining.get(o)?.adopted;
  }

  /**
   * Keeps this replica at its fair share of the orchestrators: ceil(orchestrators / live
   * replicas). It takes orchestrators nobody holds, and gives back the excess when replicas join.
   * One pass at a time: a pass that overlapped a slow one still handing over would count the
   * orchestrators being released as owned and hand over more than the excess (then take some
   * back), so that the orchestrators went back and forth between the replicas for seconds.
   */
  balance(): Promise<void> {
    this.balancing ??= this.balanceOnce().finally(() => (this.balancing = null));
    return this.balancing;
  }

  /**
   * The owner of `o` once one appears, or null. It waits up to a lease TTL: the replica under its
   * share may be slow to take it (loading its jobs on a busy machine took more than the few
   * rebalancing passes this used to wait, and this replica then took it back, to hand it over
   * again); one that died stops counting as live within the TTL.
   */
  private async awaitOwner(o: string): Promise<string | null> {
    const end = Date.now() + Math.max(5 * this.balanceEveryMs, this.ports.leaseTtlMs);
    while (Date.now() < end && !this.ports.stopping()) {
      await new Promise((r) => setTimeout(r, 50));
      const owner = await this.leases.ownerOf(o).catch(() => null);
      if (owner !== null) return owner;
    }
    return null;
  }

  /** ceil(orchestrators / live replicas): how many orchestrators this replica should own. */
  private fairShare(): number {
    return Math.ceil(this.registry.list().length / this.leases.replicas().length);
  }

  /** True while this replica owns (or is taking over) fewer orchestrators than its share. */
  private underShare(): boolean {
    return new Set([...this.leases.owned(), ...this.gaining.keys()]).size < this.fairShare();
  }

  private async balanceOnce(): Promise<void> {
    if (this.ports.stopping()) return;
    const all = this.registry.list();
    const replicas = this.leases.replicas().length;
    const share = this.fairShare();
    const owned = this.leases.owned();
    if (replicas > 1 && owned.length > share) {
      // all at once: one by one, each waiting for its jobs to be idle and its events to be out,
      // a loaded replica took seconds per orchestrator to reach its share
      await Promise.all(
        owned.slice(0, owned.length - share).map((o) => {
          this.ports.log.info({ orchestratorId: o, share }, 'handing an orchestrator over to another replica');
          return this.release(o);
        }),
      );
    }
    let count = this.leases.owned().length;
    const free = all.filter((o) => !this.leases.owns(o)).sort(() => Math.random() - 0.5);
    await this.takeOverMany(free, () => count < share && !this.ports.stopping(), () => count++);
  }

  /**
   * Takes the lease of an orchestrator nobody holds and loads its jobs; false when another
   * replica has it.
   */
  private takeOver(o: string): Promise<boolean> {
    const inFlight = this.gaining.get(o);
    if (inFlight) return inFlight.done;
    void this.takeOverMany([o], () => true, () => undefined).catch((err: unknown) => this.ports.takeoverLog.failed(err));
    return this.gaining.get(o)?.done ?? Promise.resolve(this.leases.owns(o));
  }

  /**
   * Takes over those of `list` nobody holds while `wanted()`, in three phases: the leases (32 at a
   * time; `acquired` is called for each), then the stored records, then each orchestrator's
   * supervisor and the recovery of its jobs. With many orchestrators the records are read in one
   * pass over the bucket (`BULK_LOAD_MIN`): an ordered consumer filtered on one orchestrator
   * costs the server a scan of the whole bucket, so 100 of them took 9-11 s where one read of the
   * 100,000 records took 3 s (bench/repro/load-records.ts). The read starts once every lease of
   * the batch is held, so it sees every write of the previous owners (they stop writing before
   * their lease can run out). Completions and heartbeats sent while nobody owned an orchestrator
   * are applied before its jobs decide about what they missed (misfire policy). A failure takes
   * down only the orchestrator it concerns (its lease is given back); the first one is rethrown
   * once the others are done.
   */
  private async takeOverMany(list: readonly string[], wanted: () => boolean, acquired: () => void): Promise<void> {
    interface Taking {
      o: string;
      epoch: number;
      adopted: () => void;
      end: (ok: boolean) => void;
    }
    const taking: Taking[] = [];
    let firstError: unknown;
    await runLimited([...list], 32, async (o) => {
      if (!wanted() || this.gaining.has(o)) return;
      let adopted!: () => void;
      let finish!: (ok: boolean) => void;
      const entry = { adopted: new Promise<void>((r) => (adopted = r)), done: new Promise<boolean>((r) => (finish = r)) };
      this.gaining.set(o, entry);
      const end = (ok: boolean): void => {
        adopted();
        if (this.gaining.get(o) === entry) this.gaining.delete(o);
        finish(ok);
      };
      try {
        if (!(await this.leases.acquire(o))) return end(false);
        const epoch = this.leases.epochOf(o);
        if (epoch === null) return end(false);
        acquired();
        taking.push({ o, epoch, adopted, end });
      } catch (err) {
        firstError ??= err;
        end(false);
      }
    });
    if (taking.length === 0) {
      if (firstError !== undefined) throw firstError;
      return;
    }
    // the stored records of the batch: one read of the whole bucket, or one per orchestrator
    let bulk: Map<string, Map<string, StoredRecord>> | null = null;
    if (taking.length >= BULK_LOAD_MIN && taking.length * 4 >= this.registry.list().length) {
      try {
        bulk = new Map(taking.map((t) => [t.o, new Map<string, StoredRecord>()]));
        for await (const batch of this.ports.loadAll()) {
          for (const r of batch) {
            const jobs = bulk.get(r.record.orchestratorId);
            if (jobs) keepNewest(jobs, r);
          }
        }
      } catch (err) {
        // read again per orchestrator below
        this.ports.log.warn({ err, orchestrators: taking.length }, 'reading the job records in one pass failed; reading them per orchestrator');
        bulk = null;
      }
    }
    await runLimited(taking, 32, async (t) => {
      try {
        const loaded = await this.adopt(t.o, t.epoch, bulk?.get(t.o) ?? null);
        if (loaded === null) return t.end(false);
        // the jobs loaded, not those created once the supervisor is visible (a create recovers
        // its own job: recovering it here too published its job.created a second time)
        const actors = [...loaded.sup.actors()];
        t.adopted();
        // bounded: messages of other orchestrators (say, waiting for a dead owner's lease) must not hold a takeover up
        await this.ports.caughtUp(1_500);
        await runLimited(actors, 256, (a) => a.recover({ replay: !loaded.clean }));
        t.end(true);
      } catch (err) {
        firstError ??= err;
        t.end(false);
      }
    });
    if (firstError !== undefined) throw firstError;
  }

  /**
   * Loads the jobs of `o` (from `stored`, or read now) into a new supervisor under lease `epoch`
   * and makes it visible, all or nothing: a load that fails (JetStream unreachable, a leader
   * election) gives the lease back, so this replica never serves an orchestrator it has not
   * loaded (which would answer not_found for its jobs). Null when it was not loaded (the lease
   * lost meanwhile, a failed read); `clean`: the previous owner handed it over cleanly.
   */
  private async adopt(o: string, epoch: number, stored: Map<string, StoredRecord> | null): Promise<{ sup: Supervisor; clean: boolean } | null> {
    let sup: Supervisor;
    let clean: boolean;
    try {
      // a clean handover (planned stop, rebalancing) left nothing unpublished: no outbox replay
      clean = await this.registry.takeClean(o);
      if (stored === null) {
        stored = new Map<string, StoredRecord>();
        for await (const batch of this.ports.loadAll(o)) for (const r of batch) keepNewest(stored, r);
      }
      if (!this.leases.holds(o, epoch)) return null;
      sup = this.ports.supervisor(o, epoch, () => this.leases.holds(o, epoch));
      for (const r of stored.values()) sup.adopt(r);
    } catch (err) {
      this.ports.takeoverLog.failed(err);
      await this.leases.release(o).catch(() => undefined);
      return null;
    }
    this.ports.takeoverLog.succeeded();
    const previous = this.supervisors.get(o);
    if (previous) void this.retire(previous);
    this.supervisors.set(o, sup);
    return { sup, clean };
  }

  /** Hands an orchestrator over (rebalancing): stops its jobs, marks it clean when all its events are out, then releases the lease. */
  private async release(o: string): Promise<void> {
    await this.dropSupervisor(o);
    const deadline = Date.now() + 2_000;
    while (this.ports.pendingFor(o) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.markClean([o]);
    await this.leases.release(o);
  }

  /** Marks the orchestrators this replica still owns and has no unpublished event of as handed over cleanly. */
  async markClean(orchestrators: string[]): Promise<void> {
    await Promise.all(
      orchestrators
        .filter((o) => this.leases.owns(o) && this.ports.pendingFor(o) === 0)
        .map((o) => this.registry.markClean(o).catch((err: unknown) => this.ports.log.warn({ err, orchestratorId: o }, 'could not mark a clean handover'))),
    );
  }

  /**
   * The lease of epoch `epoch` is gone: its job actors are fenced off already (they neither write
   * nor dispatch nor arm timers); stop them. A newer epoch's supervisor (the orchestrator was
   * taken back meanwhile) is not touched.
   */
  lose(o: string, epoch: number): void {
    const s = this.supervisors.get(o);
    if (s?.epoch !== epoch) return;
    this.supervisors.delete(o);
    void this.retire(s);
  }

  private async dropSupervisor(o: string): Promise<void> {
    const s = this.supervisors.get(o);
    if (!s) return;
    this.supervisors.delete(o);
    await this.retire(s);
  }

  /** Lets a supervisor's job actors finish what they are writing, stopping each once it is idle. */
  async retire(s: Supervisor): Promise<void> {
    await Promise.allSettled([...s.actors()].map((a) => a.stopWhenIdle()));
    s.stop();
  }

  /**
   * Where a command or execution message of `o` is handled: here (this replica owns it, or
   * takes it over because nobody does), or at the owner (forwarded). `unavailable` during a
   * failover, never a wrong answer.
   */
  async route(o: string, registered: boolean): Promise<'here' | string | null> {
    if (this.leases.owns(o)) {
      await this.gaining.get(o)?.adopted;
      return 'here';
    }
    const owner = await this.leases.ownerOf(o);
    if (this.leases.owns(o)) {
      // taken over by this replica meanwhile (a concurrent request)
      await this.gaining.get(o)?.adopted;
      return 'here';
    }
    if (owner === null) {
      // Unknown everywhere: answer here (nothing to find); known: take it over. A replica that
      // has its share already (it may have just handed this one over: taking it back at the next
      // completion made the orchestrators go back and forth between the replicas) first gives a
      // replica under its share the time of a few rebalancing passes to take it, and forwards.
      if (!registered) return null;
      if (!this.gaining.has(o) && !this.underShare()) {
        const other = await this.awaitOwner(o);
        if (other !== null && other !== this.leases.replicaId) return other;
      }
      if (this.leases.owns(o)) {
        await this.gaining.get(o)?.adopted;
        return 'here';
      }
      const taking = this.takeOver(o);
      await this.gaining.get(o)?.adopted;
      if (this.leases.owns(o) || (await taking)) return 'here';
      throw new SchedulerError('unavailable', 'orchestrator is being taken over; retry');
    }
    if (owner === this.leases.replicaId) {
      // our own acquisition, whose reply has not been processed yet. Wait for its jobs to be
      // loaded, not for the whole takeover: that waits for the execution messages in flight to
      // be handled (caughtUp), this one among them, and the two waited for each other for good.
      const gaining = this.gaining.get(o);
      if (gaining && (await gaining.adopted, this.leases.owns(o))) return 'here';
      throw new SchedulerError('unavailable', 'ownership is being renewed; retry');
    }
    return owner;
  }
}

/**
 * From this many orchestrators taken over together, and a quarter of all, their records are read
 * in one pass over the bucket (the records of the others are read and dropped: a few orchestrators
 * of many cost less read one by one).
 */
const BULK_LOAD_MIN = 4;

/** Keeps the newest revision of each job (a record written during the read is delivered again). */
function keepNewest(jobs: Map<string, StoredRecord>, r: StoredRecord): void {
  if ((jobs.get(r.record.jobId)?.revision ?? 0) < r.revision) jobs.set(r.record.jobId, r);
}

async function runLimited<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < items.length) await fn(items[i++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
