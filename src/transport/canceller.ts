import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { CancelRequest } from '../contract/messages.js';
import { cancelSubject } from './subjects.js';

/** How long a cancel request waits for a reply (which only tells that someone heard it). */
const CANCEL_REPLY_MS = 2_000;

/**
 * Sends the cancel requests of `cancel_other` and `terminate_other` (SPEC §10) to
 * `P.<o>.dispatch.cancel`. A request, so that no responders is known at once, but nothing waits
 * on it: under `cancel_other` the job waits for the execution to end (a completion, or its
 * timeout), whatever the reply; under `terminate_other` it has already ended.
 */
export class CancelSender {
  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  cancel(orchestratorId: string, req: CancelRequest): void {
    const subject = cancelSubject(this.prefix, orchestratorId);
    this.nc.request(subject, JSON.stringify(req), { timeout: CANCEL_REPLY_MS }).then(
      () => undefined,
      (err: unknown) => this.log.debug({ err, executionId: req.executionId, jobId: req.jobId }, 'cancel request not answered'),
    );
  }
}
