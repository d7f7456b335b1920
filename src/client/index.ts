/**
 * `nats-scheduler/client`: what an orchestrator needs: the typed command client, the dispatch
 * worker, the errors, the types of the wire contract and its schemas. No server code: importing it
 * loads neither the scheduler nor its job machines.
 */

// Client side: commands, events, dispatch worker
export { SchedulerClient, EventStream, sinceToEpochMs, DEFAULT_PREFIX, DEFAULT_TIMEOUT_MS, DEFAULT_RATE_LIMIT_RETRIES } from './client.js';
export type { SchedulerClientOptions, EventsOptions } from './client.js';
export { OrchestratorWorker, ExecutionCancelledError } from './worker.js';
export type { OrchestratorWorkerOptions, AcceptDecision, CancelReply, HandlerContext, WorkerEvents, WorkerState } from './worker.js';
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
} from './errors.js';
export type { RequestContext, SchedulerClientErrorOf } from './errors.js';
export type {
  ActionType,
  BackfillOptions,
  BackfillResult,
  CancelRequest,
  CreateJobInput,
  Dispatch,
  DispatchRequest,
  ExplainAt,
  ExplainResult,
  JobDetails,
  JobPage,
  JobPatch,
  JobView,
  ListJobsInput,
  PauseOptions,
  PreviewInput,
  PreviewResult,
  PreviewRun,
  RunNowOptions,
  RunNowResult,
  SchedulerEvent,
  Target,
  UpdateDryRunResult,
  UpdateOptions,
  WireSchedule,
} from './types.js';

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
  BackfillPolicy,
  SkipReason,
  ExplainOutcome,
} from '../contract/constants.js';
export { ErrorCode } from '../contract/errors.js';
export type { IssueDetail, WireError } from '../contract/errors.js';
export {
  ID_PATTERN,
  EXECUTION_ID_PATTERN,
  PREFIX_PATTERN,
  INSTANT_PATTERN,
  WIRE_INSTANT_PATTERN,
  isValidId,
  isValidExecutionId,
  isValidPrefix,
  parseInstant,
} from '../contract/ids.js';
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
  backfillBodySchema,
  previewBodySchema,
  explainBodySchema,
  completionSchema,
  heartbeatSchema,
  dispatchReplySchema,
} from '../contract/schemas.js';
export type { CreateBody, Patch, Completion } from '../contract/schemas.js';
export {
  names,
  commandSubject,
  dispatchSubject,
  cancelSubject,
  completedSubject,
  heartbeatSubject,
  eventSubject,
} from '../transport/subjects.js';
export type { Names } from '../transport/subjects.js';

