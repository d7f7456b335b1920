/**
 * The package's public entry. Named exports only: what is not listed here is internal.
 */

// Client side: commands, events, dispatch worker
export { SchedulerClient, EventStream, sinceToEpochMs, DEFAULT_PREFIX, DEFAULT_TIMEOUT_MS } from './client/client.js';
export type { SchedulerClientOptions, EventsOptions } from './client/client.js';
export { OrchestratorWorker } from './client/worker.js';
export type { OrchestratorWorkerOptions, AcceptDecision, WorkerEvents, WorkerState } from './client/worker.js';
export {
  SchedulerClientError,
  InvalidRequestError,
  NotFoundError,
  AlreadyExistsError,
  ConflictError,
  OverlapError,
  LimitExceededError,
  UnavailableError,
  InternalError,
  ErrorClasses,
  errorFromWire,
  isSchedulerClientError,
  isNotFoundError,
  isConflictError,
  isOverlapError,
} from './client/errors.js';
export type { RequestContext, SchedulerClientErrorOf } from './client/errors.js';
export type {
  ActionType,
  CreateJobInput,
  Dispatch,
  JobDetails,
  JobPage,
  JobPatch,
  JobView,
  ListJobsInput,
  PauseOptions,
  RunNowOptions,
  RunNowResult,
  SchedulerEvent,
  Target,
  UpdateOptions,
} from './client/types.js';
export type { WireSchedule } from './core/view.js';

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
