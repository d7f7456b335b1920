/**
 * Time-zone offsets for schedule arithmetic, cached so that the hot path is a Map lookup.
 *
 * luxon's `IANAZone.offset(ts)` goes through `Intl.DateTimeFormat#formatToParts` and costs ~8µs,
 * which would dominate `nextAfter`. Instead, the time line is cut into fixed 14-day buckets; for
 * each bucket we sample the offset at both ends (once, then cached per zone) and, when they
 * differ, locate the single transition inside by bisection (whole-hour step first, then whole
 * seconds: luxon's offsets are constant within a second). Afterwards `offset(ts)` is
 * `ts < at ? before : after` for the bucket of `ts`.
 *
 * Assumption (documented, holds for every tzdb zone since 1970 as far as known): at most one
 * offset change per 14-day bucket. A pair of changes inside one bucket that cancel out would be
 * invisible; one that doesn't would be seen as one change at the first of them.
 */
import { IANAZone } from 'luxon';

export const SECOND_MS = 1_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
const BUCKET_MS = 14 * DAY_MS;
/** Date's representable range (±8.64e15 ms); luxon returns NaN outside of it. */
const MAX_TS = 8.64e15;
export const MAX_CACHED_BUCKETS = 50_000;

/** One offset change: before `at` the offset is `before`, from `at` on it is `after` (ms). */
export interface Transition {
  readonly at: number;
  readonly before: number;
  readonly after: number;
}

interface Bucket {
  /** The transition instant in (start, end], or +Infinity when the bucket has none. */
  readonly at: number;
  readonly before: number;
  readonly after: number;
}

const validity = new Map<string, boolean>();
/** Bound on remembered names, valid or not (client input: must not grow without limit). */
export const MAX_VALIDITY_ENTRIES = 4_096;

/**
 * true when `zone` is a valid IANA zone name (luxon). Memoized: luxon's check builds an
 * Intl.DateTimeFormat per call (~50 µs), which was a sixth of the cost of creating a job.
 */
export function isValidTimezone(zone: string): boolean {
  if (typeof zone !== 'string' || zone.length === 0 || zone.length > 256) return false;
  let ok = validity.get(zone);
  if (ok === undefined) {
    ok = IANAZone.isValidZone(zone);
    if (validity.size >= MAX_VALIDITY_ENTRIES) validity.clear();
    validity.set(zone, ok);
  }
  return ok;
}

export class ZoneOffsets {
  readonly name: string;
  readonly #zone: IANAZone;
  readonly #samples = new Map<number, number>();
  readonly #buckets = new Map<number, Bucket>();

  constructor(name: string) {
    this.name = name;
    this.#zone = IANAZone.create(name);
  }

  /** The offset (ms, local − UTC) straight from luxon. */
  rawOffset(ts: number): number {
    const clamped = ts > MAX_TS ? MAX_TS : ts < -MAX_TS ? -MAX_TS : ts;
    const minutes = this.#zone.offset(clamped);
    if (!Number.isFinite(minutes)) throw new Error(`cannot compute the offset of ${this.name} at ${ts}`);
    return Math.round(minutes * 60_000);
  }

  #sample(k: number): number {
    let v = this.#samples.get(k);
    if (v === undefined) {
      v = this.rawOffset(k * BUCKET_MS);
      this.#samples.set(k, v);
    }
    return v;
  }

  #bucket(k: number): Bucket {
    const hit = this.#buckets.get(k);
    if (hit !== undefined) return hit;
    if (this.#buckets.size >= MAX_CACHED_BUCKETS) {
      this.#buckets.clear();
      this.#samples.clear();
    }
    const before = this.#sample(k);
    const after = this.#sample(k + 1);
    let at = Number.POSITIVE_INFINITY;
    if (before !== after) {
      // Invariant: rawOffset(lo) === before, rawOffset(hi) !== before.
      let lo = k * BUCKET_MS;
      let hi = lo + BUCKET_MS;
      while (hi - lo > HOUR_MS) {
        const mid = lo + Math.floor((hi - lo) / 2 / HOUR_MS) * HOUR_MS;
        if (this.rawOffset(mid) === before) lo = mid;
        else hi = mid;
      }
      // Most transitions are on a whole UTC hour (hi); otherwise bisect the hour to the second.
      if (this.rawOffset(hi - SECOND_MS) !== before) {
        hi -= SECOND_MS;
        while (hi - lo > SECOND_MS) {
          const mid = lo + Math.floor((hi - lo) / 2 / SECOND_MS) * SECOND_MS;
          if (this.rawOffset(mid) === before) lo = mid;
          else hi = mid;
        }
      }
      at = hi;
    }
    const b: Bucket = { at, before, after };
    this.#buckets.set(k, b);
    return b;
  }

  /** The offset in ms (local wall time − UTC) in effect at instant `ts`. */
  offset(ts: number): number {
    const b = this.#bucket(Math.floor(ts / BUCKET_MS));
    return ts < b.at ? b.before : b.after;
  }

  /** The earliest transition with a < at <= b, or null. Cost: one cached lookup per 14 days of range. */
  firstTransitionIn(a: number, b: number): Transition | null {
    if (!(b > a)) return null;
    const kEnd = Math.ceil(b / BUCKET_MS) - 1;
    for (let k = Math.floor(a / BUCKET_MS); k <= kEnd; k++) {
      const bk = this.#bucket(k);
      if (bk.at > a && bk.at <= b) return bk;
    }
    return null;
  }

  /** The latest transition with a < at <= b, or null. */
  lastTransitionIn(a: number, b: number): Transition | null {
    if (!(b > a)) return null;
    const kStart = Math.floor(a / BUCKET_MS);
    for (let k = Math.ceil(b / BUCKET_MS) - 1; k >= kStart; k--) {
      const bk = this.#bucket(k);
      if (bk.at > a && bk.at <= b) return bk;
    }
    return null;
  }
}

const zones = new Map<string, ZoneOffsets>();

/** The shared, cached offsets of an IANA zone (the caller has validated the name). */
export function zoneOffsets(name: string): ZoneOffsets {
  let z = zones.get(name);
  if (z === undefined) {
    z = new ZoneOffsets(name);
    zones.set(name, z);
  }
  return z;
}
