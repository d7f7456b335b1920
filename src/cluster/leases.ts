import { randomBytes } from 'node:crypto';
import { JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from 'pino';

/** A lease as stored in `P_leases` under the orchestrator id. */
export interface LeaseValue {
  owner: string;
  acquiredAt: string;
}

interface Held {
  revision: number;
  /**
   * The ownership epoch: the lease's revision when this replica acquired it (KV revisions only
   * grow, so every acquisition has its own). Renewals keep it; losing and re-acquiring the lease
   * starts a new one, which fences off everything loaded in the old one.
   */
  epoch: number;
  /** Monotonic instant (performance.now) until which this replica may act for the orchestrator. */
  validUntil: number;
  /** When the first renewal since the last confirmed one was sent, if it got no answer. */
  unconfirmedSince?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const now = (): number => performance.now();

/** An answer of the server refusing the write (the key's revision moved, or it is gone), as opposed to no answer. */
const isRefusal = (err: unknown): boolean => err instanceof JetStreamApiError;

/**
 * Ownership of orchestrators through leases in the KV bucket `P_leases`, whose `max_age` is the
 * lease TTL: a lease that is not renewed disappears on the server's clock. A replica holds a lease
 * by compare-and-set on its revision, renews it every TTL/3, and considers it valid only until
 * `sentAt + TTL − margin` on its own monotonic clock, where `sentAt` is when it sent the renewal:
 * the server cannot expire the lease before that instant, so a replica that was frozen or cut
 * off stops acting before anyone else may take over. Live replicas register under
 * `_replicas.<id>` in the same bucket.
 */
export class LeaseManager {
  readonly replicaId = randomBytes(6).toString('base64url');
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | null = null;
  private replicaRevision = 0;
  private stopped = false;
  /** Orchestrators whose renewal is in flight (a slow one is not sent again meanwhile). */
  private readonly renewing = new Map<string, Promise<void>>();
  private readonly margin: number;
  /** Replica id → when (monotonic) its heartbeat was last seen. */
  private readonly seenReplicas = new Map<string, number>();
  private stopReplicaWatch: () => void = () => undefined;

  private constructor(
    private readonly kv: KV,
    readonly ttlMs: number,
    private readonly log: Logger,
    private readonly onLost: (orchestratorId: string, epoch: number) => void,
  ) {
    this.margin = Math.max(200, ttlMs / 5);
  }

  static async open(js: JetStreamClient, bucket: string, ttlMs: number, log: Logger, onLost: (o: string, epoch: number) => void, replicas = 1): Promise<LeaseManager> {
    const kv = await new Kvm(js).create(bucket, { history: 1, ttl: ttlMs, replicas });
    const m = new LeaseManager(kv, ttlMs, log, onLost);
    await m.heartbeat();
    void m.watchReplicas();
    m.timer = setInterval(() => void m.renewAll(), Math.max(100, Math.floor(ttlMs / 3)));
    m.timer.unref();
    return m;
  }

  /** True while this replica may act (fire, write, dispatch) for the orchestrator. */
  owns(orchestratorId: string): boolean {
    const h = this.held.get(orchestratorId);
    return h !== undefined && now() < h.validUntil;
  }

  /** The current ownership epoch of the orchestrator here, or null when this replica does not own it. */
  epochOf(orchestratorId: string): number | null {
    const h = this.held.get(orchestratorId);
    return h !== undefined && now() < h.validUntil ? h.epoch : null;
  }

  /** True while this replica owns the orchestrator in ownership epoch `epoch`. */
  holds(orchestratorId: string, epoch: number): boolean {
    return this.epochOf(orchestratorId) === epoch;
  }

  owned(): string[] {
    return [...this.held.keys()].filter((o) => this.owns(o));
  }

  /** The replica holding the orchestrator's lease, or null. */
  async ownerOf(orchestratorId: string): Promise<string | null> {
    if (this.owns(orchestratorId)) return this.replicaId;
    const e = await this.kv.get(orchestratorId);
    if (!e || e.operation !== 'PUT' || e.length === 0) return null;
    return (JSON.parse(dec.decode(e.value)) as LeaseValue).owner;
  }

  /** Takes the lease when nobody holds it; true when this replica now owns the orchestrator. */
  async acquire(orchestratorId: string): Promise<boolean> {
    if (this.stopped) return false;
    if (this.owns(orchestratorId)) return true;
    const sentAt = now();
    const value = enc.encode(JSON.stringify({ owner: this.replicaId, acquiredAt: new Date().toISOString() } satisfies LeaseValue));
    try {
      const revision = await this.kv.create(orchestratorId, value);
      this.held.set(orchestratorId, { revision, epoch: revision, validUntil: sentAt + this.ttlMs - this.margin });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Gives the lease up (for rebalancing or shutdown). A renewal still in flight is waited for
   * first (deleting at the revision it replaces would be refused, and the lease would stay until
   * its TTL ran out, keeping the orchestrator from the next owner that long).
   */
  async release(orchestratorId: string): Promise<void> {
    await this.renewing.get(orchestratorId);
    const h = this.held.get(orchestratorId);
    this.held.delete(orchestratorId);
    if (!h) return;
    try {
      await this.kv.delete(orchestratorId, { previousSeq: h.revision });
    } catch (err) {
      if (!isRefusal(err)) return;
      // a renewal of ours that timed out but landed moved the revision: delete at that one
      const e = await this.kv.get(orchestratorId).catch(() => null);
      if (e && e.operation === 'PUT' && e.length > 0 && (JSON.parse(dec.decode(e.value)) as LeaseValue).owner === this.replicaId) {
        await this.kv.delete(orchestratorId, { previousSeq: e.revision }).catch(() => undefined);
      }
    }
  }

  /**
   * Ids of the live replicas (including this one): those whose `_replicas.<id>` key was written
   * within the last TTL, as seen by a watch of those keys. (Listing the keys each time, with
   * `kv.keys()`, sometimes never ended while a key changed or expired during the listing, and
   * the rebalancing waiting on it stopped for good.)
   */
  replicas(): string[] {
    const cutoff = now() - this.ttlMs;
    for (const [id, at] of this.seenReplicas) if (at < cutoff) this.seenReplicas.delete(id);
    return [...new Set([this.replicaId, ...this.seenReplicas.keys()])];
  }

  /** Follows the replicas' heartbeats; a watch that ends (the connection closed) is opened again. */
  private async watchReplicas(): Promise<void> {
    while (!this.stopped) {
      try {
        const w = await this.kv.watch({ key: '_replicas.*' });
        this.stopReplicaWatch = () => w.stop();
        if (this.stopped) w.stop();
        for await (const e of w) {
          const id = e.key.slice('_replicas.'.length);
          if (e.operation === 'PUT') this.seenReplicas.set(id, now());
          else this.seenReplicas.delete(id);
        }
      } catch {
        // the connection is away or closed: try again below
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 500).unref());
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopReplicaWatch();
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.held.keys()].map((o) => this.release(o)));
    await this.kv.delete(`_replicas.${this.replicaId}`).catch(() => undefined);
  }

  private async heartbeat(): Promise<void> {
    const key = `_replicas.${this.replicaId}`;
    const value = enc.encode(JSON.stringify({ at: new Date().toISOString() }));
    try {
      this.replicaRevision = this.replicaRevision === 0 ? await this.kv.create(key, value) : await this.kv.update(key, value, this.replicaRevision);
    } catch {
      this.replicaRevision = await this.kv.put(key, value).catch(() => 0);
    }
  }

  private async renewAll(): Promise<void> {
    if (this.stopped) return;
    await Promise.all([
      this.heartbeat().catch(() => undefined),
      ...[...this.held]
        .filter(([o]) => !this.renewing.has(o))
        .map(async ([o, h]) => {
          const p = this.renew(o, h).catch((err: unknown) => this.log.warn({ err, orchestratorId: o }, 'lease renewal failed'));
          this.renewing.set(o, p);
          try {
            await p;
          } finally {
            this.renewing.delete(o);
          }
        }),
    ]);
  }

  /**
   * One renewal by compare-and-set. A renewal that fails without an answer (timeout, no
   * connection) keeps the lease until its validity runs out, and the next round tries again. A
   * refused one (the revision moved) reads the lease back: a renewal of ours that timed out but
   * landed left our own value there, and the lease is still ours at that revision; anything else
   * means another replica holds it.
   */
  private async renew(o: string, h: Held): Promise<void> {
    const sentAt = now();
    if (sentAt >= h.validUntil) {
      this.lose(o, h, 'lease ran out before it could be renewed');
      return;
    }
    const value = enc.encode(JSON.stringify({ owner: this.replicaId, acquiredAt: new Date().toISOString() } satisfies LeaseValue));
    try {
      const revision = await this.kv.update(o, value, h.revision);
      if (this.held.get(o) === h) this.held.set(o, { revision, epoch: h.epoch, validUntil: sentAt + this.ttlMs - this.margin });
      return;
    } catch (err) {
      if (!isRefusal(err)) {
        if (this.held.get(o) === h) this.held.set(o, { ...h, unconfirmedSince: h.unconfirmedSince ?? sentAt });
        this.log.warn({ orchestratorId: o, err: (err as Error).message }, 'lease renewal got no answer; retrying');
        return;
      }
    }
    const e = await this.kv.get(o).catch(() => null);
    if (e && e.operation === 'PUT' && e.length > 0 && (JSON.parse(dec.decode(e.value)) as LeaseValue).owner === this.replicaId && this.held.get(o) === h) {
      // Still ours at a newer revision: one of our renewals that got no answer landed. It was sent
      // at or after `unconfirmedSince`, so the server keeps the lease at least TTL after that.
      const landed = h.unconfirmedSince === undefined ? h.validUntil : h.unconfirmedSince + this.ttlMs - this.margin;
      this.held.set(o, { revision: e.revision, epoch: h.epoch, validUntil: Math.max(h.validUntil, landed) });
      return;
    }
    this.lose(o, h, 'renewal refused: another replica holds the lease');
  }

  /** Ends the epoch of `h`, unless the lease was given up or acquired again meanwhile (a newer epoch is never touched). */
  private lose(o: string, h: Held, reason: string): void {
    if (this.held.get(o) !== h) return;
    this.held.delete(o);
    this.log.warn({ orchestratorId: o, replicaId: this.replicaId, epoch: h.epoch, reason }, 'lease lost');
    this.onLost(o, h.epoch);
  }
}
