import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../actors/clock.js';
import { SchedulerError } from '../contract/errors.js';
import { executionWildcard, type Names } from './subjects.js';

export type ExecutionKind = 'completed' | 'heartbeat';
export type ExecutionHandler = (orchestratorId: string, kind: ExecutionKind, data: Uint8Array, subject: string) => Promise<void>;

/**
 * How long a message delivered to a replica that then died waits before it is redelivered: half
 * the lease TTL (between 1 and 10 s), so what a crashed replica had taken is back before its
 * lease runs out and the next owner loads the jobs (and decides about slots with it applied).
 * A live replica working on a message longer than this tells the server so (`working()`).
 */
export const ackWaitMs = (leaseTtlMs: number): number => Math.min(10_000, Math.max(1_000, Math.floor(leaseTtlMs / 2)));

/** Calls `fn` every `ms` on `clock` (a timeout re-armed after each call) until the returned function is called. */
function every(clock: Clock, ms: number, fn: () => void): () => void {
  let stopped = false;
  let handle: unknown = null;
  const tick = (): void => {
    if (stopped) return;
    fn();
    handle = clock.setTimeout(tick, ms);
  };
  handle = clock.setTimeout(tick, ms);
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}

/**
 * Reads completions and heartbeats from `P_EXECUTIONS` through a durable consumer, so those
 * published while the scheduler was down are processed when it is back. A message is acked once
 * its effect is written; a handler failure (storage down, jobs not loaded here) is redelivered
 * after a delay. Its waits and `working()` pings are on the injected clock (the system clock in
 * production, whose timers do not hold the process open: the NATS connection does; a manual one
 * in unit tests).
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
    private readonly ackWait = 10_000,
    private readonly clock: Clock = systemClock,
  ) {}

  async start(): Promise<void> {
    const existing = await this.jsm.consumers.info(this.n.executionsStream, this.n.consumer).catch(() => null);
    const ackWaitNs = this.ackWait * 1_000_000;
    if (!existing) {
      await this.jsm.consumers.add(this.n.executionsStream, {
        durable_name: this.n.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: executionWildcard(this.n.prefix),
        max_ack_pending: 10_000,
        ack_wait: ackWaitNs,
      });
    } else if (existing.config.ack_wait !== ackWaitNs) {
      await this.jsm.consumers.update(this.n.executionsStream, this.n.consumer, { ack_wait: ackWaitNs });
      this.log.info({ consumer: this.n.consumer, ackWaitMs: this.ackWait }, 'execution consumer ack_wait updated');
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
    const end = this.clock.now() + timeoutMs;
    while (this.clock.now() < end) {
      const info = await this.jsm.consumers.info(this.n.executionsStream, this.n.consumer);
      // Undelivered messages, and delivered ones no live replica is working on (a crashed one's,
      // back after ack_wait): those delivered to this process are in `inflight`, those delivered
      // to another live replica are forwarded to the owner by it (or redelivered).
      if (info.num_pending === 0 && info.num_ack_pending <= this.inflight.size) {
        // bounded too: a message in flight may itself wait for the takeover that waits here
        let timer: unknown;
        const settled = await Promise.race([
          Promise.allSettled([...this.inflight]).then(() => true),
          new Promise<false>((r) => (timer = this.clock.setTimeout(() => r(false), Math.max(0, end - this.clock.now())))),
        ]);
        this.clock.clearTimeout(timer);
        return settled;
      }
      await new Promise<void>((r) => this.clock.setTimeout(r, 20));
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
    const stopWorking = every(this.clock, Math.max(250, Math.floor(this.ackWait / 2)), () => m.working());
    try {
      await this.handler(orchestratorId, kind, m.data, m.subject);
      m.ack();
    } catch (err) {
      // `unavailable` is expected while a handover or takeover is in progress: not worth a warning each time
      const expected = err instanceof SchedulerError && err.code === 'unavailable';
      this.log[expected ? 'debug' : 'warn']({ err: (err as Error).message, subject: m.subject }, 'execution message not processed; redelivering');
      m.nak(500);
    } finally {
      stopWorking();
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    await this.messages?.close();
    this.messages = null;
  }
}
