import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/runtime/rateLimit.js';

/** The per-orchestrator command rate limit: a token bucket per key, on an injected clock. */

function limiter(rate: number, burst: number) {
  let t = 0;
  const l = new RateLimiter(rate, burst, () => t);
  const helper = {
    l,
    /** Moves the clock to `ms`. */
    at(ms: number) {
      t = ms;
      return helper;
    },
    take: (key: string): boolean => l.take(key),
    takes: (key: string, n: number): boolean[] => Array.from({ length: n }, () => l.take(key)),
  };
  return helper;
}

describe('RateLimiter', () => {
  it('allows a burst, then refuses until tokens come back at `rate` per second', () => {
    const x = limiter(4, 3);
    expect(x.takes('o', 4)).toEqual([true, true, true, false]);
    expect(x.at(249).take('o')).toBe(false); // 0.996 of a token
    const y = limiter(4, 3);
    y.takes('o', 3);
    expect(y.at(250).take('o')).toBe(true); // exactly one token after 250 ms
    expect(y.l.take('o')).toBe(false);
    expect(y.at(750).takes('o', 3)).toEqual([true, true, false]);
  });

  it('never holds more than `burst` tokens, however long a key was idle', () => {
    const x = limiter(10, 2);
    x.takes('o', 2);
    // 9 s idle is 90 tokens' worth at 10/s (and still before the first sweep of idle buckets)
    expect(x.at(9_000).takes('o', 3)).toEqual([true, true, false]);
  });

  it('keeps one bucket per key: one orchestrator draining its bucket leaves the others theirs', () => {
    const x = limiter(1, 2);
    expect(x.takes('flood', 3)).toEqual([true, true, false]);
    expect(x.takes('quiet', 2)).toEqual([true, true]);
    expect(x.l.size).toBe(2);
  });

  it('a rate of 0 (or less) means no limit', () => {
    expect(limiter(0, 0).takes('o', 1_000).every(Boolean)).toBe(true);
    expect(limiter(-1, 0).takes('o', 10).every(Boolean)).toBe(true);
  });

  it('forgets buckets that are full again, at most every 10 s, and keeps the others as they were', () => {
    const x = limiter(0.1, 5); // one token per 10 s
    expect(x.takes('empty', 6)).toEqual([true, true, true, true, true, false]);
    x.at(1).take('almost'); // 4 left at t = 1: full again at t = 10,001
    x.at(5_000).takes('half', 3); // 2 left at t = 5,000
    x.at(9_000).take('nearly'); // 4 left at t = 9,000
    expect(x.l.size).toBe(4);
    x.at(10_000).take('empty'); // 10 s since the last sweep: not yet
    expect(x.l.size).toBe(4);
    expect(x.at(10_001).take('empty')).toBe(false); // the sweep forgets 'almost' only
    expect(x.l.size).toBe(3);
    x.at(10_002);
    expect(x.take('empty')).toBe(false);
    expect(x.takes('half', 3)).toEqual([true, true, false]);
    expect(x.takes('nearly', 5)).toEqual([true, true, true, true, false]);
    expect(x.takes('almost', 6)).toEqual([true, true, true, true, true, false]);
  });

  it('uses the system clock by default', () => {
    const l = new RateLimiter(1, 2);
    const results = Array.from({ length: 5 }, () => l.take('o'));
    expect(results.slice(0, 2)).toEqual([true, true]);
    expect(results).toContain(false);
  });
});
