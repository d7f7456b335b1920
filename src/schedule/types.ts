export type ScheduleSpec =
  | { kind: 'cron'; expression: string; timezone: string } // 5 fields, or 6 with seconds first; @hourly/@daily/... aliases
  | { kind: 'interval'; every: number } // ms, > 0
  | { kind: 'once'; at: number }; // epoch ms

export interface ScheduleBounds {
  /** No slot before it (inclusive bound). */
  startAt: number | null;
  /** No slot after it (inclusive bound). */
  endAt: number | null;
  /**
   * Interval only: when startAt is null, slots are anchor + k*every for k >= 1 (the first slot is
   * one period after the anchor). When startAt is set, slots are startAt + k*every for k >= 0.
   */
  anchor: number;
}

export interface SlotRange {
  /** Number of slots s with from <= s <= to. */
  count: number;
  /** Earliest such slot. */
  first: number | null;
  /** Latest such slot. */
  last: number | null;
  /** False only when count is an approximation. */
  exact: boolean;
}

export interface Schedule {
  readonly spec: ScheduleSpec;
  /** The first slot strictly after t, or null when none is left (endAt passed, once already past). */
  nextAfter(t: number): number | null;
  /** The slots in [from, to] (both inclusive). */
  slotsBetween(from: number, to: number): SlotRange;
  /** Up to n slots strictly after t, ascending. */
  upcoming(t: number, n: number): number[];
}
