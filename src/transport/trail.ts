import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { AuditEvent } from '../core/record.js';

/** What `explain` reads of one job's audit trail. */
export interface TrailQuery {
  orchestratorId: string;
  jobId: string;
  /** Event types to read (each is one subject `P.<o>.events.<jobId>.<type>`); all when absent. */
  types?: readonly string[];
  /** Read from this instant on (the stream's own timestamp); from the oldest retained when absent. */
  from?: number;
  /** Stop at the first event the stream stored after this instant. */
  to?: number;
  /** Stop after this many events, or as soon as `until` says so. */
  limit: number;
  until?: (e: AuditEvent) => boolean;
}

/** Reads a job's audit trail (a port: the scheduler's is JetStream, tests may use a list). */
/** One read of a job's trail, and whether `limit` stopped it before the end (or `to`). */
export interface TrailPage {
  events: AuditEvent[];
  truncated: boolean;
}

export interface TrailReader {
  read(q: TrailQuery): Promise<AuditEvent[]>;
  /** The last event of one type of the job (null: none retained): one direct read, no consumer. */
  last(orchestratorId: string, jobId: string, type: string): Promise<AuditEvent | null>;
}

/**
 * One job's audit trail from the `P_EVENTS` stream through ordered consumers filtered to that
 * job's subjects (`P.<o>.events.<jobId>.<type>`) and, when given, a start time: the server
 * delivers only those messages, so the cost is that job's events since then, not the stream's.
 * A consumer has one filter subject (nats-server 2.9 takes no more): a read that stops early
 * (`until`) follows the job's whole subject tree in order and keeps the types asked for; any other
 * reads each type's subject, all at once, merged in stream order.
 */
export class JetStreamTrail implements TrailReader {
  private jsm: Promise<JetStreamManager> | null = null;

  constructor(
    private readonly js: JetStreamClient,
    private readonly prefix: string,
    private readonly stream: string,
  ) {}

  async last(orchestratorId: string, jobId: string, type: string): Promise<AuditEvent | null> {
    this.jsm ??= this.js.jetstreamManager(false);
    const m = await (await this.jsm).streams
      .getMessage(this.stream, { last_by_subj: `${this.prefix}.${orchestratorId}.events.${jobId}.${type}` })
      .catch((err: unknown) => {
        // no message on that subject (JetStream's "no message found")
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return null;
        throw err;
      });
    return m === null ? null : m.json<AuditEvent>();
  }

  async read(q: TrailQuery): Promise<AuditEvent[]> {
    const base = `${this.prefix}.${q.orchestratorId}.events.${q.jobId}`;
    if (q.types === undefined || q.until !== undefined) return (await this.page(q)).events;
    const parts = await Promise.all(q.types.map((t) => this.readSubject(`${base}.${t}`, q, null)));
    return parts
      .flatMap((p) => p.items)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, q.limit)
      .map((x) => x.e);
  }

  /** The job's events in one pass over its whole subject tree, in order (the types asked for, if any). */
  async page(q: TrailQuery): Promise<TrailPage> {
    const wanted = q.types === undefined ? null : new Set(q.types);
    const { items, truncated } = await this.readSubject(`${this.prefix}.${q.orchestratorId}.events.${q.jobId}.>`, q, wanted);
    return { events: items.map((x) => x.e), truncated };
  }

  private async readSubject(subject: string, q: TrailQuery, wanted: Set<string> | null): Promise<{ items: { seq: number; e: AuditEvent }[]; truncated: boolean }> {
    const c = await this.js.consumers.get(this.stream, {
      filter_subjects: subject,
      ...(q.from === undefined
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(q.from).toISOString() }),
    });
    const items: { seq: number; e: AuditEvent }[] = [];
    let truncated = false;
    try {
      if ((await c.info(true)).num_pending === 0) return { items, truncated };
      const messages = await c.consume({ max_messages: Math.min(q.limit, 1000) });
      for await (const m of messages) {
        if (q.to !== undefined && m.time.getTime() > q.to) break;
        const e = m.json<AuditEvent>();
        if (wanted === null || wanted.has(e.type)) items.push({ seq: m.seq, e });
        if (items.length >= q.limit) {
          truncated = m.info.pending > 0;
          break;
        }
        if (m.info.pending === 0 || q.until?.(e)) break;
      }
      await messages.close();
    } finally {
      await c.delete().catch(() => undefined);
    }
    return { items, truncated };
  }
}
