/**
 * The error contract of SPEC §4: every failed command replies
 * `{ok: false, error: {code, message, details?}}` plus the NATS micro error headers.
 */
import type { IssueDetail, WireError } from './messages.js';

export const ErrorCode = {
  invalid_request: 400,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  overlap: 409,
  limit_exceeded: 429,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCode;

/** `IssueDetail` (`{path, message}`) and `WireError` (`{code, message, details?}`): the output of their schemas. */
export type { IssueDetail, WireError };

/** An error meant for the client: it carries its wire code and optional details. */
export class SchedulerError extends Error {
  override readonly name = 'SchedulerError';
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options?: { details?: unknown; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return ErrorCode[this.code];
  }

  toWire(): WireError {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isSchedulerError(err: unknown): err is SchedulerError {
  return err instanceof SchedulerError;
}

export const invalidRequest = (message: string, details?: IssueDetail[]): SchedulerError =>
  new SchedulerError('invalid_request', message, details === undefined ? undefined : { details });

export const notFound = (jobId: string): SchedulerError =>
  new SchedulerError('not_found', `job "${jobId}" not found`);
