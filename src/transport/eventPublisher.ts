import type { Logger } from 'pino';
import { systemClock, type Clock } from '../actors/clock.js';
import type { AuditEvent } from '../core/record.js';
import type { JsPublisher } from './pipeline.js';
import { eventSubject } from './subjects.js';

/**
 * Publishes audit events to `P.<o>.events.<jobId>.<type>` through JetStream, with the event id
 * as `Nats-Msg-Id` (a replayed event is dropped by the stream's duplicate window), and logs each
 * one with pino. A publish that fails is retried with backoff until it lands or the publisher is
 * closed; `pending` tells how many are waiting. Its waits (the retry backoff, the grace of `close`)
 * are on the injected clock: the system clock in production (its timers do not hold the process
 * open; the NATS connection, drained after `close`, does), a manual one in unit tests.
 */
export class EventPublisher {
  private retrying = new Set<AuditEvent>();
  private readonly retryingIds = new Set<string>();
  private closed = false;
  private inflight = new Set<Promise<void>>();

  constructor(
    /** A `JetStreamClient`, or the scheduler's `Pipeline` (publishes of one turn of the event loop sent together). */
    private readonly js: JsPublisher,
    private readonly prefix: string,
    private readonly log: Logger,
    /** Sees every event once, when it is first handed over (metrics). */
    private readonly observe: (e: AuditEvent) => void = () => undefined,
    private readonly clock: Clock = systemClock,
  ) {}

  get pending(): number {
    return this.retrying.size;
  }

  /** Whether the event with this id is still being retried (not yet stored by JetStream). */
  isPending(id: string): boolean {
    return this.retryingIds.has(id);
  }

  /** Events of this orchestrator still being retried. */
  pendingFor(orchestratorId: string): number {
    let n = 0;
    for (const e of this.retrying) if (e.orchestratorId === orchestratorId) n++;
    return n;
  }

  /** Resolves once JetStream stored the events; throws when the first attempt fails (they are retried in the background). */
  async publish(events: readonly AuditEvent[], opts: { replay?: boolean } = {}): Promise<void> {
    if (events.length === 0) return;
    if (!opts.replay) for (const e of events) this.observe(e);
    const results = await Promise.allSettled(events.map((e) => this.publishOne(e)));
    let firstError: unknown;
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        firstError ??= r.reason;
        this.retry(events[i]!);
      }
    });
    if (firstError !== undefined) throw firstError;
  }

  private async publishOne(e: AuditEvent): Promise<void> {
    await this.js.publish(eventSubject(this.prefix, e.orchestratorId, e.jobId, e.type), JSON.stringify(e), { msgID: e.id });
    this.log.info({ event: e }, e.type);
  }

  private retry(e: AuditEvent): void {
    if (this.closed || this.retryingIds.has(e.id)) return;
    this.retrying.add(e);
    this.retryingIds.add(e.id);
    this.log.warn({ eventId: e.id, type: e.type }, 'event publish failed; retrying');
    const loop = async (): Promise<void> => {
      let delay = 250;
      while (!this.closed) {
        await new Promise<void>((r) => this.clock.setTimeout(r, delay));
        try {
          await this.publishOne(e);
          this.retrying.delete(e);
          this.retryingIds.delete(e.id);
          return;
        } catch {
          delay = Math.min(delay * 2, 5_000);
        }
      }
    };
    const p = loop().finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Gives the retries up to `ms` to land, then stops them; returns the ids still unpublished. */
  async close(ms: number): Promise<string[]> {
    const deadline = this.clock.now() + ms;
    while (this.retrying.size > 0 && this.clock.now() < deadline) await new Promise<void>((r) => this.clock.setTimeout(r, 50));
    this.closed = true;
    const lost = [...this.retrying].map((e) => e.id);
    if (lost.length > 0) this.log.error({ eventIds: lost }, 'events not published before shutdown');
    return lost;
  }
}
