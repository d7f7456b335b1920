/**
 * The one definition of every identifier and instant pattern of the wire contract (SPEC §2). The
 * zod schemas, the config, the client, the worker and schedctl all test against these; nothing
 * else retypes them. No imports: the client entry loads this module.
 */

/** `orchestratorId` and `jobId` (SPEC §2): safe as a single NATS subject token and KV key token. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** `executionId` (SPEC §2). */
export const EXECUTION_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
/** `SCHED_PREFIX` (SPEC §8): the first token of every subject and part of every stream and bucket name. */
export const PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * An instant as the scheduler accepts it (`instantSchema`): an ISO-8601 date-time, seconds and
 * fraction optional, with an explicit offset `Z`, `+hh:mm` or `+hhmm` (not an hour-only `+hh`).
 */
export const INSTANT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
/** An instant as the scheduler writes it: ISO-8601 UTC with milliseconds (`2026-11-27T09:00:00.000Z`). */
export const WIRE_INSTANT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The rule of a pattern as error messages state it: `must match ^[A-Za-z0-9_-]{1,64}$`. */
export const mustMatch = (pattern: RegExp): string => `must match ${pattern.source}`;

export const isValidId = (s: unknown): s is string => typeof s === 'string' && ID_PATTERN.test(s);
export const isValidExecutionId = (s: unknown): s is string => typeof s === 'string' && EXECUTION_ID_PATTERN.test(s);
export const isValidPrefix = (s: unknown): s is string => typeof s === 'string' && PREFIX_PATTERN.test(s);

/**
 * An instant in the form the scheduler accepts (`INSTANT_PATTERN`) as epoch ms; null for any other
 * text or a date that does not exist. The range check (1970 to 9999) is `instantSchema`'s.
 */
export function parseInstant(s: string): number | null {
  if (!INSTANT_PATTERN.test(s)) return null;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Execution id of a schedule slot: deterministic per job incarnation and `scheduledAt`, so a
 * repeated dispatch of the same slot (at-least-once window) carries the same id.
 */
export const slotExecutionId = (incarnation: string, scheduledAt: number): string =>
  `${incarnation}-s${scheduledAt.toString(36)}`;

/** Execution id of the n-th `run_now` of a job incarnation. */
export const runNowExecutionId = (incarnation: string, seq: number): string => `${incarnation}-r${seq.toString(36)}`;

/**
 * Execution id of a backfill slot (SPEC §10): `<incarnation>-b<backfillId>-<scheduledAt in base 36>`,
 * so a restart in the middle of a backfill dispatches each slot under the same id.
 */
export const backfillExecutionId = (incarnation: string, backfillId: string, scheduledAt: number): string =>
  `${incarnation}-b${backfillId}-${scheduledAt.toString(36)}`;
