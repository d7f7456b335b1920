import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The set of orchestrators that have jobs, in the KV bucket `P_orchestrators` (one key each),
 * watched by every replica so each knows which orchestrators need an owner without listing the
 * whole `P_jobs` bucket. The value says whether the last owner handed it over cleanly
 * (`{"cleanAt": ...}`: its jobs' outboxes are all published, so the next owner replays none).
 */
export class OrchestratorRegistry {
  private readonly known = new Set<string>();
  private stopWatch: (() => void) | null = null;

  private constructor(private readonly kv: KV) {}

  static async open(js: JetStreamClient, bucket: string, replicas = 1): Promise<OrchestratorRegistry> {
    const r = new OrchestratorRegistry(await new Kvm(js).create(bucket, { history: 1, replicas }));
    const watch = await r.kv.watch();
    r.stopWatch = () => watch.stop();
    let resolveInitial!: () => void;
    const initial = new Promise<void>((res) => (resolveInitial = res));
    const status = await r.kv.status();
    if (status.values === 0) resolveInitial();
    let seen = 0;
    void (async () => {
      for await (const e of watch) {
        if (e.operation === 'PUT') r.known.add(e.key);
        else r.known.delete(e.key);
        if (++seen >= status.values || e.isUpdate) resolveInitial();
      }
    })();
    await initial;
    return r;
  }

  has(orchestratorId: string): boolean {
    return this.known.has(orchestratorId);
  }

  list(): string[] {
    return [...this.known];
  }

  /** Records an orchestrator (idempotent). */
  async register(orchestratorId: string): Promise<void> {
    if (this.known.has(orchestratorId)) return;
    await this.kv.create(orchestratorId, enc.encode('{}')).catch(() => undefined);
    this.known.add(orchestratorId);
  }

  /**
   * Marks the orchestrator as handed over cleanly: every event in its jobs' outboxes is published.
   * Written by the owner, while it still holds the lease, right before it releases it.
   */
  async markClean(orchestratorId: string): Promise<void> {
    await this.kv.put(orchestratorId, enc.encode(JSON.stringify({ cleanAt: new Date().toISOString() })));
  }

  /**
   * At a takeover: true when the previous owner handed the orchestrator over cleanly (its outboxes
   * need no replay). The mark is cleared by compare-and-set first, so a crash of the new owner
   * later leaves no stale mark; when anything fails the answer is false (replay: the safe side).
   */
  async takeClean(orchestratorId: string): Promise<boolean> {
    try {
      const e = await this.kv.get(orchestratorId);
      if (!e || e.operation !== 'PUT' || e.length === 0) return false;
      const v = JSON.parse(dec.decode(e.value)) as { cleanAt?: unknown };
      if (typeof v.cleanAt !== 'string') return false;
      await this.kv.update(orchestratorId, enc.encode('{}'), e.revision);
      return true;
    } catch {
      return false;
    }
  }

  stop(): void {
    this.stopWatch?.();
  }
}
