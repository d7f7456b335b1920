import { replyError } from './natsErrors.js';
import { randomUUID } from 'node:crypto';
import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { Operation } from '../contract/constants.js';
import { ErrorCode, SchedulerError, type WireError } from '../contract/errors.js';
import { ID_PATTERN, isValidId, mustMatch } from '../contract/ids.js';
import { commandWildcard } from './subjects.js';

/** What the command server calls: the orchestrator comes from the subject, never from the body. */
export type CommandHandler = (orchestratorId: string, op: Operation, body: unknown) => Promise<object>;

const OPS = new Set<string>(Object.values(Operation));

/** `details` of a `limit_exceeded` refused by the command rate limit. */
export const RATE_LIMITED = Object.freeze({ limit: 'commands per second' });
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Deepest nesting of arrays/objects accepted in a body. Deeper JSON parses, but serialising it
 * again (size check, KV write, event, log) overflows the stack, so it is refused up front.
 */
export const MAX_JSON_DEPTH = 128;

/** True when the JSON text opens more than `max` arrays/objects at once (strings are skipped). */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

const PROTO_KEY = '__proto__';
/** JSON.parse reviver that refuses a `__proto__` key at any depth (see parseBody). */
const refuseProtoKey = (key: string, value: unknown): unknown => {
  if (key === PROTO_KEY) throw new SchedulerError('invalid_request', 'body has a "__proto__" key');
  return value;
};

/**
 * Parses a request body: UTF-8 JSON object (an empty body is `{}`), nested at most
 * MAX_JSON_DEPTH deep, without a `__proto__` key anywhere. That key is refused like secure JSON
 * parsers do (fastify's default): zod's records silently drop it (a label lost, a list filter
 * that matches everything), and copied around it could set an object's prototype.
 */
export function parseBody(data: Uint8Array): unknown {
  if (data.length === 0) return {};
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    throw new SchedulerError('invalid_request', 'body is not valid UTF-8');
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new SchedulerError('invalid_request', `body nests arrays/objects deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text, refuseProtoKey);
  } catch (err) {
    if (err instanceof SchedulerError) throw err;
    throw new SchedulerError('invalid_request', 'body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SchedulerError('invalid_request', 'body must be a JSON object');
  }
  return body;
}

/**
 * Serves `P.<o>.schedule.<op>` (request/reply, queue group). Replies `{ok: true, ...}` or
 * `{ok: false, error}` with the NATS micro error headers; an unexpected failure is `internal`
 * with a correlation id that is logged. Nothing a client sends can throw out of here.
 */
export class CommandServer {
  private sub: Subscription | null = null;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly queue: string,
    private readonly handler: CommandHandler,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(commandWildcard(this.prefix), {
      queue: this.queue,
      callback: (err, msg) => {
        if (err) {
          this.log.error({ err }, 'command subscription error');
          return;
        }
        const p = this.serve(msg).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
      },
    });
  }

  /** Stops taking commands and waits for those in flight. */
  async stop(): Promise<void> {
    this.sub?.unsubscribe();
    this.sub = null;
    await Promise.allSettled([...this.inflight]);
  }

  private async serve(msg: Msg): Promise<void> {
    const tokens = msg.subject.split('.');
    const orchestratorId = tokens[1] ?? '';
    const op = tokens[3] ?? '';
    let reply: object;
    let error: WireError | null = null;
    try {
      if (!isValidId(orchestratorId)) {
        throw new SchedulerError('invalid_request', `orchestratorId in the subject ${mustMatch(ID_PATTERN)}`);
      }
      if (!OPS.has(op)) throw new SchedulerError('invalid_request', `unknown operation "${op}"`);
      const body = parseBody(msg.data);
      reply = { ok: true, ...(await this.handler(orchestratorId, op as Operation, body)) };
    } catch (thrown) {
      const err = replyError(thrown) ?? thrown;
      if (err instanceof SchedulerError && err.code !== 'internal') {
        error = err.toWire();
        // Denied and malformed requests alike: orchestrator, subject and reason, never the body.
        // Rate-limit refusals are summarised by the scheduler: a flood must not flood the log.
        const level = err.code === 'limit_exceeded' && err.details === RATE_LIMITED ? 'debug' : 'warn';
        this.log[level]({ orchestratorId, subject: msg.subject, code: err.code, reason: err.message }, 'command refused');
      } else {
        const correlationId = randomUUID();
        this.log.error({ err, orchestratorId, subject: msg.subject, correlationId }, 'command failed');
        error = { code: 'internal', message: `internal error (correlation id ${correlationId})`, details: { correlationId } };
      }
      reply = { ok: false, error };
    }
    if (!msg.reply) return;
    try {
      if (error) {
        const h = headers();
        h.set('Nats-Service-Error', error.message.replace(/[\r\n]/g, ' '));
        h.set('Nats-Service-Error-Code', String(ErrorCode[error.code]));
        msg.respond(JSON.stringify(reply), { headers: h });
      } else {
        msg.respond(JSON.stringify(reply));
      }
    } catch (err) {
      this.log.warn({ err, subject: msg.subject }, 'could not send reply');
    }
  }
}
