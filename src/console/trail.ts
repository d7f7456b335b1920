import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

/** An audit event as published (SPEC §7). */
export interface TrailEvent {
  id: string;
  type: string;
  at: string;
  orchestratorId: string;
  jobId: string;
  executionId?: string;
  data: Record<string, unknown>;
}

export interface TrailPage {
  events: TrailEvent[];
  /** True when `limit` stopped the read before `to`. */
  truncated: boolean;
}

/**
 * One job's audit events in `[from, to]` from the `P_EVENTS` stream: an ordered consumer filtered
 * to that job's subjects (`P.<o>.events.<jobId>.>`) that starts at `from` (the stream's own
 * timestamps), so the server sends only that job's events since then; never a scan of the stream.
 */
export async function readJobTrail(
  js: JetStreamClient,
  stream: string,
  prefix: string,
  o: string,
  jobId: string,
  from: number,
  to: number,
  limit: number,
): Promise<TrailPage> {
  const c = await js.consumers.get(stream, {
    // one subject as a string: `filter_subject`, which servers before 2.10 know too
    filter_subjects: `${prefix}.${o}.events.${jobId}.>`,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(from).toISOString(),
  });
  const events: TrailEvent[] = [];
  let truncated = false;
  try {
    if ((await c.info(true)).num_pending === 0) return { events, truncated };
    const messages = await c.consume({ max_messages: Math.min(limit, 1000) });
    for await (const m of messages) {
      const stamp = m.time.getTime();
      if (stamp > to) break;
      events.push(m.json<TrailEvent>());
      if (events.length >= limit) {
        truncated = m.info.pending > 0;
        break;
      }
      if (m.info.pending === 0) break;
    }
    await messages.close();
  } finally {
    await c.delete().catch(() => undefined);
  }
  return { events, truncated };
}

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
    const out: string[] = [];
    for await (const k of await kv.keys()) out.push(k);
    return out.sort();
  }
}
