/** `orchestratorId` and `jobId` (SPEC §2): safe as a single NATS subject token and KV key token. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** `executionId` (SPEC §2). */
export const EXECUTION_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export const isValidId = (s: unknown): s is string => typeof s === 'string' && ID_PATTERN.test(s);

/**
 * Execution id of a schedule slot: deterministic per job incarnation and `scheduledAt`, so a
 * repeated dispatch of the same slot (at-least-once window) carries the same id.
 */
export const slotExecutionId = (incarnation: string, scheduledAt: number): string =>
  `${incarnation}-s${scheduledAt.toString(36)}`;

/** Execution id of the n-th `run_now` of a job incarnation. */
export const runNowExecutionId = (incarnation: string, seq: number): string => `${incarnation}-r${seq.toString(36)}`;
