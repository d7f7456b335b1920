import { ErrorCode, type IssueDetail, type WireError } from '../contract/errors.js';

/** Where a failed request went: the operation and, when the request named one, the job. */
export interface RequestContext {
  orchestratorId: string;
  operation: string;
  jobId?: string | undefined;
}

interface ErrorInit extends RequestContext {
  message: string;
  details?: unknown;
  cause?: unknown;
}

/**
 * A command the scheduler refused (`{ok: false, error}`, SPEC §4) or could not be reached for.
 * One subclass per wire code; `code` is the wire code and `status` its number. Test with
 * `instanceof` or {@link isSchedulerClientError}.
 */
export class SchedulerClientError extends Error {
  override readonly name: string = 'SchedulerClientError';
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly orchestratorId: string;
  readonly operation: string;
  readonly jobId: string | undefined;

  constructor(code: ErrorCode, init: ErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.details = init.details;
    this.orchestratorId = init.orchestratorId;
    this.operation = init.operation;
    this.jobId = init.jobId;
  }

  /** The wire number of the code (400, 404, 409, 429, 500, 503). */
  get status(): number {
    return ErrorCode[this.code];
  }
}

/** `invalid_request`: the body broke the schema; `details` lists `{path, message}`. */
export class InvalidRequestError extends SchedulerClientError {
  override readonly name = 'InvalidRequestError';
  declare readonly code: 'invalid_request';
  constructor(init: ErrorInit) {
    super('invalid_request', init);
  }
  /** The schema violations, when the scheduler listed them. */
  get issues(): IssueDetail[] {
    return Array.isArray(this.details) ? (this.details as IssueDetail[]) : [];
  }
}

/** `not_found`: no such job in this orchestrator. */
export class NotFoundError extends SchedulerClientError {
  override readonly name = 'NotFoundError';
  declare readonly code: 'not_found';
  constructor(init: ErrorInit) {
    super('not_found', init);
  }
}

/** `already_exists`: create with a `jobId` that exists. */
export class AlreadyExistsError extends SchedulerClientError {
  override readonly name = 'AlreadyExistsError';
  declare readonly code: 'already_exists';
  constructor(init: ErrorInit) {
    super('already_exists', init);
  }
}

/** `conflict`: `expectedRevision` did not match; `revision` is the job's current one. */
export class ConflictError extends SchedulerClientError {
  override readonly name = 'ConflictError';
  declare readonly code: 'conflict';
  constructor(init: ErrorInit) {
    super('conflict', init);
  }
  get revision(): number | undefined {
    const r = (this.details as { revision?: unknown } | undefined)?.revision;
    return typeof r === 'number' ? r : undefined;
  }
}

/** `overlap`: `run_now` blocked by the overlap policy; `activeExecutions` lists what blocks it. */
export class OverlapError extends SchedulerClientError {
  override readonly name = 'OverlapError';
  declare readonly code: 'overlap';
  constructor(init: ErrorInit) {
    super('overlap', init);
  }
  get activeExecutions(): string[] {
    const a = (this.details as { activeExecutions?: unknown } | undefined)?.activeExecutions;
    return Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string') : [];
  }
}

/**
 * The `limit` of a rate-limit refusal's details (`{limit, retryAfterMs}`), as the scheduler sends
 * it (`RATE_LIMITED` of src/transport/commandServer.ts).
 */
export const RATE_LIMIT_MARKER = 'commands per second';

/**
 * `limit_exceeded`: a quota (jobs per orchestrator, payload size, the NATS server's max_payload),
 * which retrying does not change, or the per-orchestrator command rate limit (`rateLimited`),
 * which `SchedulerClient` retries after `retryAfterMs` (option `rateLimitRetries`) before it
 * throws this.
 */
export class LimitExceededError extends SchedulerClientError {
  override readonly name = 'LimitExceededError';
  declare readonly code: 'limit_exceeded';
  constructor(init: ErrorInit) {
    super('limit_exceeded', init);
  }

  /** True when the command was refused by the rate limit (`details: {limit: 'commands per second', retryAfterMs}`), not a quota. */
  get rateLimited(): boolean {
    const d = this.details;
    return typeof d === 'object' && d !== null && !Array.isArray(d) && (d as { limit?: unknown }).limit === RATE_LIMIT_MARKER;
  }

  /** For a rate-limit refusal: the ms after which the scheduler expects a token to be available. */
  get retryAfterMs(): number | undefined {
    if (!this.rateLimited) return undefined;
    const r = (this.details as { retryAfterMs?: unknown }).retryAfterMs;
    return typeof r === 'number' && Number.isFinite(r) && r >= 0 ? r : undefined;
  }
}

/**
 * `unavailable`: the scheduler said it is not ready or cannot reach its storage, or no scheduler
 * answered at all (no responders, timeout: then `cause` is the NATS error). Safe to retry.
 */
export class UnavailableError extends SchedulerClientError {
  override readonly name = 'UnavailableError';
  declare readonly code: 'unavailable';
  constructor(init: ErrorInit) {
    super('unavailable', init);
  }
}

/** `internal`: a bug in the scheduler; `correlationId` finds it in the scheduler's log. */
export class InternalError extends SchedulerClientError {
  override readonly name = 'InternalError';
  declare readonly code: 'internal';
  constructor(init: ErrorInit) {
    super('internal', init);
  }
  get correlationId(): string | undefined {
    const c = (this.details as { correlationId?: unknown } | undefined)?.correlationId;
    return typeof c === 'string' ? c : undefined;
  }
}

/** The class of each wire code. */
export const ErrorClasses = {
  invalid_request: InvalidRequestError,
  not_found: NotFoundError,
  already_exists: AlreadyExistsError,
  conflict: ConflictError,
  overlap: OverlapError,
  limit_exceeded: LimitExceededError,
  unavailable: UnavailableError,
  internal: InternalError,
} as const satisfies Record<ErrorCode, new (init: ErrorInit) => SchedulerClientError>;

/** The class for each code, so `isSchedulerClientError(err, 'overlap')` narrows to `OverlapError`. */
export type SchedulerClientErrorOf<C extends ErrorCode> = InstanceType<(typeof ErrorClasses)[C]>;

/** True for any error of this client; with `code`, only for that wire code. */
export function isSchedulerClientError(err: unknown): err is SchedulerClientError;
export function isSchedulerClientError<C extends ErrorCode>(err: unknown, code: C): err is SchedulerClientErrorOf<C>;
export function isSchedulerClientError(err: unknown, code?: ErrorCode): boolean {
  return err instanceof SchedulerClientError && (code === undefined || err.code === code);
}

export const isNotFoundError = (err: unknown): err is NotFoundError => err instanceof NotFoundError;
export const isConflictError = (err: unknown): err is ConflictError => err instanceof ConflictError;
export const isOverlapError = (err: unknown): err is OverlapError => err instanceof OverlapError;

const isErrorCode = (c: unknown): c is ErrorCode => typeof c === 'string' && Object.hasOwn(ErrorCode, c);

/** The error for a `{ok: false, error}` reply. An unknown code is reported as `internal`. */
export function errorFromWire(wire: WireError | undefined, ctx: RequestContext): SchedulerClientError {
  const code = isErrorCode(wire?.code) ? wire.code : 'internal';
  const message = typeof wire?.message === 'string' ? wire.message : `scheduler replied ok: false without an error (${ctx.operation})`;
  return new ErrorClasses[code]({ ...ctx, message, details: wire?.details });
}
