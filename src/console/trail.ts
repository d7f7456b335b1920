import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

/**
 * The orchestrators registered in `P_orchestrators` (src/cluster/registry.ts writes one key each):
 * read-only, opened lazily, never created here (a console must not make the scheduler's buckets).
 */
export class OrchestratorList {
  private kv: Promise<KV> | null = null;

  constructor(
    private readonly js: JetStreamClient,
    private readonly bucket: string,
  ) {}

  async list(): Promise<string[]> {
    this.kv ??= new Kvm(this.js).open(this.bucket);
    let kv: KV;
    try {
      kv = await this.kv;
    } catch (err) {
      this.kv = null;
      throw err;
    }
    // a set: the listing follows the bucket while it is read, so a key written meanwhile comes again
    const keys = new Set<string>();
    for await (const k of await kv.keys()) keys.add(k);
    return [...keys].sort();
  }
}
