import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import { ClosedConnectionError, ConnectionError, DrainingConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { SchedulerError } from '../contract/errors.js';

/**
 * Is this a failure to reach NATS or JetStream (no answer in time, no connection, no responders,
 * a JetStream API that answered with an error such as "no leader" during an election), as
 * opposed to a bug? Recognised by class, never by message text.
 */
export function isStorageUnavailable(err: unknown): boolean {
  return (
    err instanceof TimeoutError ||
    err instanceof NoRespondersError ||
    err instanceof RequestError ||
    err instanceof ClosedConnectionError ||
    err instanceof DrainingConnectionError ||
    err instanceof ConnectionError ||
    err instanceof JetStreamApiError ||
    err instanceof JetStreamError
  );
}

/**
 * The error a command replies with: a SchedulerError as it is, a NATS or JetStream failure as
 * `unavailable` (retryable; SPEC §4: "storage unreachable"), anything else as null (a bug:
 * `internal`, logged with a correlation id by the caller).
 */
export function replyError(err: unknown): SchedulerError | null {
  if (err instanceof SchedulerError) return err;
  if (isStorageUnavailable(err)) return new SchedulerError('unavailable', `storage unavailable (${(err as Error).message}); retry`, { cause: err });
  return null;
}
