import { NoRespondersError, RequestError, type Msg } from '@nats-io/transport-node';
import type { DispatchFailure } from '../contract/constants.js';
import { dispatchReplySchema } from '../contract/schemas.js';
import type { DispatchRequest } from '../contract/messages.js';
import { dispatchSubject } from './subjects.js';

/** The body of a dispatch request (SPEC §5), as its schema says. */
export type { DispatchRequest };

/** `null` when the dispatcher was closed (shutdown) before an answer: nothing is recorded. */
export type DispatchOutcome = { accepted: true } | { accepted: false; reason: DispatchFailure; detail?: string } | null;

function classify(err: unknown): DispatchFailure {
  if (err instanceof NoRespondersError) return 'no_responders';
  if (err instanceof RequestError && err.isNoResponders()) return 'no_responders';
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof NoRespondersError) return 'no_responders';
  return 'timeout';
}

/**
 * Sends one dispatch attempt to `P.<o>.dispatch.<actionType>` and says how it went: accepted,
 * rejected (`{accepted: false}`, or a reply that is not one), no responders (answered at once by
 * the server) or no reply within `timeoutMs`. It keeps no policy: whether and when a failed
 * attempt is tried again is the job machine's decision (`dispatchRetry` in jobLogic.ts).
 */
/** What sends the request: a `NatsConnection`, or the scheduler's `Pipeline`. */
export interface Requester {
  request(subject: string, payload: string, opts: { timeout: number }): Promise<Msg>;
}

export class Dispatcher {
  private closed = false;

  constructor(
    private readonly nc: Requester,
    private readonly prefix: string,
  ) {}

  async send(req: DispatchRequest, timeoutMs: number): Promise<DispatchOutcome> {
    if (this.closed) return null;
    const subject = dispatchSubject(this.prefix, req.orchestratorId, req.action.type);
    try {
      const msg = await this.nc.request(subject, JSON.stringify(req), { timeout: timeoutMs });
      let body: unknown;
      try {
        body = msg.json();
      } catch {
        return { accepted: false, reason: 'rejected', detail: 'reply is not JSON' };
      }
      const reply = dispatchReplySchema.safeParse(body);
      if (!reply.success) return { accepted: false, reason: 'rejected', detail: 'reply is not {accepted, reason?}' };
      return reply.data.accepted
        ? { accepted: true }
        : { accepted: false, reason: 'rejected', ...(reply.data.reason !== undefined && { detail: reply.data.reason }) };
    } catch (err) {
      return this.closed ? null : { accepted: false, reason: classify(err) };
    }
  }

  /** No new attempt starts; an attempt that fails from now on is not reported (null). */
  close(): void {
    this.closed = true;
  }
}
