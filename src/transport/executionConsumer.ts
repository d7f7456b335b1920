import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { executionWildcard, type Names } from './subjects.js';

export type ExecutionKind = 'completed' | 'heartbeat';
export type ExecutionHandler = (orchestratorId: string, kind: ExecutionKind, data: Uint8Array, subject: string) => Promise<void>;

/**
 * Reads completions and heartbeats from `P_EXECUTIONS` through a durable consumer, so those
 * published while the scheduler was down are processed when it is back. A message is acked once
 * its effect is written; a handler failure (storage down) is redelivered after a delay.
 */
export class ExecutionConsumer {
  private messages: ConsumerMessages | null = null;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly n: Names,
    private readonly handler: ExecutionHandler,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const existing = await this.jsm.consumers.info(this.n.executionsStream, this.n.consumer).catch(() => null);
    if (!existing) {
      await this.jsm.consumers.add(this.n.executionsStream, {
        durable_name: this.n.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: executionWildcard(this.n.prefix),
        max_ack_pending: 10_000,
        // a message taken by a replica that then died is redelivered after this
        ack_wait: 10_000_000_000,
      });
    }
    const consumer = await this.js.consumers.get(this.n.executionsStream, this.n.consumer);
    this.messages = await consumer.consume({
      max_messages: 1000,
      callback: (m) => {
        const p = this.handle(m).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
      },
    });
  }

  /**
   * Resolves once everything the stream held when called has been processed (or `timeoutMs`
   * passed): at start-up, completions sent while the scheduler was down are applied before any
   * misfire decision is taken.
   */
  async caughtUp(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const info = await this.jsm.consumers.info(this.n.executionsStream, this.n.consumer);
      // Undelivered messages are what matters: those delivered to this process are in `inflight`,
      // those delivered to another replica are forwarded to the owner by it (or redelivered).
      if (info.num_pending === 0) {
        await Promise.allSettled([...this.inflight]);
        return true;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  private async handle(m: JsMsg): Promise<void> {
    const tokens = m.subject.split('.');
    const orchestratorId = tokens[1] ?? '';
    const kind = tokens[3];
    if (tokens.length !== 4 || (kind !== 'completed' && kind !== 'heartbeat')) {
      m.term();
      return;
    }
    try {
      await this.handler(orchestratorId, kind, m.data, m.subject);
      m.ack();
    } catch (err) {
      this.log.warn({ err, subject: m.subject }, 'execution message not processed; redelivering');
      m.nak(500);
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    await this.messages?.close();
    this.messages = null;
  }
}
