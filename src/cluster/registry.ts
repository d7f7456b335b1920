import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

/**
 * The set of orchestrators that have jobs, in the KV bucket `P_orchestrators` (one key each),
 * watched by every replica so each knows which orchestrators need an owner without listing the
 * whole `P_jobs` bucket.
 */
export class OrchestratorRegistry {
  private readonly known = new Set<string>();
  private stopWatch: (() => void) | null = null;

  private constructor(private readonly kv: KV) {}

  static async open(js: JetStreamClient, bucket: string): Promise<OrchestratorRegistry> {
    const r = new OrchestratorRegistry(await new Kvm(js).create(bucket, { history: 1 }));
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
    await this.kv.create(orchestratorId, new TextEncoder().encode('{}')).catch(() => undefined);
    this.known.add(orchestratorId);
  }

  stop(): void {
    this.stopWatch?.();
  }
}
