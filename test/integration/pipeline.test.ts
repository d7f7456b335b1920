import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, NoRespondersError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pipeline } from '../../src/transport/pipeline.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { until } from '../helpers/harness.js';

/**
 * The group-commit pipeline against a real nats-server: it must answer exactly as `js.publish`,
 * `kv.update` and `nc.request` do (the job store, the event publisher and the dispatcher rely on
 * it), and send what one turn of the event loop asked for together.
 */
describe('Pipeline (group commit of publishes and requests)', () => {
  let srv: NatsServerHandle;
  let nc: NatsConnection;
  let pipeline: Pipeline;

  beforeAll(async () => {
    srv = await startNatsServer();
    nc = await connect({ servers: srv.url, noAsyncTraces: true });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'PIPE', subjects: ['pipe.>'], duplicate_window: 60_000_000_000 });
    pipeline = new Pipeline(nc);
  });

  afterAll(async () => {
    pipeline.close();
    await nc.close();
    await srv.dispose();
  });

  it('publishes in the order asked, one turn of the event loop in one batch, each with its PubAck', async () => {
    const before = nc.stats().outMsgs;
    const batches = pipeline.stats.batches;
    const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => pipeline.publish(`pipe.order.${i % 7}`, JSON.stringify({ i }))));
    expect(acks.map((a) => a.stream)).toEqual(Array(500).fill('PIPE'));
    const seqs = acks.map((a) => a.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // stored in the order asked
    expect(new Set(seqs).size).toBe(500);
    expect(nc.stats().outMsgs - before).toBe(500);
    expect(pipeline.stats.batches - batches).toBe(1); // asked in one turn: sent as one batch
    const stored = await jetstream(nc).streams.get('PIPE').then((s) => s.getMessage({ seq: seqs[499]! }));
    expect(stored?.json()).toEqual({ i: 499 });
  });

  it('drops a second message with the same Nats-Msg-Id (duplicate: true), as js.publish does', async () => {
    const a = await pipeline.publish('pipe.dup', 'one', { msgID: 'same-id' });
    const b = await pipeline.publish('pipe.dup', 'two', { msgID: 'same-id' });
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    expect(b.seq).toBe(a.seq);
  });

  it('a KV compare-and-set: the next revision on a match, JetStreamApiError "wrong last sequence" on a stale one', async () => {
    const kv = await new Kvm(nc).create('PIPEKV', { history: 1 });
    const r1 = await kv.create('job', 'v1');
    const r2 = (await pipeline.publish('$KV.PIPEKV.job', 'v2', { expect: { lastSubjectSequence: r1 } })).seq;
    expect(r2).toBeGreaterThan(r1);
    expect((await kv.get('job'))?.string()).toBe('v2');
    expect((await kv.get('job'))?.revision).toBe(r2);
    const stale = await pipeline.publish('$KV.PIPEKV.job', 'v3', { expect: { lastSubjectSequence: r1 } }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(JetStreamApiError);
    expect((stale as JetStreamApiError).code).toBe(JetStreamApiCodes.StreamWrongLastSequence);
    expect((await kv.get('job'))?.string()).toBe('v2'); // nothing written
  });

  it('a request gets its reply; no responders is NoRespondersError; no reply is TimeoutError after the timeout', async () => {
    const sub = nc.subscribe('svc.echo', { callback: (_e, m) => void m.respond(`echo:${m.string()}`) });
    await nc.flush();
    const replies = await Promise.all([1, 2, 3].map((i) => pipeline.request('svc.echo', String(i), { timeout: 2_000 })));
    expect(replies.map((m) => m.string())).toEqual(['echo:1', 'echo:2', 'echo:3']);
    sub.unsubscribe();
    await expect(pipeline.request('nobody.listens', 'x', { timeout: 2_000 })).rejects.toBeInstanceOf(NoRespondersError);
    const silent = nc.subscribe('svc.silent', { callback: () => undefined });
    await nc.flush();
    const t0 = performance.now();
    await expect(pipeline.request('svc.silent', 'x', { timeout: 200 })).rejects.toBeInstanceOf(TimeoutError);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    silent.unsubscribe();
    expect(pipeline.inflight).toBe(0);
  });

  it('a publish to a subject no stream captures is refused at once (no responders), the others of its batch land', async () => {
    const [bad, good] = await Promise.allSettled([pipeline.publish('nostream.here', 'x'), pipeline.publish('pipe.fine', 'y')]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(NoRespondersError);
    expect(good.status).toBe('fulfilled');
  });

  it('keeps at most its window in flight; the rest goes out as answers come back, in order, each timed from when it was sent', async () => {
    const small = new Pipeline(nc, undefined, 3);
    let inFlightSeen = 0;
    const held: { respond: () => void }[] = [];
    const sub = nc.subscribe('svc.slow', {
      callback: (_e, m) => {
        held.push({ respond: () => void m.respond(m.data) });
        inFlightSeen = Math.max(inFlightSeen, small.inflight);
      },
    });
    await nc.flush();
    const replies = Array.from({ length: 10 }, (_, i) => small.request('svc.slow', String(i), { timeout: 1_000 }));
    await until(() => held.length === 3, 5_000, 'the first window');
    await new Promise((r) => setTimeout(r, 100));
    expect(held).toHaveLength(3); // nothing beyond the window went out
    expect(small.inflight).toBe(3);
    expect(small.queued).toBe(7);
    // answered slowly: the queued ones do not time out while they wait to be sent
    for (let answered = 0; answered < 10; answered++) {
      await until(() => held.length > answered, 5_000, `request ${answered}`);
      await new Promise((r) => setTimeout(r, 150));
      held[answered]!.respond();
    }
    expect((await Promise.all(replies)).map((m) => m.string())).toEqual([...Array(10).keys()].map(String));
    expect(inFlightSeen).toBeLessThanOrEqual(3);
    sub.unsubscribe();
    small.close();
  });

  it('after close, what still waits is failed and new calls are refused', async () => {
    const p2 = new Pipeline(nc);
    const silent = nc.subscribe('svc.never', { callback: () => undefined });
    await nc.flush();
    const waiting = p2.request('svc.never', 'x', { timeout: 60_000 });
    await new Promise((r) => setTimeout(r, 20));
    p2.close();
    await expect(waiting).rejects.toThrow('pipeline closed');
    await expect(p2.publish('pipe.x', 'y')).rejects.toThrow('pipeline closed');
    silent.unsubscribe();
  });
});
