import { SchedulerError, type WireError } from '../contract/errors.js';
import { RATE_LIMITED } from '../transport/commandServer.js';

/** {@link RateLimiter.horizonMs} in bursts' worth of refill time. */
const HORIZON_BURSTS = 4;

/**
 * A token bucket per key (orchestrator): `rate` tokens a second, up to `burst`. Refused work costs
 * almost nothing, so one orchestrator flooding commands cannot starve the others. Buckets that
 * are full again are forgotten, so the map does not grow with every key ever seen.
 *
 * A refusal says when to come back ({@link RateLimiter.acquire}). Refusals of one key are told
 * successive times one token apart (`1000 / rate` ms), from when the next token is due: a burst
 * of refused commands that all come back when told then finds a token each, instead of all
 * retrying at the same instant and being refused again. The queue of promised times reaches at
 * most {@link RateLimiter.horizonMs} ahead; a flood beyond that is told that horizon (the client's
 * jitter spreads it).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; free: number }>();
  private lastSweep = 0;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    return this.acquire(key) === 0;
  }

  /**
   * Takes one token for `key` and returns 0, or, when its bucket is empty, returns how many ms
   * (at least 1) the caller should wait before trying again: when the next token not yet promised
   * to an earlier refusal of this key is due, computed from the refill rate.
   */
  acquire(key: string): number {
    if (this.rate <= 0) return 0;
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.burst, at: now, free: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.rate) / 1000);
      b.at = now;
    }
    if (now - this.lastSweep > 10_000) this.sweep(now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    const perToken = 1000 / this.rate;
    // when the bucket holds one token again; earlier refusals were promised the ones before `free`
    const due = now + (1 - b.tokens) * perToken;
    const at = Math.min(Math.max(b.free, due), now + this.horizonMs);
    b.free = at + perToken;
    return Math.max(1, Math.ceil(at - now));
  }

  /**
   * The furthest ahead a refusal is told to come back: four times the time to refill a whole
   * burst (8 s at the default 500/s, burst 1,000). Enough for a client that honours `retryAfterMs`
   * to get a burst of three times the bucket through on its first retry; a flood beyond that
   * does not push the times it is told further out.
   */
  get horizonMs(): number {
    return (HORIZON_BURSTS * Math.max(1, this.burst) * 1000) / this.rate;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * this.rate) / 1000 >= this.burst) this.buckets.delete(k);
    }
  }
}

/** `details` of a rate-limit refusal on the wire: the marker of {@link RATE_LIMITED} plus when to retry. */
export interface RateLimitedDetails {
  limit: typeof RATE_LIMITED.limit;
  /** ms after which a token is expected to be available for this orchestrator */
  retryAfterMs: number;
}

/**
 * The `limit_exceeded` of a command refused by the rate limit. `details` is the {@link RATE_LIMITED}
 * marker itself (the command server recognises it and logs these at debug, since the scheduler
 * summarises them); on the wire the details also carry `retryAfterMs` ({@link RateLimitedDetails}).
 */
export class RateLimitedError extends SchedulerError {
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super('limit_exceeded', message, { details: RATE_LIMITED });
    this.retryAfterMs = retryAfterMs;
  }

  get wireDetails(): RateLimitedDetails {
    return { ...RATE_LIMITED, retryAfterMs: this.retryAfterMs };
  }

  override toWire(): WireError {
    return { code: this.code, message: this.message, details: this.wireDetails };
  }
}
