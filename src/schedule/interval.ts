/**
 * Interval and one-off schedules: pure O(1) arithmetic.
 *
 * Interval slots are base + k*every with base = startAt, k >= 0 when startAt is set, and
 * base = anchor, k >= 1 otherwise (the first slot is one period after the anchor). Slots never
 * drift: each is computed from k, never by adding to the previous one. endAt bounds them
 * (inclusive).
 */
import { ScheduleError } from './errors.js';
import type { Schedule, ScheduleBounds, ScheduleSpec, SlotRange } from './types.js';
import { EMPTY_RANGE, assertInstant, countArg } from './util.js';

type IntervalSpec = Extract<ScheduleSpec, { kind: 'interval' }>;
type OnceSpec = Extract<ScheduleSpec, { kind: 'once' }>;

export function compileInterval(spec: IntervalSpec, bounds: ScheduleBounds): Schedule {
  const every = spec.every;
  if (typeof every !== 'number' || !Number.isFinite(every) || every <= 0) {
    throw new ScheduleError(`interval "every" must be a positive finite number of milliseconds (got ${String(every)})`);
  }
  if (!Number.isInteger(every)) {
    throw new ScheduleError(`interval "every" must be a whole number of milliseconds (got ${every})`);
  }
  return new IntervalSchedule(spec, bounds);
}

class IntervalSchedule implements Schedule {
  readonly spec: ScheduleSpec;
  readonly #every: number;
  readonly #base: number;
  readonly #kMin: number;
  readonly #endAt: number | null;

  constructor(spec: IntervalSpec, bounds: ScheduleBounds) {
    this.spec = Object.freeze({ ...spec });
    this.#every = spec.every;
    this.#base = bounds.startAt ?? bounds.anchor;
    this.#kMin = bounds.startAt === null ? 1 : 0;
    this.#endAt = bounds.endAt;
  }

  #slot(k: number): number {
    return this.#base + k * this.#every;
  }

  /** The smallest k >= kMin with slot(k) > t. */
  #firstKAfter(t: number): number {
    const kMin = this.#kMin;
    let k = Math.max(kMin, Math.floor((t - this.#base) / this.#every) + 1);
    // Guard against floating-point rounding in the division (at most one step either way).
    while (this.#slot(k) <= t) k++;
    while (k > kMin && this.#slot(k - 1) > t) k--;
    return k;
  }

  /** The largest k with slot(k) <= t (may be < kMin). */
  #lastKAtOrBefore(t: number): number {
    let k = Math.floor((t - this.#base) / this.#every);
    while (this.#slot(k) > t) k--;
    while (this.#slot(k + 1) <= t) k++;
    return k;
  }

  nextAfter(t: number): number | null {
    assertInstant(t, 'nextAfter: t');
    const slot = this.#slot(this.#firstKAfter(t));
    return this.#endAt !== null && slot > this.#endAt ? null : slot;
  }

  slotsBetween(from: number, to: number): SlotRange {
    assertInstant(from, 'slotsBetween: from');
    assertInstant(to, 'slotsBetween: to');
    const hi = this.#endAt === null ? to : Math.min(to, this.#endAt);
    if (hi < from) return { ...EMPTY_RANGE };
    // slots >= from are those > the largest value below from; use the k arithmetic directly.
    let kLo = Math.max(this.#kMin, Math.ceil((from - this.#base) / this.#every));
    while (kLo > this.#kMin && this.#slot(kLo - 1) >= from) kLo--;
    while (this.#slot(kLo) < from) kLo++;
    const kHi = this.#lastKAtOrBefore(hi);
    if (kHi < kLo) return { ...EMPTY_RANGE };
    return { count: kHi - kLo + 1, first: this.#slot(kLo), last: this.#slot(kHi), exact: true };
  }

  upcoming(t: number, n: number): number[] {
    assertInstant(t, 'upcoming: t');
    const want = countArg(n);
    const out: number[] = [];
    let k = this.#firstKAfter(t);
    while (out.length < want) {
      const slot = this.#slot(k);
      if (this.#endAt !== null && slot > this.#endAt) break;
      out.push(slot);
      k++;
    }
    return out;
  }
}

export function compileOnce(spec: OnceSpec, bounds: ScheduleBounds): Schedule {
  assertInstant(spec.at, 'once "at"');
  return new OnceSchedule(spec, bounds);
}

class OnceSchedule implements Schedule {
  readonly spec: ScheduleSpec;
  /** The single slot, or null when startAt/endAt exclude it. */
  readonly #slot: number | null;

  constructor(spec: OnceSpec, bounds: ScheduleBounds) {
    this.spec = Object.freeze({ ...spec });
    const at = spec.at;
    const inBounds = (bounds.startAt === null || at >= bounds.startAt) && (bounds.endAt === null || at <= bounds.endAt);
    this.#slot = inBounds ? at : null;
  }

  nextAfter(t: number): number | null {
    assertInstant(t, 'nextAfter: t');
    return this.#slot !== null && this.#slot > t ? this.#slot : null;
  }

  slotsBetween(from: number, to: number): SlotRange {
    assertInstant(from, 'slotsBetween: from');
    assertInstant(to, 'slotsBetween: to');
    const s = this.#slot;
    if (s === null || s < from || s > to) return { ...EMPTY_RANGE };
    return { count: 1, first: s, last: s, exact: true };
  }

  upcoming(t: number, n: number): number[] {
    assertInstant(t, 'upcoming: t');
    const want = countArg(n);
    const next = this.nextAfter(t);
    return next === null || want === 0 ? [] : [next];
  }
}
