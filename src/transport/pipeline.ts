import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { createInbox, headers as natsHeaders, NoRespondersError, TimeoutError, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** What the job store and the event publisher need of a JetStream client: `publish`, as `JetStreamClient.publish` takes it. */
export interface JsPublisher {
  publish(subject: string, payload: string | Uint8Array, opts?: JsPublishOptions): Promise<PubAck>;
}

/** The subset of JetStream's publish options the scheduler uses (the names of `JetStreamPublishOptions`). */
export interface JsPublishOptions {
  /** `Nats-Msg-Id`: the stream drops a second message with the same id within its duplicate window. */
  msgID?: string;
  /** `Nats-Expected-Last-Subject-Sequence`: a compare-and-set on the subject (a KV revision); 0 = the subject holds nothing. */
  expect?: { lastSubjectSequence?: number };
  timeout?: number;
}

/** How often requests waiting past their deadline are failed (`TimeoutError`). */
const SWEEP_MS = 25;
const DEFAULT_TIMEOUT_MS = 5_000;
/**
 * Requests sent and not yet answered, at most. The rest wait here, in order, and their timeout
 * starts when they are sent: a burst (100,000 jobs recovering at once) then reaches JetStream at
 * the pace it answers, instead of as one queue on the server in which everything behind, the
 * scheduler's own API calls included, times out.
 */
export const MAX_INFLIGHT = 2_048;

interface Waiting {
  resolve: (m: Msg) => void;
  reject: (err: unknown) => void;
  deadline: number;
}

interface Outgoing {
  subject: string;
  payload: string | Uint8Array;
  headers: MsgHdrs | undefined;
  token: string;
  timeoutMs: number;
  resolve: (m: Msg) => void;
  reject: (err: unknown) => void;
}

const dec = new TextDecoder();

/**
 * Requests (dispatches) and JetStream publishes (job record writes, audit events) over one
 * connection, as a group commit: what the jobs ask for during one turn of the event loop goes out
 * together at its end (`setImmediate`), in the order asked, so the jobs that fire in the same
 * instant reach the server in one socket write instead of one each. Every reply comes back on one
 * wildcard subscription of a private inbox and is matched by its token; one sweep timer fails
 * what waited past its deadline.
 *
 * It stands in for `nc.request` and `js.publish` on the hot path, whose per-call costs (a timer
 * and a promise each, an Error built on every *successful* request by nats.js 3.4's
 * `RequestOne.cancel`, the outbound buffer flushed once per wave of microtasks) were the largest
 * share of the scheduler's CPU under load. Answers are the same: a `Msg` for a request (a
 * no-responders status is `NoRespondersError`), a `PubAck` for a publish, a `JetStreamApiError`
 * when JetStream refuses it (its `code` tells a failed compare-and-set), `TimeoutError` without
 * an answer. Order is kept per call site: a job awaits each write before its next.
 */
export class Pipeline implements JsPublisher {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly waiting = new Map<string, Waiting>();
  /** Asked for and not sent yet, oldest first from `head`. */
  private outgoing: Outgoing[] = [];
  private head = 0;
  private flushScheduled = false;
  private sweeper: NodeJS.Timeout | null = null;
  private seq = 0;
  private closed = false;
  /** Batches sent and the messages in them (the group commit's effect: messages / batches). */
  readonly stats = { batches: 0, messages: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly now: () => number = () => performance.now(),
    private readonly maxInflight = MAX_INFLIGHT,
  ) {
    // under the connection's inbox prefix (`_INBOX` unless configured), which deployments allow replies to
    this.inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => (err ? undefined : this.answer(m)) });
  }

  /** Requests sent and waiting for their answer. */
  get inflight(): number {
    return this.waiting.size;
  }

  /** Requests asked for and not sent yet (beyond the in-flight window). */
  get queued(): number {
    return this.outgoing.length - this.head;
  }

  /** A request/reply, as `nc.request`: the reply, `NoRespondersError`, or `TimeoutError` after `timeoutMs`. */
  request(subject: string, payload: string | Uint8Array, opts: { timeout?: number; headers?: MsgHdrs } = {}): Promise<Msg> {
    if (this.closed) return Promise.reject(new Error('pipeline closed'));
    const token = (++this.seq).toString(36);
    const p = new Promise<Msg>((resolve, reject) => {
      this.outgoing.push({ subject, payload, headers: opts.headers, token, timeoutMs: opts.timeout ?? DEFAULT_TIMEOUT_MS, resolve, reject });
    });
    this.schedule();
    return p;
  }

  /** A JetStream publish, as `js.publish`: the stream's `PubAck`, or the `JetStreamApiError` it answered. */
  async publish(subject: string, payload: string | Uint8Array, opts: JsPublishOptions = {}): Promise<PubAck> {
    let h: MsgHdrs | undefined;
    if (opts.msgID !== undefined || opts.expect?.lastSubjectSequence !== undefined) {
      h = natsHeaders();
      if (opts.msgID !== undefined) h.set('Nats-Msg-Id', opts.msgID);
      if (opts.expect?.lastSubjectSequence !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(opts.expect.lastSubjectSequence));
    }
    const m = await this.request(subject, payload, { timeout: opts.timeout ?? DEFAULT_TIMEOUT_MS, ...(h && { headers: h }) });
    const ack = JSON.parse(dec.decode(m.data)) as PubAck & { error?: ConstructorParameters<typeof JetStreamApiError>[0] };
    if (ack.error) throw new JetStreamApiError(ack.error);
    if (!ack.stream) throw new Error('invalid ack response');
    ack.duplicate = ack.duplicate ?? false;
    return ack;
  }

  /** Fails what is still waiting and stops receiving answers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    this.sub.unsubscribe();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const err = new Error('pipeline closed');
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    for (let i = this.head; i < this.outgoing.length; i++) this.outgoing[i]!.reject(err);
    this.outgoing = [];
    this.head = 0;
  }

  private schedule(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  /**
   * Sends what was asked for since the last flush, oldest first, in one synchronous pass (one
   * socket write), as far as the in-flight window allows; the rest goes out as answers come back.
   */
  private flush(): void {
    this.flushScheduled = false;
    const room = this.maxInflight - this.waiting.size;
    const end = Math.min(this.outgoing.length, this.head + Math.max(0, room));
    if (end <= this.head) return;
    this.stats.batches++;
    this.stats.messages += end - this.head;
    const now = this.now();
    for (let i = this.head; i < end; i++) {
      const o = this.outgoing[i]!;
      this.waiting.set(o.token, { resolve: o.resolve, reject: o.reject, deadline: now + o.timeoutMs });
      try {
        this.nc.publish(o.subject, o.payload, { reply: `${this.inbox}.${o.token}`, ...(o.headers && { headers: o.headers }) });
      } catch (err) {
        // a closed connection or a subject the client refuses: that call fails, the others go on
        this.waiting.delete(o.token);
        o.reject(err);
      }
    }
    this.head = end;
    if (this.head === this.outgoing.length) {
      this.outgoing = [];
      this.head = 0;
    } else if (this.head > 4_096) {
      this.outgoing = this.outgoing.slice(this.head);
      this.head = 0;
    }
  }

  /** One request fewer in flight: what waits for room goes out at the end of this turn. */
  private settled(): void {
    if (this.head < this.outgoing.length && !this.flushScheduled && !this.closed) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private answer(m: Msg): void {
    const token = m.subject.slice(this.inbox.length + 1);
    const w = this.waiting.get(token);
    if (!w) return; // timed out already
    this.waiting.delete(token);
    if (m.data.length === 0 && m.headers?.code === 503) w.reject(new NoRespondersError(m.subject));
    else w.resolve(m);
    this.settled();
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) continue;
      this.waiting.delete(token);
      w.reject(new TimeoutError());
    }
    this.settled();
    if (this.waiting.size === 0 && this.head === this.outgoing.length && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}
