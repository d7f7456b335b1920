import { NoRespondersError, RequestError, type NatsConnection } from '@nats-io/transport-node';
import type { DispatchFailure, Trigger } from '../contract/constants.js';
import { dispatchReplySchema, type Target } from '../contract/schemas.js';
import { dispatchSubject } from './subjects.js';

/** The body of a dispatch request (SPEC §5). */
export interface DispatchRequest {
  executionId: string;
  orchestratorId: string;
  jobId: string;
  scheduledAt: string;
  firedAt: string;
  trigger: Trigger;
  attempt: number;
  action: Target;
}

/** `null` when the dispatcher was closed (shutdown) before an answer: nothing is recorded. */
export type DispatchOutcome = { accepted: true } | { accepted: false; reason: DispatchFailure; detail?: string } | null;

export interface DispatchPolicy {
  timeoutMs: number;
  attempts: number;
  backoffMs: number;
}

function classify(err: unknown): DispatchFailure {
  if (err instanceof NoRespondersError) return 'no_responders';
  if (err instanceof RequestError && err.isNoResponders()) return 'no_responders';
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof NoRespondersError) return 'no_responders';
  return 'timeout';
}

/**
 * Sends dispatch requests to `P.<o>.dispatch.<actionType>`. No responders (answered at once by
 * the server) and no reply within `timeoutMs` are retried after `backoffMs`, up to `attempts`
 * attempts in all; `{accepted: false}` fails at once.
 */
export class Dispatcher {
  private closed = false;
  private readonly waits = new Set<() => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
  ) {}

  async dispatch(
    req: DispatchRequest,
    policy: DispatchPolicy,
    onAttempt: (attempt: number) => void,
    /** Checked before each attempt: false (the job was stopped, the lease lost) ends it with null. */
    mayContinue: () => boolean = () => true,
  ): Promise<DispatchOutcome> {
    const subject = dispatchSubject(this.prefix, req.orchestratorId, req.action.type);
    let last: DispatchFailure = 'timeout';
    for (let attempt = req.attempt; attempt <= policy.attempts && !this.closed; attempt++) {
      if (attempt > req.attempt) {
        await this.sleep(policy.backoffMs);
        if (this.closed) break;
        onAttempt(attempt);
      }
      if (!mayContinue()) return null;
      try {
        const msg = await this.nc.request(subject, JSON.stringify({ ...req, attempt }), { timeout: policy.timeoutMs });
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
        last = classify(err);
      }
    }
    return this.closed ? null : { accepted: false, reason: last };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.waits.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waits.add(done);
    });
  }

  /** Stops retrying: pending backoffs end now and no new attempt starts. */
  close(): void {
    this.closed = true;
    for (const w of [...this.waits]) w();
  }
}
