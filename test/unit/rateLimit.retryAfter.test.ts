import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/contract/errors.js';
import { RateLimitedError, RateLimiter } from '../../src/runtime/rateLimit.js';
import { RATE_LIMITED } from '../../src/transport/commandServer.js';

/** The delay a refusal of the per-orchestrator rate limit names (`retryAfterMs`), on an injected clock. */

function limiter(rate: number, burst: number) {
  let t = 0;
  const l = new RateLimiter(rate, burst, () => t);
  return {
    l,
    at(ms: number) {
      t = ms;
      return l;
    },
    acquires: (key: string, n: number): number[] => Array.from({ length: n }, () => l.acquire(key)),
  };
}

describe('RateLimiter.acquire: 0 when a token was taken, else when to come back', () => {
  it('names the time until the next token, from the refill rate', () => {
    const x = limiter(4, 3); // a token every 250 ms
    expect(x.acquires('o', 3)).toEqual([0, 0, 0]);
    expect(x.l.acquire('o')).toBe(250);
    const y = limiter(4, 3);
    y.acquires('o', 3);
    expect(y.at(100).acquire('o')).toBe(150); // 0.4 of a token after 100 ms: 0.6 to go
    expect(y.at(250).acquire('o')).toBe(0); // the token it was told about is there
  });

  it('rounds up, and is never 0 for a refusal', () => {
    const x = limiter(3, 1); // a token every 333.3 ms
    expect(x.l.acquire('o')).toBe(0);
    expect(x.at(0).acquire('o')).toBe(334);
    const y = limiter(3, 1);
    y.l.acquire('o');
    expect(y.at(333).acquire('o')).toBe(1); // 0.999 of a token: a fraction of a ms to go
  });

  it('tells successive refusals successive tokens, one refill period apart', () => {
    const x = limiter(500, 1000); // 2 ms a token
    expect(x.acquires('o', 1000).every((d) => d === 0)).toBe(true);
    const refusals = x.acquires('o', 5);
    expect(refusals).toEqual([2, 4, 6, 8, 10]);
    // each coming back when told finds its token
    for (const d of refusals) expect(x.at(d).acquire('o')).toBe(0);
  });

  it('a refusal after the promised times have passed counts from the bucket again', () => {
    const x = limiter(10, 2); // 100 ms a token
    x.acquires('o', 2);
    expect(x.acquires('o', 2)).toEqual([100, 200]);
    // nobody came back; at 1 s the bucket is full (2 tokens)
    x.at(1_000);
    expect(x.acquires('o', 3)).toEqual([0, 0, 100]);
  });

  it('promises at most four times the time to refill a whole burst ahead', () => {
    const x = limiter(10, 2); // 100 ms a token, a burst in 200 ms: horizon 800 ms
    expect(x.l.horizonMs).toBe(800);
    expect(new RateLimiter(500, 1000).horizonMs).toBe(8_000); // the default SCHED_RATE_LIMIT
    x.acquires('o', 2);
    expect(x.acquires('o', 10)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 800, 800]);
    expect(x.at(50).acquire('o')).toBe(800); // still the horizon from now
  });

  it('keys are independent: one key\'s refusals do not push back another\'s', () => {
    const x = limiter(1, 1);
    x.acquires('flood', 4);
    expect(x.l.acquire('quiet')).toBe(0);
    expect(x.l.acquire('quiet')).toBe(1_000);
  });

  it('no limit (rate 0) never refuses; take() is acquire() === 0', () => {
    expect(limiter(0, 0).acquires('o', 100).every((d) => d === 0)).toBe(true);
    const x = limiter(1, 1);
    expect(x.l.take('o')).toBe(true);
    expect(x.l.take('o')).toBe(false);
  });
});

describe('RateLimitedError', () => {
  it('is a limit_exceeded whose details are the RATE_LIMITED marker, and on the wire also retryAfterMs', () => {
    const e = new RateLimitedError('more than 5 commands a second', 42);
    expect(e).toBeInstanceOf(SchedulerError);
    expect(e.code).toBe('limit_exceeded');
    expect(e.status).toBe(429);
    expect(e.details).toBe(RATE_LIMITED); // what the command server recognises (logged at debug)
    const wire = e.toWire();
    expect(wire).toEqual({ code: 'limit_exceeded', message: 'more than 5 commands a second', details: { limit: 'commands per second', retryAfterMs: 42 } });
    expect(JSON.parse(JSON.stringify(wire))).toEqual(wire);
  });
});
