/**
 * `preview` (SPEC §11): the slots a schedule would have, without creating a job. Pure: no I/O and
 * no clock (the caller passes `from`, which the command defaults to now).
 *
 * The slots themselves come from the schedule compiler (`compileSchedule`, with the bounds
 * `scheduleOf` in src/core/spec.ts gives a job), so a preview lists exactly the instants the
 * scheduler fires (DST rules included, see cron.ts). This module only annotates them with the
 * wall time in the schedule's zone (luxon) and the DST notes:
 *
 *  - `dst_gap`: the expression named a local time that did not exist that day (spring forward),
 *    and the slot moved past the gap, to the same offset after it (Berlin `30 2 * * *` on
 *    2026-03-29 → 03:30 CEST). Such a slot is recognisable by its own wall time *not* matching the
 *    expression (every regular cron slot's wall time matches it). A gap time that coincides with a
 *    regular slot (`30 2,3 * * *` → 03:30, which matches) is that regular slot, without a note.
 *  - `dst_repeat`: the slot's local time occurs twice that day (fall back), whichever occurrence
 *    it is (New York `30 1 * * *` on 2026-11-01 fires once, at 01:30 EDT; `30 * * * *` fires at
 *    01:30 EDT and at 01:30 EST, both noted).
 *
 * Interval and once schedules have no zone (SPEC §4): their local time is UTC (`+00:00`) and they
 * never carry a note.
 */
import { DateTime } from 'luxon';
import { MAX_INSTANT } from '../contract/schemas.js';
import { ScheduleError } from './errors.js';
import { compileSchedule } from './index.js';
import type { Schedule, ScheduleSpec } from './types.js';
import { assertInstant } from './util.js';

/** `count` when the request has none (SPEC §11). */
export const PREVIEW_DEFAULT_COUNT = 10;
/** The largest `count` a preview accepts (SPEC §11). */
export const PREVIEW_MAX_COUNT = 1000;

export type PreviewNote = 'dst_gap' | 'dst_repeat';

/** One previewed slot, as it goes on the wire (SPEC §11). */
export interface PreviewRun {
  /** The slot (`scheduledAt`), ISO-8601 UTC with milliseconds: `2026-03-29T01:30:00.000Z`. */
  at: string;
  /** The wall time of the slot in the schedule's zone, to the second, no offset: `2026-03-29T03:30:00`. */
  local: string;
  /** The zone's UTC offset at the slot: `+02:00` (`+00:00` for UTC). */
  offset: string;
  /** Present only around a DST transition; see the module comment. */
  note?: PreviewNote;
}

export interface PreviewInput {
  /** The schedule, normalised as in a job spec (`NormalizedSchedule`: instants in epoch ms, timezone explicit). */
  schedule: ScheduleSpec;
  /** Epoch ms; no slot before it (inclusive). null/undefined: no bound. */
  startAt?: number | null;
  /** Epoch ms; no slot after it (inclusive). null/undefined: no bound (year 9999 at most, as for jobs). */
  endAt?: number | null;
  /**
   * Accepted and ignored: jitter moves the instant a slot *fires* at, never the slot itself, and
   * a preview lists the nominal slots (SPEC §10: `scheduledAt` and `nextRuns` stay nominal).
   */
  jitterMs?: number | null;
  /** Epoch ms; the preview lists the slots at or after it (inclusive, like a job created at `from`). */
  from: number;
  /** How many slots at most: default {@link PREVIEW_DEFAULT_COUNT}, an integer in [0, {@link PREVIEW_MAX_COUNT}]. */
  count?: number | null;
  /**
   * Interval schedules without `startAt` only: the creation time the slots count from (the first
   * slot is one period after it, SPEC §6). Default `from`: the schedule of a job created at `from`.
   */
  anchorAt?: number | null;
}

/**
 * The next slots of a schedule, annotated for display (SPEC §11 `preview`). Returns up to `count`
 * runs, the slots s with s >= `from` within [startAt, endAt], strictly increasing.
 *
 * Throws ScheduleError (a user-facing message, to be answered as `invalid_request`) for a schedule
 * that does not compile (see `compileSchedule`), non-finite instants, `endAt` before `startAt`, or
 * a `count` that is not an integer in [0, 1000]. Limits of the deployment (the minimum interval,
 * SCHED_MIN_INTERVAL_MS) are not checked here: the caller validates them as for `create`.
 */
export function previewRuns(input: PreviewInput): PreviewRun[] {
  const { schedule: spec, from } = input;
  assertInstant(from, 'from');
  const count = input.count ?? PREVIEW_DEFAULT_COUNT;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > PREVIEW_MAX_COUNT) {
    throw new ScheduleError(`count must be an integer between 0 and ${PREVIEW_MAX_COUNT} (got ${String(count)})`);
  }
  const startAt = input.startAt ?? null;
  const endAt = input.endAt ?? null;
  if (startAt !== null && endAt !== null && endAt < startAt) throw new ScheduleError('endAt must not be before startAt');
  const anchor = input.anchorAt ?? from;
  // The bounds scheduleOf gives a job: no slot after year 9999 (the wire format of instants stops there).
  const bound = Math.min(endAt ?? MAX_INSTANT, MAX_INSTANT);
  const schedule = compileSchedule(spec, { startAt, endAt: bound, anchor });
  // upcoming(t) is strictly after t; slots are whole ms, so this lists the slots >= from.
  const slots = schedule.upcoming(Math.ceil(from) - 1, count);
  if (spec.kind !== 'cron') return slots.map((at) => annotate(at, 'UTC', null));
  // The same expression in UTC: its slots are exactly the wall times the expression matches.
  const walls = compileSchedule({ kind: 'cron', expression: spec.expression, timezone: 'UTC' }, { startAt: null, endAt: null, anchor: 0 });
  return slots.map((at) => annotate(at, spec.timezone, walls));
}

function annotate(at: number, zone: string, walls: Schedule | null): PreviewRun {
  const dt = DateTime.fromMillis(at, { zone });
  const run: PreviewRun = {
    at: new Date(at).toISOString(),
    local: dt.toFormat("yyyy-MM-dd'T'HH:mm:ss"),
    offset: dt.toFormat('ZZ'),
  };
  if (walls === null) return run;
  // The wall time encoded as if it were UTC (the encoding cron.ts iterates on).
  const wall = at + dt.offset * 60_000;
  if (walls.nextAfter(wall - 1) !== wall) run.note = 'dst_gap';
  else if (dt.getPossibleOffsets().length > 1) run.note = 'dst_repeat';
  return run;
}
