/**
 * The transport shells with fakes in place of NATS (unit tests only: the integration tests use a
 * real nats-server): the event publisher's retries and shutdown grace, the execution consumer's
 * consumer setup, acks, `working()` pings and catch-up, on a manual clock; and the dispatcher's
 * reading of a reply (it keeps no time of its own: the request timeout is the NATS client's).
 */
import { NoRespondersError, RequestError, type NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/actors/clock.js';
import { SchedulerError } from '../../src/contract/errors.js';
import type { AuditEvent } from '../../src/core/record.js';
import { Dispatcher, type DispatchRequest } from '../../src/transport/dispatcher.js';
import { EventPublisher } from '../../src/transport/eventPublisher.js';
import { ExecutionConsumer, ackWaitMs, type ExecutionKind } from '../../src/transport/executionConsumer.js';
import { names } from '../../src/transport/subjects.js';
import { deferred, FakeLog, flush } from './actor-fakes.js';
import { T0 } from './machine-helpers.js';

const event = (n: number, o = 'acme'): AuditEvent => ({
  id: `inc-e${n}`,
  type: 'job.paused',
  at: new Date(T0).toISOString(),
  orchestratorId: o,
  jobId: 'job1',
  data: { n },
});

/** JetStream's publish: fails while `down`, else stores the message. */
class FakeJs {
  down = false;
  readonly published: { subject: string; data: string; msgID: string | undefined; at: number }[] = [];
  attempts = 0;
  constructor(private readonly clock: ManualClock) {}
  async publish(subject: string, data: string, opts?: { msgID?: string }): Promise<unknown> {
    this.attempts++;
    if (this.down) throw new Error('no stream response');
    this.published.push({ subject, data, msgID: opts?.msgID, at: this.clock.now() });
    return { seq: this.published.length, duplicate: false };
  }
}

function publisher(observe?: (e: AuditEvent) => void) {
  const clock = new ManualClock(T0);
  const js = new FakeJs(clock);
  const log = new FakeLog();
  const p = new EventPublisher(js as unknown as JetStreamClient, 'P', log as unknown as Logger, observe, clock);
  const advance = async (ms: number) => {
    clock.advance(ms);
    await flush();
  };
  /** In 50 ms steps: a loop that waits on the clock sets its next timeout only once its promise resolves. */
  const walk = async (ms: number) => {
    for (let t = 0; t < ms; t += 50) await advance(Math.min(50, ms - t));
  };
  return { clock, js, log, p, advance, walk };
}

describe('EventPublisher', () => {
  it('publishes each event to its subject with its id as Nats-Msg-Id; observes new events, not replays', async () => {
    const seen: string[] = [];
    const { js, log, p } = publisher((e) => void seen.push(e.id));
    await p.publish([event(1), event(2)]);
    await p.publish([event(3)], { replay: true });
    await p.publish([]);
    expect(js.published.map((m) => [m.subject, m.msgID])).toEqual([
      ['P.acme.events.job1.job.paused', 'inc-e1'],
      ['P.acme.events.job1.job.paused', 'inc-e2'],
      ['P.acme.events.job1.job.paused', 'inc-e3'],
    ]);
    expect(JSON.parse(js.published[0]!.data)).toEqual(event(1));
    expect(seen).toEqual(['inc-e1', 'inc-e2']);
    expect(log.lines.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'job.paused'],
      ['info', 'job.paused'],
      ['info', 'job.paused'],
    ]);
  });

  it('a failed publish throws, and is retried on the clock with backoff (250 ms doubling to 5 s) until it lands', async () => {
    const { clock, js, log, p, advance } = publisher();
    js.down = true;
    await expect(p.publish([event(1)])).rejects.toThrow('no stream response');
    expect(p.pending).toBe(1);
    expect(p.isPending('inc-e1')).toBe(true);
    expect(p.isPending('inc-e2')).toBe(false);
    expect(log.find('event publish failed; retrying')).toMatchObject({ level: 'warn', obj: { eventId: 'inc-e1', type: 'job.paused' } });
    const attemptsAt: number[] = [];
    const track = async (ms: number) => {
      const before = js.attempts;
      await advance(ms);
      if (js.attempts > before) attemptsAt.push(clock.now() - T0);
    };
    // retries at +250, +500, +1000, +2000, +4000, +5000, +5000 after each failure
    for (let t = 0; t < 30_000; t += 50) await track(50);
    expect(attemptsAt.slice(0, 8)).toEqual([250, 750, 1_750, 3_750, 7_750, 12_750, 17_750, 22_750]);
    js.down = false;
    await advance(5_000);
    expect(js.published.map((m) => m.msgID)).toEqual(['inc-e1']);
    expect(p.pending).toBe(0);
    expect(p.isPending('inc-e1')).toBe(false);
    // landed: tried no more
    const n = js.attempts;
    await advance(60_000);
    expect(js.attempts).toBe(n);
  });

  it('an event already being retried is not retried twice; pendingFor counts by orchestrator', async () => {
    const { js, p, advance } = publisher();
    js.down = true;
    await expect(p.publish([event(1), event(2, 'other')])).rejects.toThrow();
    await expect(p.publish([event(1)])).rejects.toThrow();
    expect(p.pending).toBe(2);
    expect(p.pendingFor('acme')).toBe(1);
    expect(p.pendingFor('other')).toBe(1);
    expect(p.pendingFor('none')).toBe(0);
    js.down = false;
    await advance(250);
    expect(js.published.map((m) => m.msgID).sort()).toEqual(['inc-e1', 'inc-e2']);
  });

  it('only the events that failed are retried; the first error is thrown', async () => {
    const clock = new ManualClock(T0);
    let calls = 0;
    const js = {
      publish: async (subject: string) => {
        calls++;
        if (calls === 2) throw new Error(`second failed: ${subject}`);
        return {};
      },
    };
    const p = new EventPublisher(js as unknown as JetStreamClient, 'P', new FakeLog() as unknown as Logger, undefined, clock);
    await expect(p.publish([event(1), event(2), event(3)])).rejects.toThrow('second failed');
    expect(p.isPending('inc-e1')).toBe(false);
    expect(p.isPending('inc-e2')).toBe(true);
    expect(p.isPending('inc-e3')).toBe(false);
  });

  it('close waits on the clock for the retries to land, up to its grace', async () => {
    const { js, p, walk } = publisher();
    js.down = true;
    await expect(p.publish([event(1)])).rejects.toThrow();
    let lost: string[] | null = null;
    void p.close(1_000).then((l) => (lost = l));
    await walk(200);
    js.down = false;
    expect(lost).toBeNull();
    await walk(100); // the retry at +250 lands, close sees it at its next check (+300)
    expect(lost).toEqual([]);
    expect(js.published.map((m) => [m.msgID, m.at - T0])).toEqual([['inc-e1', 250]]);
  });

  it('close gives up after its grace: the ids still unpublished, logged; no retry after', async () => {
    const { js, log, p, advance, walk } = publisher();
    js.down = true;
    await expect(p.publish([event(1), event(2)])).rejects.toThrow();
    let lost: string[] | null = null;
    void p.close(2_000).then((l) => (lost = l));
    await walk(1_950);
    expect(lost).toBeNull();
    await walk(50);
    expect(lost).toEqual(['inc-e1', 'inc-e2']);
    expect(log.find('events not published before shutdown')).toMatchObject({ level: 'error', obj: { eventIds: ['inc-e1', 'inc-e2'] } });
    // the waits under way end in one last try each; then the retry loops are over
    js.down = false;
    await advance(10_000);
    const n = js.attempts;
    await advance(60_000);
    expect(js.attempts).toBe(n);
    // closed: a failure now is not retried
    js.down = true;
    await expect(p.publish([event(3)])).rejects.toThrow();
    expect(p.isPending('inc-e3')).toBe(false);
  });

  it('close with nothing pending returns at once, logging nothing', async () => {
    const { log, p } = publisher();
    expect(await p.close(5_000)).toEqual([]);
    expect(log.lines).toEqual([]);
  });
});

/** A JetStream message as the consumer callback gets it. */
class FakeMsg {
  readonly calls: string[] = [];
  readonly data = new TextEncoder().encode('{}');
  constructor(readonly subject: string) {}
  ack(): void {
    this.calls.push('ack');
  }
  nak(ms?: number): void {
    this.calls.push(`nak:${ms}`);
  }
  term(): void {
    this.calls.push('term');
  }
  working(): void {
    this.calls.push('working');
  }
}

function consumerBed(opts: { existingAckWait?: number; ackWait?: number; handler?: (o: string, k: ExecutionKind, d: Uint8Array, s: string) => Promise<void> } = {}) {
  const clock = new ManualClock(T0);
  const n = names('P');
  const log = new FakeLog();
  const calls: unknown[][] = [];
  let callback: ((m: JsMsg) => void) | null = null;
  let closed = 0;
  const infos: { num_pending: number; num_ack_pending: number }[] = [];
  const jsm = {
    consumers: {
      info: async (stream: string, name: string) => {
        calls.push(['info', stream, name]);
        if (callback === null) {
          if (opts.existingAckWait === undefined) throw new Error('consumer not found');
          return { config: { ack_wait: opts.existingAckWait * 1_000_000 } };
        }
        return infos.length > 1 ? infos.shift()! : (infos[0] ?? { num_pending: 0, num_ack_pending: 0 });
      },
      add: async (stream: string, cfg: unknown) => void calls.push(['add', stream, cfg]),
      update: async (stream: string, name: string, cfg: unknown) => void calls.push(['update', stream, name, cfg]),
    },
  };
  const js = {
    consumers: {
      get: async (stream: string, name: string) => {
        calls.push(['get', stream, name]);
        return {
          consume: async (o: { max_messages: number; callback: (m: JsMsg) => void }) => {
            calls.push(['consume', o.max_messages]);
            callback = o.callback;
            return { close: async () => void closed++ };
          },
        };
      },
    },
  };
  const handled: [string, ExecutionKind, string][] = [];
  const handler = opts.handler ?? (async (o: string, k: ExecutionKind, _d: Uint8Array, s: string) => void handled.push([o, k, s]));
  const c = new ExecutionConsumer(js as unknown as JetStreamClient, jsm as unknown as JetStreamManager, n, handler, log as unknown as Logger, opts.ackWait ?? 4_000, clock);
  const deliver = (subject: string): FakeMsg => {
    const m = new FakeMsg(subject);
    callback!(m as unknown as JsMsg);
    return m;
  };
  return { clock, n, log, calls, c, deliver, handled, infos, closed: () => closed };
}

describe('ExecutionConsumer', () => {
  it('ackWaitMs: half the lease TTL, between 1 and 10 s', () => {
    expect(ackWaitMs(6_000)).toBe(3_000);
    expect(ackWaitMs(1_000)).toBe(1_000);
    expect(ackWaitMs(60_000)).toBe(10_000);
    expect(ackWaitMs(5_001)).toBe(2_500);
  });

  it('creates the durable consumer when there is none (explicit acks, all messages, the execution subjects, ack_wait in ns)', async () => {
    const { c, calls } = consumerBed({ ackWait: 4_000 });
    await c.start();
    expect(calls).toEqual([
      ['info', 'P_EXECUTIONS', 'P_scheduler'],
      ['add', 'P_EXECUTIONS', { durable_name: 'P_scheduler', ack_policy: 'explicit', deliver_policy: 'all', filter_subject: 'P.*.execution.>', max_ack_pending: 10_000, ack_wait: 4_000_000_000 }],
      ['get', 'P_EXECUTIONS', 'P_scheduler'],
      ['consume', 1000],
    ]);
  });

  it("updates an existing consumer's ack_wait when it differs, and leaves it alone when it does not", async () => {
    const a = consumerBed({ ackWait: 4_000, existingAckWait: 10_000 });
    await a.c.start();
    expect(a.calls[1]).toEqual(['update', 'P_EXECUTIONS', 'P_scheduler', { ack_wait: 4_000_000_000 }]);
    expect(a.log.find('execution consumer ack_wait updated')).toMatchObject({ level: 'info', obj: { consumer: 'P_scheduler', ackWaitMs: 4_000 } });
    const b = consumerBed({ ackWait: 4_000, existingAckWait: 4_000 });
    await b.c.start();
    expect(b.calls.map((x) => x[0])).toEqual(['info', 'get', 'consume']);
  });

  it('hands completions and heartbeats to the handler and acks them; terminates what is not one', async () => {
    const { c, deliver, handled } = consumerBed();
    await c.start();
    const ok = deliver('P.acme.execution.completed');
    const hb = deliver('P.acme.execution.heartbeat');
    const bad = [deliver('P.acme.execution.other'), deliver('P.acme.execution'), deliver('P.acme.execution.completed.x')];
    await flush();
    expect(handled).toEqual([
      ['acme', 'completed', 'P.acme.execution.completed'],
      ['acme', 'heartbeat', 'P.acme.execution.heartbeat'],
    ]);
    expect(ok.calls).toEqual(['ack']);
    expect(hb.calls).toEqual(['ack']);
    expect(bad.map((m) => m.calls)).toEqual([['term'], ['term'], ['term']]);
  });

  it('a handler failure is redelivered (nak after 500 ms): warned, or only debug for unavailable', async () => {
    let fail: unknown = new Error('not loaded');
    const { c, deliver, log } = consumerBed({
      handler: async () => {
        throw fail;
      },
    });
    await c.start();
    const m1 = deliver('P.acme.execution.completed');
    await flush();
    fail = new SchedulerError('unavailable', 'handover');
    const m2 = deliver('P.acme.execution.completed');
    await flush();
    expect(m1.calls).toEqual(['nak:500']);
    expect(m2.calls).toEqual(['nak:500']);
    expect(log.lines.filter((l) => l.msg === 'execution message not processed; redelivering').map((l) => [l.level, l.obj.err])).toEqual([
      ['warn', 'not loaded'],
      ['debug', 'handover'],
    ]);
  });

  it('while the handler works, the server is told every ackWait/2 (at least 250 ms); not after it is done', async () => {
    const gate = deferred();
    const { c, deliver, clock } = consumerBed({ ackWait: 4_000, handler: () => gate.promise });
    await c.start();
    const m = deliver('P.acme.execution.completed');
    clock.advance(1_999);
    expect(m.calls).toEqual([]);
    clock.advance(1);
    expect(m.calls).toEqual(['working']);
    clock.advance(6_000);
    expect(m.calls).toEqual(['working', 'working', 'working', 'working']);
    gate.resolve();
    await flush();
    expect(m.calls.at(-1)).toBe('ack');
    clock.advance(60_000);
    expect(m.calls.filter((x) => x === 'working')).toHaveLength(4);
  });

  it('the working interval is never below 250 ms', async () => {
    const gate = deferred();
    const { c, deliver, clock } = consumerBed({ ackWait: 100, handler: () => gate.promise });
    await c.start();
    const m = deliver('P.acme.execution.heartbeat');
    clock.advance(249);
    expect(m.calls).toEqual([]);
    clock.advance(1);
    expect(m.calls).toEqual(['working']);
    gate.resolve();
    await flush();
  });

  it('caughtUp: true once nothing is pending and what was delivered here is processed', async () => {
    const gate = deferred();
    const { c, deliver, clock, infos } = consumerBed({ handler: () => gate.promise });
    await c.start();
    deliver('P.acme.execution.completed');
    infos.push({ num_pending: 3, num_ack_pending: 1 }, { num_pending: 0, num_ack_pending: 2 }, { num_pending: 0, num_ack_pending: 1 });
    let result: boolean | null = null;
    void c.caughtUp(1_000).then((r) => (result = r));
    for (let i = 0; i < 3; i++) {
      await flush();
      clock.advance(20);
    }
    await flush();
    expect(result).toBeNull(); // caught up with the stream, waiting for the message in flight
    gate.resolve();
    await flush();
    expect(result).toBe(true);
  });

  it('caughtUp: false when the stream is not caught up by the deadline (it polls every 20 ms on the clock)', async () => {
    const { c, clock, infos, calls } = consumerBed();
    await c.start();
    infos.push({ num_pending: 5, num_ack_pending: 0 });
    let result: boolean | null = null;
    void c.caughtUp(100).then((r) => (result = r));
    for (let i = 0; i < 4; i++) {
      await flush();
      clock.advance(20);
    }
    await flush();
    expect(result).toBeNull();
    const polls = calls.filter((x) => x[0] === 'info').length;
    for (let i = 0; i < 2; i++) {
      await flush();
      clock.advance(20);
    }
    await flush();
    expect(result).toBe(false);
    expect(polls).toBe(1 + 5); // the start's, then one per 20 ms
  });

  it('caughtUp: false when a message in flight does not finish by the deadline', async () => {
    const { c, deliver, clock } = consumerBed({ handler: () => new Promise(() => undefined) });
    await c.start();
    deliver('P.acme.execution.completed');
    let result: boolean | null = null;
    void c.caughtUp(500).then((r) => (result = r));
    await flush();
    clock.advance(499);
    await flush();
    expect(result).toBeNull();
    clock.advance(1);
    await flush();
    expect(result).toBe(false);
  });

  it('caughtUp with nothing at all: true at once', async () => {
    const { c } = consumerBed();
    await c.start();
    expect(await c.caughtUp(1_000)).toBe(true);
  });

  it('stop waits for the messages in flight, then closes the subscription', async () => {
    const gate = deferred();
    const { c, deliver, closed } = consumerBed({ handler: () => gate.promise });
    await c.start();
    const m = deliver('P.acme.execution.completed');
    let stopped = false;
    void c.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    gate.resolve();
    await flush();
    expect(stopped).toBe(true);
    expect(m.calls).toEqual(['ack']);
    expect(closed()).toBe(1);
    await c.stop();
    expect(closed()).toBe(1);
  });
});

const req = (over: Partial<DispatchRequest> = {}): DispatchRequest => ({
  executionId: 'x1',
  orchestratorId: 'acme',
  jobId: 'job1',
  scheduledAt: new Date(T0).toISOString(),
  firedAt: new Date(T0).toISOString(),
  trigger: 'schedule',
  attempt: 1,
  action: { type: 'workflow_start', workflowId: 'wf', inputs: {} },
  ...over,
});

function dispatcherWith(answer: (subject: string) => Promise<unknown>) {
  const requests: { subject: string; body: unknown; timeout: number | undefined }[] = [];
  const nc = {
    request: (subject: string, data: string, opts?: { timeout?: number }) => {
      requests.push({ subject, body: JSON.parse(data), timeout: opts?.timeout });
      return answer(subject);
    },
  };
  return { d: new Dispatcher(nc as unknown as NatsConnection, 'P'), requests };
}

const reply = (body: unknown) => Promise.resolve({ json: () => (body instanceof Error ? (() => { throw body; })() : body) });

describe('Dispatcher: one attempt and its outcome', () => {
  it('sends the request body to the action type subject with the timeout; an accepting reply is accepted', async () => {
    const { d, requests } = dispatcherWith(() => reply({ accepted: true }));
    expect(await d.send(req({ action: { type: 'command', command: 'c', args: {} } as DispatchRequest['action'] }), 1_234)).toEqual({ accepted: true });
    expect(requests).toEqual([{ subject: 'P.acme.dispatch.command', body: req({ action: { type: 'command', command: 'c', args: {} } as DispatchRequest['action'] }), timeout: 1_234 }]);
  });

  it('a refusal is rejected with its reason as detail (none without a reason); a reply that is not one is rejected', async () => {
    expect(await dispatcherWith(() => reply({ accepted: false, reason: 'busy' })).d.send(req(), 10)).toEqual({ accepted: false, reason: 'rejected', detail: 'busy' });
    const noReason = await dispatcherWith(() => reply({ accepted: false })).d.send(req(), 10);
    expect(noReason).toEqual({ accepted: false, reason: 'rejected' });
    expect(Object.keys(noReason!)).not.toContain('detail');
    expect(await dispatcherWith(() => reply({ ok: 1 })).d.send(req(), 10)).toEqual({ accepted: false, reason: 'rejected', detail: 'reply is not {accepted, reason?}' });
    expect(await dispatcherWith(() => reply(new SyntaxError('bad json'))).d.send(req(), 10)).toEqual({ accepted: false, reason: 'rejected', detail: 'reply is not JSON' });
  });

  it('no responders (as the error, its cause, or a request error) and timeouts', async () => {
    const nr = new NoRespondersError('P.acme.dispatch.workflow_start');
    const send = (err: unknown) => dispatcherWith(() => Promise.reject(err)).d.send(req(), 10);
    expect(await send(nr)).toEqual({ accepted: false, reason: 'no_responders' });
    expect(await send(new RequestError('failed', { cause: nr }))).toEqual({ accepted: false, reason: 'no_responders' });
    expect(await send(Object.assign(new Error('wrapped'), { cause: nr }))).toEqual({ accepted: false, reason: 'no_responders' });
    expect(await send(new RequestError('failed'))).toEqual({ accepted: false, reason: 'timeout' });
    expect(await send(new Error('timeout'))).toEqual({ accepted: false, reason: 'timeout' });
    expect(await send(null)).toEqual({ accepted: false, reason: 'timeout' });
  });

  it('closed: no attempt starts, and one that fails after the close is not reported', async () => {
    const pending = deferred<unknown>();
    const { d, requests } = dispatcherWith(() => pending.promise);
    const inFlight = d.send(req(), 10);
    d.close();
    expect(await d.send(req(), 10)).toBeNull();
    expect(requests).toHaveLength(1);
    pending.reject(new Error('connection closed'));
    expect(await inFlight).toBeNull();
  });
});
