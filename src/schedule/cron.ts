/**
 * Cron schedules in an IANA time zone.
 *
 * Parsing: cron-parser 5 parses the expression once (in tz 'UTC'; `H` seeded by the expression),
 * and only its field sets are kept, in a CronMatcher (cron-fields.ts). Iteration is the matcher's
 * integer arithmetic on *wall times* (the local date-time encoded as if it were UTC): the next or
 * previous matching wall time is O(1) within a day and O(days skipped) across days (~1 µs for
 * usual expressions, where cron-parser's next() costs ~100 µs). Wall times are mapped to instants
 * here, with offsets from `zone.ts` (cached, a Map lookup on the hot path). A property test checks
 * the matcher against cron-parser's own next()/prev()/includesDate.

 * Wall → instant rules (the product spec), with oBefore/oAfter the offsets around a transition:
 *  - normal wall time: the one instant W − offset.
 *  - gap (spring forward, the wall time does not exist): fires once, at W − oBefore, i.e. at the
 *    same distance after the transition (Berlin 02:30 → 03:30 CEST). If that instant is also a
 *    regular slot (03:30 matches too) it is one slot: slots are strictly increasing, unique.
 *  - overlap (fall back, the wall time exists twice): fires once, at the first occurrence, unless
 *    the hour field covers all 24 hours (`30 * * * *`, `*\/15 * * * *`): then at both instants.
 *
 * Implementation: instead of sampling offsets around each wall time, the instant line is walked
 * segment by segment, a segment being a stretch of constant offset between two transitions (so
 * results come out in instant order, which matters around transitions where wall order and
 * instant order differ). Within a segment [s, e] with offset o, the regular slots are the matching
 * wall times in [s + o, e + o] (minus, for fixed-hour expressions, the repeated wall times right
 * after a fall-back transition), plus, right after a spring-forward transition at T, the gap wall
 * times W in [T + oBefore, T + oAfter) mapped to W − oBefore. For usual expressions `nextAfter` is
 * one `nextWall` and a handful of Map lookups.
 *
 * slotsBetween: `first`/`last` come from the same walk (nextWall/prevWall). `count` is
 * computed arithmetically, never by enumerating slots: per segment, the number of matching wall
 * times in its wall range is (matching days) × |hours|·|minutes|·|seconds| plus the partial edge
 * days, counted in O(1) per day edge (`CronMatcher.countWalls`; matching days are counted month
 * by month, O(1) per month when day-of-month and day-of-week are both `*`). The DST corrections
 * are exact too: the repeated hour after a fall back is a wall-range count, and gap wall times are
 * enumerated (at most the length of the gap, one hour for nearly every zone). So `exact` is true,
 * with one exception: ranges longer than MAX_EXACT_SPAN_MS (20 years) skip the transition walk and
 * count wall times between the two ends' local times, reporting `exact: false` (the count may then
 * be off by the few slots the DST gaps/overlaps add or remove).
 *
 * Assumptions: at most one offset change per 14 days (see zone.ts), and DST shifts shorter than a
 * day.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { CronMatcher } from './cron-fields.js';
import { ScheduleError } from './errors.js';
import type { Schedule, ScheduleBounds, ScheduleSpec, SlotRange } from './types.js';
import { EMPTY_RANGE, assertInstant, countArg } from './util.js';
import { DAY_MS, isValidTimezone, zoneOffsets, type ZoneOffsets } from './zone.js';

type CronSpec = Extract<ScheduleSpec, { kind: 'cron' }>;

/** Ranges longer than this are counted approximately (no walk over the DST transitions). */
export const MAX_EXACT_SPAN_MS = 20 * 365 * DAY_MS;
/** Safety bound on segment steps per query (each step crosses one DST transition). */
const MAX_SEGMENT_STEPS = 10_000;
/** Start of the bounded "does it ever match" search. */
const PROBE_FROM = Date.UTC(2000, 0, 1);

/**
 * Parsed expressions, shared by every schedule that uses them (a CronMatcher is immutable, ~1 KB):
 * 100,000 jobs typically use a few hundred distinct expressions. Least recently used first out.
 */
const matchers = new Map<string, CronMatcher>();
export const MAX_CACHED_MATCHERS = 10_000;

export function compileCron(spec: CronSpec, bounds: ScheduleBounds): Schedule {
  if (typeof spec.expression !== 'string') {
    throw new ScheduleError('cron expression must be a string');
  }
  const raw = spec.expression;
  const expression = raw.trim();
  if (typeof spec.timezone !== 'string' || !isValidTimezone(spec.timezone)) {
    throw new ScheduleError(`unknown timezone "${String(spec.timezone)}"`);
  }
  if (!expression.startsWith('@')) {
    const n = expression === '' ? 0 : expression.split(/\s+/).length;
    if (n !== 5 && n !== 6) {
      throw new ScheduleError(`cron expression "${raw}" must have 5 fields (or 6 with seconds first), got ${n}`);
    }
  }
  const matcher = matcherOf(expression, raw);
  return new CronSchedule(spec, bounds, matcher, zoneOffsets(spec.timezone));
}

function matcherOf(expression: string, raw: string): CronMatcher {
  const hit = matchers.get(expression);
  if (hit !== undefined) {
    matchers.delete(expression);
    matchers.set(expression, hit);
    return hit;
  }
  let expr: CronExpression;
  try {
    // cron-parser is used for parsing only; iteration is CronMatcher's integer arithmetic.
    // hashSeed: makes `H` deterministic (cron-parser would otherwise seed it randomly per parse).
    expr = CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: 0, hashSeed: expression });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (/Invalid explicit day of month definition/i.test(reason)) {
      throw new ScheduleError(`cron expression "${raw}" never matches`);
    }
    throw new ScheduleError(`cron expression "${raw}" is invalid: ${reason}`);
  }
  const matcher = new CronMatcher(expr.fields);
  // Exact: the calendar repeats every 400 years, and nextWall searches one whole cycle.
  if (matcher.nextWall(PROBE_FROM) === null) throw new ScheduleError(`cron expression "${raw}" never matches`);
  if (matchers.size >= MAX_CACHED_MATCHERS) matchers.delete(matchers.keys().next().value as string);
  matchers.set(expression, matcher);
  return matcher;
}

class CronSchedule implements Schedule {
  readonly spec: ScheduleSpec;
  readonly #m: CronMatcher;
  readonly #zone: ZoneOffsets;
  readonly #startAt: number | null;
  readonly #endAt: number | null;

  constructor(spec: CronSpec, bounds: ScheduleBounds, matcher: CronMatcher, zone: ZoneOffsets) {
    this.spec = Object.freeze({ ...spec });
    this.#m = matcher;
    this.#zone = zone;
    this.#startAt = bounds.startAt;
    this.#endAt = bounds.endAt;
  }

  /** The first matching wall time >= x (whole ms), or null when there is none. */
  #wallAtOrAfter(x: number): number | null {
    return this.#m.nextWall(x);
  }

  /** The last matching wall time <= y (whole ms), or null. */
  #wallAtOrBefore(y: number): number | null {
    return this.#m.prevWall(y);
  }

  /** The earliest slot >= q (q an integer), ignoring endAt. */
  #atOrAfter(q: number): number | null {
    const zone = this.#zone;
    const endAt = this.#endAt;
    let s = q;
    for (let step = 0; step < MAX_SEGMENT_STEPS; step++) {
      if (endAt !== null && s > endAt) return null;
      const o = zone.offset(s);
      const tr = zone.lastTransitionIn(s - DAY_MS, s);
      let best = Number.POSITIVE_INFINITY;
      if (tr !== null && tr.after > tr.before && s < tr.at + (tr.after - tr.before)) {
        // Just after a spring-forward transition: gap wall times fire at W - oBefore.
        const w = this.#wallAtOrAfter(s + tr.before);
        if (w !== null && w < tr.at + tr.after) best = w - tr.before;
      }
      let low = s + o;
      if (tr !== null && tr.after < tr.before && !this.#m.hourWildcard) {
        // Just after a fall-back transition: repeated wall times already fired at their first occurrence.
        low = Math.max(low, tr.at + tr.before);
      }
      const w = this.#wallAtOrAfter(low);
      const candidate = w === null ? Number.POSITIVE_INFINITY : w - o;
      const limit = Math.min(candidate, best);
      if (limit === Number.POSITIVE_INFINITY) return null;
      const next = zone.firstTransitionIn(s, limit);
      if (next === null) return limit;
      s = next.at; // the candidate lies beyond this segment: redo from the next one
    }
    return null;
  }

  /** The latest slot <= r (r an integer), ignoring startAt. */
  #atOrBefore(r: number): number | null {
    const zone = this.#zone;
    const startAt = this.#startAt;
    let e = r;
    for (let step = 0; step < MAX_SEGMENT_STEPS; step++) {
      if (startAt !== null && e < startAt) return null;
      const o = zone.offset(e);
      const w = this.#wallAtOrBefore(e + o);
      if (w === null) return null;
      const candidate = w - o;
      const later = zone.lastTransitionIn(candidate, e);
      if (later !== null) {
        // The segment [later.at, e] holds no regular slot (w is the last matching wall time and
        // maps before it); right after a spring-forward transition it may hold gap slots.
        const gap = this.#lastGapSlot(later, later.at - 1, e);
        if (gap !== null) return gap;
        e = later.at - 1;
        continue;
      }
      // The candidate lies in the segment that contains e; look at the transition starting it.
      const tr = zone.lastTransitionIn(candidate - DAY_MS, candidate);
      if (tr !== null && tr.after < tr.before && !this.#m.hourWildcard && w < tr.at + tr.before) {
        // Second occurrence of a repeated wall time: it fired at the first one, before tr.
        e = tr.at - 1;
        continue;
      }
      if (tr !== null) {
        const gap = this.#lastGapSlot(tr, candidate, e);
        if (gap !== null) return gap;
      }
      return candidate;
    }
    return null;
  }

  /**
   * The latest gap slot of transition `tr` (when it is a spring-forward one) in (after, upTo]:
   * gap wall times W in [at + before, at + after) fire at W - before, within [at, at + shift).
   */
  #lastGapSlot(tr: { at: number; before: number; after: number }, after: number, upTo: number): number | null {
    if (!(tr.after > tr.before)) return null;
    const hi = Math.min(upTo, tr.at + (tr.after - tr.before) - 1);
    const lo = Math.max(after + 1, tr.at);
    if (hi < lo) return null;
    const w = this.#wallAtOrBefore(hi + tr.before);
    return w !== null && w >= lo + tr.before ? w - tr.before : null;
  }

  /** Exact number of slots in [lo, hi] (integers), by segments; see the header comment. */
  #countExact(lo: number, hi: number): number {
    const zone = this.#zone;
    const m = this.#m;
    let count = 0;
    let s = lo;
    for (let step = 0; step < MAX_SEGMENT_STEPS; step++) {
      const o = zone.offset(s);
      const tr = zone.lastTransitionIn(s - DAY_MS, s);
      const next = zone.firstTransitionIn(s, hi);
      const e = next === null ? hi : next.at - 1;
      let low = s + o;
      if (tr !== null && tr.after < tr.before && !m.hourWildcard) low = Math.max(low, tr.at + tr.before);
      count += m.countWalls(low, e + o);
      if (tr !== null && tr.after > tr.before && s < tr.at + (tr.after - tr.before)) {
        const shift = tr.after - tr.before;
        m.forEachWall(s + tr.before, Math.min(tr.at + tr.after - 1, e + tr.before), (w) => {
          // Not already counted as the regular slot at the same instant (wall time w + shift).
          if (!m.wallMatches(w + shift)) count++;
        });
      }
      if (next === null) break;
      s = next.at;
    }
    return count;
  }

  nextAfter(t: number): number | null {
    assertInstant(t, 'nextAfter: t');
    let q = Math.floor(t) + 1;
    if (this.#startAt !== null) q = Math.max(q, Math.ceil(this.#startAt));
    const slot = this.#atOrAfter(q);
    return slot === null || (this.#endAt !== null && slot > this.#endAt) ? null : slot;
  }

  slotsBetween(from: number, to: number): SlotRange {
    assertInstant(from, 'slotsBetween: from');
    assertInstant(to, 'slotsBetween: to');
    let lo = Math.ceil(from);
    let hi = Math.floor(to);
    if (this.#startAt !== null) lo = Math.max(lo, Math.ceil(this.#startAt));
    if (this.#endAt !== null) hi = Math.min(hi, Math.floor(this.#endAt));
    if (hi < lo) return { ...EMPTY_RANGE };
    const first = this.#atOrAfter(lo);
    if (first === null || first > hi) return { ...EMPTY_RANGE };
    const last = this.#atOrBefore(hi) ?? first;
    if (first === last) return { count: 1, first, last, exact: true };
    if (hi - lo > MAX_EXACT_SPAN_MS) {
      const approx = this.#m.countWalls(lo + this.#zone.offset(lo), hi + this.#zone.offset(hi));
      return { count: Math.max(approx, 2), first, last, exact: false };
    }
    return { count: Math.max(this.#countExact(lo, hi), 2), first, last, exact: true };
  }

  upcoming(t: number, n: number): number[] {
    assertInstant(t, 'upcoming: t');
    const want = countArg(n);
    const out: number[] = [];
    let cursor = t;
    while (out.length < want) {
      const next = this.nextAfter(cursor);
      if (next === null) break;
      out.push(next);
      cursor = next;
    }
    return out;
  }
}
