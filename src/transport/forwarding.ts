import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import { Operation } from '../contract/constants.js';
import { ErrorCode, SchedulerError } from '../contract/errors.js';
import { replyError } from './natsErrors.js';
import { forwardSubject } from './subjects.js';

/**
 * Replica-to-replica forwarding: a replica that receives a command or an execution message for
 * an orchestrator another replica owns sends it to the owner and relays the answer. The envelope
 * is checked on both sides (a replica of another version, or anything else publishing on the
 * subject, gets a clear refusal rather than a crash or a wrong answer).
 */
export const forwardRequestSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('command'), o: z.string(), op: z.enum(Object.values(Operation) as [Operation, ...Operation[]]), body: z.unknown() }),
  z.object({ kind: z.literal('execution'), o: z.string(), execKind: z.enum(['completed', 'heartbeat']), subject: z.string(), data: z.base64() }),
]);
export type ForwardRequest = z.output<typeof forwardRequestSchema>;

export const forwardReplySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.record(z.string(), z.unknown()) }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.enum(Object.keys(ErrorCode) as [ErrorCode, ...ErrorCode[]]), message: z.string(), details: z.unknown().optional() }) }),
]);
export type ForwardReply = z.output<typeof forwardReplySchema>;

const encode = (req: ForwardRequest | ForwardReply): string => JSON.stringify(req);

/** The answer of the owner, or a SchedulerError: its own, or `unavailable` when it does not answer (a failover). */
export async function forward(nc: NatsConnection, prefix: string, owner: string, req: ForwardRequest, timeoutMs = 5_000): Promise<object> {
  let m: Msg;
  try {
    m = await nc.request(forwardSubject(prefix, owner), encode(req), { timeout: timeoutMs });
  } catch {
    throw new SchedulerError('unavailable', 'the owning replica does not answer (failover in progress); retry');
  }
  let reply: ForwardReply;
  try {
    reply = forwardReplySchema.parse(m.json());
  } catch (err) {
    throw new SchedulerError('internal', 'the owning replica sent an answer this replica cannot read', { cause: err });
  }
  if (!reply.ok) throw new SchedulerError(reply.error.code, reply.error.message, reply.error.details === undefined ? undefined : { details: reply.error.details });
  return reply.result;
}

/** Serves forwarded requests on this replica's subject; `handle` answers as for a request received directly. */
export function serveForwarding(nc: NatsConnection, prefix: string, replicaId: string, handle: (req: ForwardRequest) => Promise<object>, log: Logger): Subscription {
  const answer = async (m: Msg): Promise<void> => {
    let reply: ForwardReply;
    try {
      let req: ForwardRequest;
      try {
        req = forwardRequestSchema.parse(m.json());
      } catch (err) {
        throw new SchedulerError('invalid_request', 'malformed forwarded request', { cause: err });
      }
      reply = { ok: true, result: (await handle(req)) as Record<string, unknown> };
    } catch (err) {
      const e = replyError(err) ?? new SchedulerError('internal', 'forwarded request failed', { cause: err });
      if (e.code === 'internal') log.error({ err }, 'forwarded request failed');
      reply = { ok: false, error: e.toWire() };
    }
    if (m.reply) m.respond(encode(reply));
  };
  return nc.subscribe(forwardSubject(prefix, replicaId), { callback: (_e, m) => void answer(m) });
}
