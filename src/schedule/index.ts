/**
 * Pure schedule arithmetic: no I/O, no clock. Every function takes instants as epoch-ms numbers.
 * See cron.ts for the time-zone / DST rules and interval.ts for interval slots.
 */
import { compileCron } from './cron.js';
import { ScheduleError } from './errors.js';
import { compileInterval, compileOnce } from './interval.js';
import type { Schedule, ScheduleBounds, ScheduleSpec } from './types.js';
import { assertInstant } from './util.js';

export type { Schedule, ScheduleBounds, ScheduleSpec, SlotRange } from './types.js';
export { ScheduleError } from './errors.js';
export { parseDuration } from './duration.js';
export { isValidTimezone } from './zone.js';

/**
 * Validates and compiles. Throws ScheduleError for: a cron expression that does not parse, that
 * has a field count other than 5 or 6 (aliases like @daily allowed), that can never match, an
 * unknown IANA zone, interval `every` <= 0, not finite or not whole ms, non-finite instants.
 */
export function compileSchedule(spec: ScheduleSpec, bounds: ScheduleBounds): Schedule {
  if (spec === null || typeof spec !== 'object') throw new ScheduleError('schedule must be an object');
  if (bounds === null || typeof bounds !== 'object') throw new ScheduleError('schedule bounds must be an object');
  // undefined is read as null (no bound), for callers that build bounds from optional fields.
  const b: ScheduleBounds = { startAt: bounds.startAt ?? null, endAt: bounds.endAt ?? null, anchor: bounds.anchor };
  if (b.startAt !== null) assertInstant(b.startAt, 'startAt');
  if (b.endAt !== null) assertInstant(b.endAt, 'endAt');
  assertInstant(b.anchor, 'anchor');
  switch (spec.kind) {
    case 'cron':
      return compileCron(spec, b);
    case 'interval':
      return compileInterval(spec, b);
    case 'once':
      return compileOnce(spec, b);
    default:
      throw new ScheduleError(`unknown schedule kind "${String((spec as { kind?: unknown }).kind)}"`);
  }
}
