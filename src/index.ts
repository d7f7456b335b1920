/**
 * `nats-scheduler`: the server side: the scheduler runtime, its configuration, the job machine
 * (for inspectors) and the wire contract. Orchestrators import `nats-scheduler/client` instead.
 * Named exports only: what is not listed here is internal.
 */

// The wire contract (SPEC §2–§7)
export {
  OverlapPolicy,
  MisfirePolicy,
  JobState,
  Trigger,
  CompletionStatus,
  ExecutionResult,
  DispatchFailure,
  Operation,
  EventType,
} from './contract/constants.js';
export { ErrorCode } from './contract/errors.js';
export type { IssueDetail, WireError } from './contract/errors.js';
export { ID_PATTERN, EXECUTION_ID_PATTERN, isValidId } from './contract/ids.js';
export {
  idSchema,
  executionIdSchema,
  instantSchema,
  durationSchema,
  scheduleInputSchema,
  targetSchema,
  createBodySchema,
  patchSchema,
  updateBodySchema,
  listBodySchema,
  jobIdBodySchema,
  pauseBodySchema,
  runNowBodySchema,
  completionSchema,
  heartbeatSchema,
  dispatchReplySchema,
} from './contract/schemas.js';
export type { CreateBody, Patch, Completion } from './contract/schemas.js';
export {
  names,
  commandSubject,
  dispatchSubject,
  completedSubject,
  heartbeatSubject,
  eventSubject,
} from './transport/subjects.js';
export type { Names } from './transport/subjects.js';

// The runtime: the job machine (for inspectors) and the scheduler itself
export { jobMachine } from './machines/jobMachine.js';
export type { JobMachine, JobEvent } from './machines/jobMachine.js';
export { Scheduler } from './runtime/scheduler.js';
export type { SchedulerOptions } from './runtime/scheduler.js';
export { loadConfig, ConfigError } from './config.js';
export type { Config } from './config.js';
export { systemClock, ManualClock } from './actors/clock.js';
export type { Clock } from './actors/clock.js';
