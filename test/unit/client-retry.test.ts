import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidArgumentError } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMIT_RETRIES, SchedulerClient, rateLimitDelay } from '../../src/client/client.js';
import { InvalidRequestError, LimitExceededError, RATE_LIMIT_MARKER, UnavailableError } from '../../src/client/errors.js';
import { RATE_LIMITED } from '../../src/transport/commandServer.js';

/**
 * SchedulerClient on a fake connection: which refusals it sends again (the rate limit's, after
 * its `retryAfterMs`), how often, and what it throws for a body above the server's max_payload.
 */

const view = { jobId: 'j' };
const rateLimited = (retryAfterMs?: number) => ({
  ok: false,
  error: { code: 'limit_exceeded', message: 'more than 5 commands a second', details: { limit: 'commands per second', ...(retryAfterMs !== undefined && { retryAfterMs }) } },
});
const quota = { ok: false, error: { code: 'limit_exceeded', message: 'at most 8 jobs per orchestrator' } };
const payloadQuota = { ok: false, error: { code: 'limit_exceeded', message: 'target.args is 300 bytes', details: [{ path: 'target.args', message: 'at most 256 bytes' }] } };

/** A connection that answers each request with the next reply of `replies` (the last one again when they run out). */
function fakeNc(replies: object[], info: { max_payload: number } | undefined = { max_payload: 1024 * 1024 }) {
  const sent: Uint8Array[] = [];
  const nc = {
    info,
    request: async (_subject: string, data: Uint8Array) => {
      sent.push(data);
      const r = replies[Math.min(sent.length - 1, replies.length - 1)];
      return { json: () => r };
    },
  };
  return { nc: nc as unknown as NatsConnection, sent };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const spec = { jobId: 'j', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x' } } as const;

describe('SchedulerClient: rate-limit refusals are sent again', () => {
  it('the client recognises the scheduler\'s marker', () => {
    expect(RATE_LIMIT_MARKER).toBe(RATE_LIMITED.limit);
  });

  it('retries a rate-limited command until it succeeds (default 5 retries)', async () => {
    expect(DEFAULT_RATE_LIMIT_RETRIES).toBe(5);
    const { nc, sent } = fakeNc([rateLimited(1), rateLimited(2), rateLimited(1), { ok: true, job: view }]);
    const c = new SchedulerClient({ nc, orchestratorId: 'o' });
    expect(await c.create(spec)).toEqual(view);
    expect(sent).toHaveLength(4);
    // the same body every time
    expect(new Set(sent.map((d) => new TextDecoder().decode(d))).size).toBe(1);
  });

  it('after the last retry throws the LimitExceededError, with rateLimited and retryAfterMs', async () => {
    const { nc, sent } = fakeNc([rateLimited(1)]);
    const c = new SchedulerClient({ nc, orchestratorId: 'o', rateLimitRetries: 2 });
    const err = await rejection(c.show('j'));
    expect(err).toBeInstanceOf(LimitExceededError);
    const e = err as LimitExceededError;
    expect(e.rateLimited).toBe(true);
    expect(e.retryAfterMs).toBe(1);
    expect(e.details).toEqual({ limit: 'commands per second', retryAfterMs: 1 });
    expect(e.jobId).toBe('j');
    expect(sent).toHaveLength(3); // the first try and 2 retries
  });

  it('rateLimitRetries: 0 disables retrying', async () => {
    const { nc, sent } = fakeNc([rateLimited(1), { ok: true, job: view }]);
    const c = new SchedulerClient({ nc, orchestratorId: 'o', rateLimitRetries: 0 });
    expect(await rejection(c.create(spec))).toBeInstanceOf(LimitExceededError);
    expect(sent).toHaveLength(1);
  });

  it('retries a rate-limit refusal without retryAfterMs (an older scheduler) too', async () => {
    const { nc, sent } = fakeNc([rateLimited(), { ok: true, job: view }]);
    const c = new SchedulerClient({ nc, orchestratorId: 'o' });
    expect(await c.create(spec)).toEqual(view);
    expect(sent).toHaveLength(2);
  });

  it('never retries a quota (jobs per orchestrator, payload size) or another error', async () => {
    for (const reply of [quota, payloadQuota]) {
      const { nc, sent } = fakeNc([reply, { ok: true, job: view }]);
      const err = (await rejection(new SchedulerClient({ nc, orchestratorId: 'o' }).create(spec))) as LimitExceededError;
      expect(err).toBeInstanceOf(LimitExceededError);
      expect(err.rateLimited).toBe(false);
      expect(err.retryAfterMs).toBeUndefined();
      expect(sent).toHaveLength(1);
    }
    const { nc, sent } = fakeNc([{ ok: false, error: { code: 'unavailable', message: 'not ready' } }, { ok: true, job: view }]);
    expect(await rejection(new SchedulerClient({ nc, orchestratorId: 'o' }).create(spec))).toBeInstanceOf(UnavailableError);
    expect(sent).toHaveLength(1);
  });

  it('a details object that only resembles the marker is a quota', () => {
    const ctx = { orchestratorId: 'o', operation: 'create', message: 'm' };
    expect(new LimitExceededError({ ...ctx, details: [{ limit: 'commands per second' }] }).rateLimited).toBe(false);
    expect(new LimitExceededError({ ...ctx, details: { limit: 'jobs' } }).rateLimited).toBe(false);
    expect(new LimitExceededError({ ...ctx, details: { limit: 'commands per second', retryAfterMs: -1 } }).retryAfterMs).toBeUndefined();
    expect(new LimitExceededError({ ...ctx, details: { limit: 'commands per second', retryAfterMs: '5' } }).retryAfterMs).toBeUndefined();
  });

  it('refuses a rateLimitRetries that is not a count', () => {
    const { nc } = fakeNc([]);
    for (const rateLimitRetries of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new SchedulerClient({ nc, orchestratorId: 'o', rateLimitRetries })).toThrow(InvalidRequestError);
    }
  });
});

describe('rateLimitDelay', () => {
  it('is retryAfterMs plus a jitter of up to a fifth of it and 10 ms', () => {
    expect(rateLimitDelay(100, 0, () => 0)).toBe(100);
    expect(rateLimitDelay(100, 3, () => 0.999999)).toBe(130);
    expect(rateLimitDelay(0, 0, () => 0)).toBe(1);
    expect(rateLimitDelay(2, 0, () => 0.5)).toBe(7);
  });

  it('without retryAfterMs: 100 ms doubling per retry', () => {
    expect([0, 1, 2, 3].map((r) => rateLimitDelay(undefined, r, () => 0))).toEqual([100, 200, 400, 800]);
  });

  it('is at most 30 s', () => {
    expect(rateLimitDelay(10 * 60_000, 0, () => 0)).toBe(30_000);
    expect(rateLimitDelay(undefined, 50, () => 1)).toBe(30_000);
  });
});

describe('SchedulerClient: a body above the server\'s max_payload', () => {
  const big = { ...spec, target: { type: 'command', command: 'x', args: { blob: 'x'.repeat(2_000) } } } as const;

  it('is a LimitExceededError naming the size and max_payload, and is not sent', async () => {
    const { nc, sent } = fakeNc([{ ok: true, job: view }], { max_payload: 1_000 });
    const err = (await rejection(new SchedulerClient({ nc, orchestratorId: 'o' }).create(big))) as LimitExceededError;
    expect(err).toBeInstanceOf(LimitExceededError);
    const size = new TextEncoder().encode(JSON.stringify(big)).length;
    expect(err.message).toContain(`${size} bytes`);
    expect(err.message).toContain('max_payload of 1000 bytes');
    expect(err.message).toContain('SCHED_MAX_INPUT_BYTES');
    expect(err.rateLimited).toBe(false);
    expect(err.operation).toBe('create');
    expect(sent).toHaveLength(0);
  });

  it('when nats.js refuses to publish it (max_payload unknown to the client), the same error', async () => {
    const nc = {
      info: undefined,
      request: () => Promise.reject(InvalidArgumentError.format('payload', 'max_payload size exceeded')),
    } as unknown as NatsConnection;
    const err = (await rejection(new SchedulerClient({ nc, orchestratorId: 'o' }).create(big))) as LimitExceededError;
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(err.message).toContain("more than the NATS server's max_payload");
    expect(err.cause).toBeInstanceOf(InvalidArgumentError);
  });

  it('a body that fits is sent', async () => {
    const { nc, sent } = fakeNc([{ ok: true, job: view }], { max_payload: 100_000 });
    expect(await new SchedulerClient({ nc, orchestratorId: 'o' }).create(big)).toEqual(view);
    expect(sent).toHaveLength(1);
  });
});
