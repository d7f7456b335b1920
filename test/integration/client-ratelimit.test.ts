import { Writable } from 'node:stream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LimitExceededError, SchedulerClient } from '../../src/client/index.js';
import { loadConfig } from '../../src/config.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { TestBed, uniquePrefix } from '../helpers/harness.js';

/**
 * The per-orchestrator command rate limit, end to end: a refusal's details say when a token is
 * available (`retryAfterMs`), and SchedulerClient sends refused commands again after that delay.
 * SCHED_RATE_LIMIT 20 (burst 40): a pipelined burst of 120 creates from one orchestrator is
 * refused in part, since 120 commands are processed far quicker than the 4 s the bucket needs
 * to refill 80 tokens.
 */

const RATE = 20;
const N = 120;
const target = { type: 'command', command: 'x' } as const;
const spec = (i: number) => ({ jobId: `j${i}`, schedule: { kind: 'interval', every: '1h' }, target }) as const;

async function settle<T>(ps: Promise<T>[]): Promise<{ ok: T[]; failed: unknown[] }> {
  const rs = await Promise.allSettled(ps);
  return {
    ok: rs.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    failed: rs.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : [])),
  };
}

describe('rate-limit refusals carry retryAfterMs and SchedulerClient retries them', () => {
  let bed: TestBed;
  let schedNc: NatsConnection;
  let scheduler: Scheduler;
  let nc: NatsConnection;
  const logLines: { level: number; msg: string; code?: string; orchestratorId?: string }[] = [];
  const P = uniquePrefix();

  beforeAll(async () => {
    bed = await TestBed.start();
    // a scheduler of our own (not bed.scheduler): its log is captured, at debug
    const config = loadConfig({ NATS_URL: bed.server.url, SCHED_HTTP_PORT: '0', SCHED_PREFIX: P, SCHED_RATE_LIMIT: String(RATE) });
    schedNc = await connect({ servers: bed.server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
        done();
      },
    });
    scheduler = await Scheduler.start({ config, nc: schedNc, log: pino({ level: 'debug' }, sink) });
    nc = await connect({ servers: bed.server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await scheduler?.stop();
    await schedNc?.drain().catch(() => undefined);
    await bed?.dispose();
  });

  it('with retries (the default) a pipelined burst of creates from one client all succeed', async () => {
    const client = new SchedulerClient({ nc, prefix: P, orchestratorId: 'retrying' });
    const { ok, failed } = await settle(Array.from({ length: N }, (_, i) => client.create(spec(i))));
    expect(failed).toEqual([]);
    expect(ok.map((j) => j.jobId).sort()).toEqual(Array.from({ length: N }, (_, i) => `j${i}`).sort());
    // the scheduler did refuse some: the successes above are retries
    const refused = logLines.filter((l) => l.msg === 'command refused' && l.orchestratorId === 'retrying');
    expect(refused.length).toBeGreaterThan(0);
    // and every job is there once
    const listed: string[] = [];
    for await (const j of client.listAll()) listed.push(j.jobId);
    expect(listed.sort()).toEqual(ok.map((j) => j.jobId).sort());
  });

  it('with rateLimitRetries: 0 some are refused: LimitExceededError, rateLimited, with retryAfterMs in details', async () => {
    const client = new SchedulerClient({ nc, prefix: P, orchestratorId: 'impatient', rateLimitRetries: 0 });
    const { ok, failed } = await settle(Array.from({ length: N }, (_, i) => client.create(spec(i))));
    expect(failed.length).toBeGreaterThan(0);
    expect(ok.length).toBeGreaterThanOrEqual(2 * RATE); // the burst
    expect(ok.length + failed.length).toBe(N);
    const horizonMs = 4 * ((2 * RATE) / RATE) * 1000;
    for (const err of failed) {
      expect(err).toBeInstanceOf(LimitExceededError);
      const e = err as LimitExceededError;
      expect(e.rateLimited).toBe(true);
      expect(e.details).toEqual({ limit: 'commands per second', retryAfterMs: e.retryAfterMs });
      expect(e.retryAfterMs).toBeGreaterThanOrEqual(1);
      expect(e.retryAfterMs).toBeLessThanOrEqual(horizonMs);
      expect(e.message).toContain(`more than ${RATE} commands a second`);
    }
    // successive refusals are told successive tokens: the delays are not all the same
    const delays = failed.map((e) => (e as LimitExceededError).retryAfterMs!);
    if (delays.length > 1) expect(new Set(delays).size).toBeGreaterThan(1);
  });

  it('on the wire: 429 with details {limit, retryAfterMs}; the command server logs these at debug, not warn', async () => {
    // drain the bucket of a fresh orchestrator with raw requests, then look at one refusal as sent
    const subject = `${P}.raw.schedule.show`;
    const replies = await Promise.all(
      Array.from({ length: 3 * RATE }, () => nc.request(subject, JSON.stringify({ jobId: 'nope' }), { timeout: 10_000 })),
    );
    const refused = replies.filter((m) => m.json<{ ok: boolean; error?: { code: string } }>().error?.code === 'limit_exceeded');
    expect(refused.length).toBeGreaterThan(0);
    const m = refused[0]!;
    expect(m.headers?.get('Nats-Service-Error-Code')).toBe('429');
    const body = m.json<{ ok: false; error: { code: string; message: string; details: { limit: string; retryAfterMs: number } } }>();
    expect(body.ok).toBe(false);
    expect(Object.keys(body.error.details).sort()).toEqual(['limit', 'retryAfterMs']);
    expect(body.error.details.limit).toBe('commands per second');
    expect(Number.isInteger(body.error.details.retryAfterMs)).toBe(true);
    expect(body.error.details.retryAfterMs).toBeGreaterThan(0);
    const logged = logLines.filter((l) => l.msg === 'command refused' && l.orchestratorId === 'raw' && l.code === 'limit_exceeded');
    expect(logged.length).toBe(refused.length);
    expect(logged.every((l) => l.level === 20)).toBe(true); // pino's debug
  });
});
