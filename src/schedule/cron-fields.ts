/**
 * Pure arithmetic over the *wall-clock* times a parsed cron expression matches.
 *
 * A "wall" time is a local date-time encoded as if it were UTC (epoch ms of the same Y-M-D h:m:s in
 * UTC). The day rules replicate cron-parser 5's `#matchDayOfMonth` (month, day-of-month incl. `L`,
 * day-of-week incl. `#n` and `nL`, and the "both restricted → OR" rule) so that counting agrees
 * with cron-parser's own iteration; a property test checks this against `includesDate`.
 */
import type { CronFieldCollection } from 'cron-parser';

const DAY_S = 86_400;
/** Wall times beyond Date's range (±8.64e15 ms) are not produced. */
const MAX_WALL_MS = 8.64e15;
/** Days in one Gregorian cycle; the calendar, weekdays included, repeats with this period. */
const CYCLE_DAYS = 146_097;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * CYCLE_DAYS + doe - 719_468;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  return m === 2 ? (isLeap(y) ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

function numbers(values: readonly (number | string)[]): number[] {
  return values.filter((v): v is number => typeof v === 'number');
}

/** next[i] = the smallest set index >= i, or -1 (length n + 1, next[n] = -1). */
function nextIndex(set: Uint8Array): Int8Array {
  const out = new Int8Array(set.length + 1).fill(-1);
  for (let i = set.length - 1; i >= 0; i--) out[i] = set[i] === 1 ? i : (out[i + 1] ?? -1);
  return out;
}

/** prev[i + 1] = the largest set index <= i, or -1 (length n + 1, prev[0] = -1). */
function prevIndex(set: Uint8Array): Int8Array {
  const out = new Int8Array(set.length + 1).fill(-1);
  for (let i = 0; i < set.length; i++) out[i + 1] = set[i] === 1 ? i : (out[i] ?? -1);
  return out;
}

/** Civil date of `day` (days since 1970-01-01): [year, month 1-12, day of month 1-31]. */
function civilFromDays(day: number): [number, number, number] {
  const z = day + 719_468;
  const era = Math.floor(z / CYCLE_DAYS);
  const doe = z - era * CYCLE_DAYS;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** cumLess[i] = how many of `set[0..i-1]` are set. */
function cumulative(set: Uint8Array): Uint16Array {
  const out = new Uint16Array(set.length + 1);
  for (let i = 0; i < set.length; i++) out[i + 1] = (out[i] ?? 0) + (set[i] ?? 0);
  return out;
}

export class CronMatcher {
  readonly #sec = new Uint8Array(60);
  readonly #min = new Uint8Array(60);
  readonly #hour = new Uint8Array(24);
  readonly #month = new Uint8Array(13);
  readonly #dom = new Uint8Array(32);
  readonly #dow = new Uint8Array(7);
  /** Weekdays matched by the `nL` (last such weekday of the month) form. */
  readonly #dowLast = new Uint8Array(7);
  readonly #secLess: Uint16Array;
  readonly #minLess: Uint16Array;
  readonly #hourLess: Uint16Array;
  readonly #secNext: Int8Array;
  readonly #minNext: Int8Array;
  readonly #hourNext: Int8Array;
  readonly #secPrev: Int8Array;
  readonly #minPrev: Int8Array;
  readonly #hourPrev: Int8Array;
  readonly #nS: number;
  readonly #nM: number;
  readonly #domLast: boolean;
  readonly #dowHasLast: boolean;
  readonly #nth: number;
  readonly #domWild: boolean;
  readonly #dowWild: boolean;
  /** Slots per matching day: |hours|·|minutes|·|seconds|. */
  readonly perDay: number;
  /** All 24 hours match: repeated (fall-back) local times then fire at both instants. */
  readonly hourWildcard: boolean;
  #perCycle = -1;

  constructor(fields: CronFieldCollection) {
    for (const v of numbers(fields.second.values)) this.#sec[v] = 1;
    for (const v of numbers(fields.minute.values)) this.#min[v] = 1;
    for (const v of numbers(fields.hour.values)) this.#hour[v] = 1;
    for (const v of numbers(fields.month.values)) this.#month[v] = 1;
    for (const v of numbers(fields.dayOfMonth.values)) this.#dom[v] = 1;
    for (const v of numbers(fields.dayOfWeek.values)) this.#dow[v % 7] = 1;
    this.#domLast = fields.dayOfMonth.hasLastChar;
    this.#dowHasLast = fields.dayOfWeek.hasLastChar;
    if (this.#dowHasLast) {
      // Same as cron-parser: every value's first character names a weekday for the L form.
      for (const v of fields.dayOfWeek.values) {
        const wd = Number.parseInt(String(v).charAt(0), 10) % 7;
        if (Number.isInteger(wd)) this.#dowLast[wd] = 1;
      }
    }
    this.#nth = fields.dayOfWeek.nthDay;
    this.#domWild = fields.dayOfMonth.isWildcard;
    this.#dowWild = fields.dayOfWeek.isWildcard;
    this.#secLess = cumulative(this.#sec);
    this.#minLess = cumulative(this.#min);
    this.#hourLess = cumulative(this.#hour);
    this.#secNext = nextIndex(this.#sec);
    this.#minNext = nextIndex(this.#min);
    this.#hourNext = nextIndex(this.#hour);
    this.#secPrev = prevIndex(this.#sec);
    this.#minPrev = prevIndex(this.#min);
    this.#hourPrev = prevIndex(this.#hour);
    this.#nS = this.#secLess[60] ?? 0;
    this.#nM = this.#minLess[60] ?? 0;
    const nH = this.#hourLess[24] ?? 0;
    this.perDay = nH * this.#nM * this.#nS;
    this.hourWildcard = nH === 24;
  }

  /** Whether the date y-m-d (weekday `wd`, 0 = Sunday; month length `dim`) matches the day fields. */
  #dayFields(d: number, wd: number, dim: number): boolean {
    const domMatch = this.#dom[d] === 1 || (this.#domLast && d === dim);
    const dowMatch =
      (this.#dow[wd] === 1 && (this.#nth <= 0 || Math.ceil(d / 7) === this.#nth)) ||
      (this.#dowHasLast && d > dim - 7 && this.#dowLast[wd] === 1);
    if (!this.#domWild && !this.#dowWild) return domMatch || dowMatch;
    if (domMatch && this.#dowWild) return true;
    return this.#domWild && !this.#dowWild && dowMatch;
  }

  /** Whether the wall date `day` (days since 1970-01-01) matches month/day-of-month/day-of-week. */
  dayMatches(day: number): boolean {
    const [y, m, d] = civilFromDays(day);
    if (this.#month[m] !== 1) return false;
    const wd = (((day + 4) % 7) + 7) % 7;
    return this.#dayFields(d, wd, daysInMonth(y, m));
  }

  /** Whether the whole-second wall time `wallMs` matches the expression. */
  wallMatches(wallMs: number): boolean {
    const sec = Math.floor(wallMs / 1000);
    if (sec * 1000 !== wallMs) return false;
    const day = Math.floor(sec / DAY_S);
    const sod = sec - day * DAY_S;
    const h = Math.floor(sod / 3600);
    const r = sod - h * 3600;
    const mi = Math.floor(r / 60);
    return this.#hour[h] === 1 && this.#min[mi] === 1 && this.#sec[r - mi * 60] === 1 && this.dayMatches(day);
  }

  /** Matching times of day with second-of-day <= x (x in [-1, 86399]). */
  #prefix(x: number): number {
    if (x < 0) return 0;
    const h = Math.floor(x / 3600);
    const r = x - h * 3600;
    const m = Math.floor(r / 60);
    const s = r - m * 60;
    let n = (this.#hourLess[h] ?? 0) * this.#nM * this.#nS;
    if (this.#hour[h] === 1) {
      n += (this.#minLess[m] ?? 0) * this.#nS;
      if (this.#min[m] === 1) n += this.#secLess[s + 1] ?? 0;
    }
    return n;
  }

  /** Matching days in [d1, d2] (days since epoch). Per month; O(1) per month when both day fields are `*`. */
  countDays(d1: number, d2: number): number {
    if (d2 < d1) return 0;
    const span = d2 - d1 + 1;
    if (span >= 2 * CYCLE_DAYS) {
      const cycles = Math.floor(span / CYCLE_DAYS);
      return cycles * this.#cycleCount() + this.countDays(d1 + cycles * CYCLE_DAYS, d2);
    }
    let total = 0;
    // Walk month by month from the month containing d1.
    let [y, m] = civilFromDays(d1);
    let monthStart = daysFromCivil(y, m, 1);
    while (monthStart <= d2) {
      const dim = daysInMonth(y, m);
      if (this.#month[m] === 1) {
        const from = Math.max(d1, monthStart);
        const to = Math.min(d2, monthStart + dim - 1);
        if (this.#domWild && this.#dowWild) {
          total += to - from + 1;
        } else {
          let wd = (((from + 4) % 7) + 7) % 7;
          for (let day = from; day <= to; day++) {
            if (this.#dayFields(day - monthStart + 1, wd, dim)) total++;
            wd = wd === 6 ? 0 : wd + 1;
          }
        }
      }
      monthStart += dim;
      if (m === 12) {
        m = 1;
        y++;
      } else {
        m++;
      }
    }
    return total;
  }

  #cycleCount(): number {
    if (this.#perCycle < 0) this.#perCycle = this.countDays(0, CYCLE_DAYS - 1);
    return this.#perCycle;
  }

  /** Whether the expression matches any day at all (exact, over one full 400-year cycle). */
  matchesSomeDay(): boolean {
    return this.#cycleCount() > 0;
  }

  /** Matching wall times W (whole seconds) with aMs <= W <= bMs. Cost independent of the count. */
  countWalls(aMs: number, bMs: number): number {
    const a = Math.ceil(aMs / 1000);
    const b = Math.floor(bMs / 1000);
    if (b < a || this.perDay === 0) return 0;
    const dayA = Math.floor(a / DAY_S);
    const dayB = Math.floor(b / DAY_S);
    const sodA = a - dayA * DAY_S;
    const sodB = b - dayB * DAY_S;
    if (dayA === dayB) {
      return this.dayMatches(dayA) ? this.#prefix(sodB) - this.#prefix(sodA - 1) : 0;
    }
    let n = 0;
    if (this.dayMatches(dayA)) n += this.perDay - this.#prefix(sodA - 1);
    if (this.dayMatches(dayB)) n += this.#prefix(sodB);
    return n + this.perDay * this.countDays(dayA + 1, dayB - 1);
  }

  /**
   * Calls `fn` for each matching whole-second wall time in [aMs, bMs], ascending. Meant for short
   * ranges (a DST gap); skips non-matching hours and minutes wholesale.
   */
  forEachWall(aMs: number, bMs: number, fn: (wallMs: number) => void): void {
    let s = Math.ceil(aMs / 1000);
    const b = Math.floor(bMs / 1000);
    let day = Number.NaN;
    let dayOk = false;
    while (s <= b) {
      const d = Math.floor(s / DAY_S);
      if (d !== day) {
        day = d;
        dayOk = this.dayMatches(d);
      }
      if (!dayOk) {
        s = (d + 1) * DAY_S;
        continue;
      }
      const sod = s - d * DAY_S;
      const h = Math.floor(sod / 3600);
      if (this.#hour[h] !== 1) {
        s = d * DAY_S + (h + 1) * 3600;
        continue;
      }
      const r = sod - h * 3600;
      const mi = Math.floor(r / 60);
      if (this.#min[mi] !== 1) {
        s = d * DAY_S + h * 3600 + (mi + 1) * 60;
        continue;
      }
      if (this.#sec[r - mi * 60] === 1) fn(s * 1000);
      s++;
    }
  }

  /** The smallest matching second-of-day >= sod (sod in [0, 86399]), or -1. */
  #todAtOrAfter(sod: number): number {
    const h = Math.floor(sod / 3600);
    const r = sod - h * 3600;
    const mi = Math.floor(r / 60);
    const firstS = this.#secNext[0] ?? -1;
    if (this.#hour[h] === 1) {
      if (this.#min[mi] === 1) {
        const s = this.#secNext[r - mi * 60] ?? -1;
        if (s >= 0) return h * 3600 + mi * 60 + s;
      }
      const m = this.#minNext[mi + 1] ?? -1;
      if (m >= 0) return h * 3600 + m * 60 + firstS;
    }
    const nh = this.#hourNext[h + 1] ?? -1;
    return nh >= 0 ? nh * 3600 + (this.#minNext[0] ?? 0) * 60 + firstS : -1;
  }

  /** The largest matching second-of-day <= sod (sod in [0, 86399]), or -1. */
  #todAtOrBefore(sod: number): number {
    const h = Math.floor(sod / 3600);
    const r = sod - h * 3600;
    const mi = Math.floor(r / 60);
    const lastS = this.#secPrev[60] ?? -1;
    if (this.#hour[h] === 1) {
      if (this.#min[mi] === 1) {
        const s = this.#secPrev[r - mi * 60 + 1] ?? -1;
        if (s >= 0) return h * 3600 + mi * 60 + s;
      }
      const m = this.#minPrev[mi] ?? -1;
      if (m >= 0) return h * 3600 + m * 60 + lastS;
    }
    const ph = this.#hourPrev[h] ?? -1;
    return ph >= 0 ? ph * 3600 + (this.#minPrev[60] ?? 0) * 60 + lastS : -1;
  }

  /** The first matching day >= `from` (days since epoch), looking at most `limit` days ahead; NaN if none. */
  #dayAtOrAfter(from: number, limit: number): number {
    let [y, m, d] = civilFromDays(from);
    let day = from;
    let wd = (((from + 4) % 7) + 7) % 7;
    const both = this.#domWild && this.#dowWild;
    while (day - from <= limit) {
      const dim = daysInMonth(y, m);
      if (this.#month[m] === 1) {
        if (both) return day;
        for (; d <= dim; d++, day++, wd = wd === 6 ? 0 : wd + 1) {
          if (this.#dayFields(d, wd, dim)) return day;
        }
      } else {
        const rest = dim - d + 1;
        day += rest;
        wd = (wd + rest) % 7;
      }
      d = 1;
      if (m === 12) {
        m = 1;
        y++;
      } else {
        m++;
      }
    }
    return Number.NaN;
  }

  /** The last matching day <= `from`, looking at most `limit` days back; NaN if none. */
  #dayAtOrBefore(from: number, limit: number): number {
    let [y, m, d] = civilFromDays(from);
    let day = from;
    let wd = (((from + 4) % 7) + 7) % 7;
    const both = this.#domWild && this.#dowWild;
    while (from - day <= limit) {
      const dim = daysInMonth(y, m);
      if (this.#month[m] === 1) {
        if (both) return day;
        for (; d >= 1; d--, day--, wd = wd === 0 ? 6 : wd - 1) {
          if (this.#dayFields(d, wd, dim)) return day;
        }
      } else {
        day -= d;
        wd = (((wd - d) % 7) + 7) % 7;
      }
      if (m === 1) {
        m = 12;
        y--;
      } else {
        m--;
      }
      d = daysInMonth(y, m);
    }
    return Number.NaN;
  }

  /**
   * The first matching whole-second wall time >= xMs, or null when there is none within one
   * 400-year cycle (the calendar repeats, so then there is none at all) or within `maxMs`.
   * Integer arithmetic on the field sets: O(1) within a day, O(days skipped) across days (whole
   * months at a time when the month does not match).
   */
  nextWall(xMs: number, maxMs: number = MAX_WALL_MS): number | null {
    if (this.perDay === 0) return null;
    const x = Math.ceil(xMs / 1000);
    let day = Math.floor(x / DAY_S);
    if (this.dayMatches(day)) {
      const t = this.#todAtOrAfter(x - day * DAY_S);
      if (t >= 0) return this.#wall(day * DAY_S + t, maxMs);
    }
    day = this.#dayAtOrAfter(day + 1, CYCLE_DAYS);
    if (Number.isNaN(day)) return null;
    return this.#wall(day * DAY_S + this.#todAtOrAfter(0), maxMs);
  }

  /** The last matching whole-second wall time <= yMs, or null (see nextWall). */
  prevWall(yMs: number, maxMs: number = MAX_WALL_MS): number | null {
    if (this.perDay === 0) return null;
    const y = Math.floor(yMs / 1000);
    let day = Math.floor(y / DAY_S);
    if (this.dayMatches(day)) {
      const t = this.#todAtOrBefore(y - day * DAY_S);
      if (t >= 0) return this.#wall(day * DAY_S + t, maxMs);
    }
    day = this.#dayAtOrBefore(day - 1, CYCLE_DAYS);
    if (Number.isNaN(day)) return null;
    return this.#wall(day * DAY_S + this.#todAtOrBefore(DAY_S - 1), maxMs);
  }

  #wall(sec: number, maxMs: number): number | null {
    const ms = sec * 1000;
    return Math.abs(ms) <= maxMs ? ms : null;
  }
}
