/**
 * Value lists of the wire contract (SPEC §4–§7). Each is a const object: the single source for
 * the TypeScript type, the zod schema and the documentation.
 */

/** What happens to a slot that comes due while an execution of the same job is active. */
export const OverlapPolicy = {
  /** The slot is skipped (`trigger.skipped`, reason `overlap`) and the schedule advances. */
  skip: 'skip',
  /** At most one slot waits and is dispatched when the active execution ends (`trigger: buffered`). */
  buffer_one: 'buffer_one',
  /**
   * Every slot waits in order and is dispatched one at a time (`trigger: buffered`); at most
   * `SCHED_MAX_BUFFERED` wait, beyond that a slot is skipped (reason `buffer_full`). SPEC §10.
   */
  buffer_all: 'buffer_all',
  /**
   * A cancel request goes to the active execution (`P.<o>.dispatch.cancel`) and the slot waits until
   * that execution ends (any completion, or its timeout). SPEC §10.
   */
  cancel_other: 'cancel_other',
  /** The same request, but the active execution ends at once as `terminated` and the slot fires. SPEC §10. */
  terminate_other: 'terminate_other',
  /** Dispatch regardless of active executions. */
  allow: 'allow',
} as const;
export type OverlapPolicy = (typeof OverlapPolicy)[keyof typeof OverlapPolicy];

/** What happens to slots that were missed by more than `misfireGraceMs` (downtime, stalls). */
export const MisfirePolicy = {
  /** Dispatch exactly one execution for the latest missed slot (`trigger: misfire_recovery`). */
  fire_once_on_recovery: 'fire_once_on_recovery',
  /** Dispatch nothing for the missed slots. */
  skip_missed: 'skip_missed',
} as const;
export type MisfirePolicy = (typeof MisfirePolicy)[keyof typeof MisfirePolicy];

/**
 * The state of a job, as the job view reports it. One line each: what enters it, what leaves it.
 * - `idle`: no execution active; leaves when a slot comes due, on `run_now`, on pause.
 * - `due`: a slot came due and the overlap and misfire policies are being applied (transient).
 * - `dispatched`: an execution was sent and no reply has come yet; leaves on accept, failure, timeout.
 * - `running`: an execution was accepted; leaves on completion or timeout of the last active one.
 * - `paused`: the schedule does not fire; active executions go on; leaves on resume.
 */
export const JobState = {
  idle: 'idle',
  due: 'due',
  dispatched: 'dispatched',
  running: 'running',
  paused: 'paused',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

/** Why an execution was dispatched. */
export const Trigger = {
  schedule: 'schedule',
  run_now: 'run_now',
  misfire_recovery: 'misfire_recovery',
  buffered: 'buffered',
  backfill: 'backfill',
} as const;
export type Trigger = (typeof Trigger)[keyof typeof Trigger];

/** Status an orchestrator reports in `execution.completed`. */
export const CompletionStatus = {
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;
export type CompletionStatus = (typeof CompletionStatus)[keyof typeof CompletionStatus];

/** How an execution ended, as `lastResult.status` reports it. */
export const ExecutionResult = {
  ...CompletionStatus,
  timed_out: 'timed_out',
  dispatch_failed: 'dispatch_failed',
  /** Ended by the scheduler under `terminate_other` (SPEC §10). */
  terminated: 'terminated',
} as const;
export type ExecutionResult = (typeof ExecutionResult)[keyof typeof ExecutionResult];

/** Why a dispatch failed (`trigger.failed` reason). */
export const DispatchFailure = {
  no_responders: 'no_responders',
  timeout: 'timeout',
  rejected: 'rejected',
} as const;
export type DispatchFailure = (typeof DispatchFailure)[keyof typeof DispatchFailure];

/** Command operations: the last token of `P.<o>.schedule.<op>`. */
export const Operation = {
  create: 'create',
  list: 'list',
  show: 'show',
  update: 'update',
  pause: 'pause',
  resume: 'resume',
  delete: 'delete',
  run_now: 'run_now',
  backfill: 'backfill',
  preview: 'preview',
  explain: 'explain',
} as const;
export type Operation = (typeof Operation)[keyof typeof Operation];

/** Every audit event type of SPEC §7, published to `P.<o>.events.<jobId>.<type>`. */
export const EventType = {
  'job.created': 'job.created',
  'job.updated': 'job.updated',
  'job.deleted': 'job.deleted',
  'job.paused': 'job.paused',
  'job.resumed': 'job.resumed',
  'job.faulted': 'job.faulted',
  'job.exhausted': 'job.exhausted',
  'job.overdue': 'job.overdue',
  'trigger.dispatched': 'trigger.dispatched',
  'trigger.failed': 'trigger.failed',
  'trigger.skipped': 'trigger.skipped',
  'trigger.buffered': 'trigger.buffered',
  'misfire.fired_once': 'misfire.fired_once',
  'misfire.skipped': 'misfire.skipped',
  'execution.started': 'execution.started',
  'execution.completed': 'execution.completed',
  'execution.timed_out': 'execution.timed_out',
  'execution.completion_rejected': 'execution.completion_rejected',
  'execution.cancel_requested': 'execution.cancel_requested',
  'execution.terminated': 'execution.terminated',
  'backfill.started': 'backfill.started',
  'backfill.completed': 'backfill.completed',
  transition: 'transition',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** The overlap policies a backfill may run under (SPEC §10): one after another, or all at once. */
export const BackfillPolicy = { buffer_all: 'buffer_all', allow: 'allow' } as const;
export type BackfillPolicy = (typeof BackfillPolicy)[keyof typeof BackfillPolicy];

/** What `explain` says happened to a slot (SPEC §11). */
export const ExplainOutcome = {
  dispatched: 'dispatched',
  skipped: 'skipped',
  buffered: 'buffered',
  cancelled_other: 'cancelled_other',
  missed: 'missed',
  paused: 'paused',
  exhausted: 'exhausted',
  not_yet: 'not_yet',
  before_start: 'before_start',
  after_end: 'after_end',
  no_slot: 'no_slot',
  unknown: 'unknown',
} as const;
export type ExplainOutcome = (typeof ExplainOutcome)[keyof typeof ExplainOutcome];

/** Why a slot was skipped (`trigger.skipped` reason). */
export const SkipReason = { overlap: 'overlap', buffer_full: 'buffer_full' } as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export const values = <T extends Record<string, string>>(o: T): [T[keyof T], ...T[keyof T][]] =>
  Object.values(o) as [T[keyof T], ...T[keyof T][]];
