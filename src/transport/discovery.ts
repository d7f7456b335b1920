import { Svcm, type EndpointInfo, type NamedEndpointStats, type Service, type ServiceInfo, type ServiceStats } from '@nats-io/services';
import { errors, type NatsConnection } from '@nats-io/transport-node';
import type { Histogram } from 'prom-client';
import { Operation } from '../contract/constants.js';
import { commandSubject, names } from './subjects.js';

/**
 * NATS service discovery (the "micro" protocol): the scheduler answers `$SRV.PING`, `$SRV.INFO`
 * and `$SRV.STATS` (also `$SRV.<VERB>.<name>` and `$SRV.<VERB>.<name>.<id>`), so `nats micro ls`
 * and any micro client find every replica of a deployment and its command endpoints.
 *
 * The command endpoints stay served by the CommandServer (one `P.*.schedule.*` queue
 * subscription, which also answers unknown operations with `invalid_request`). `@nats-io/services`
 * has no way to list an endpoint without subscribing to it: every `addEndpoint` subscribes to the
 * subject it reports, so a listed endpoint would either join the command queue group (and take
 * half of the commands) or get a copy of every command in a queue group of its own (and report a
 * queue group that serves nothing). So the service registers no endpoint of its own; it reports
 * the command endpoints, with their real subjects and queue group, in its INFO and STATS replies.
 * The library builds those replies by calling the service's `info()` and `stats()` at request
 * time, which is where the endpoints are filled in (checked by test/integration/discovery.test.ts).
 */

/** The micro service name of a deployment: `<prefix>_scheduler`, the same as its command queue group. */
export const serviceName = (prefix: string): string => names(prefix).queueGroup;

/** Counts of one command endpoint since the process started, for `$SRV.STATS`. */
export interface CommandEndpointStats {
  requests: number;
  /** Requests answered with `ok: false`. */
  errors: number;
  /** Total handling time. */
  processingSeconds: number;
}

export type CommandStatsSource = () =>
  | Partial<Record<Operation, CommandEndpointStats>>
  | Promise<Partial<Record<Operation, CommandEndpointStats>>>;

export interface DiscoveryOptions {
  /** `SCHED_PREFIX`. */
  prefix: string;
  /** The scheduler's version; must be semver (the package version). */
  version: string;
  /** This replica's id; reported in the service metadata (`replicaId`). */
  replicaId?: string;
  /** More service metadata (`prefix` and `replicaId` cannot be overridden). */
  metadata?: Record<string, string>;
  /**
   * Per-operation counts for `$SRV.STATS`, e.g. `() => commandStatsFromHistogram(metrics.commandDuration)`.
   * Without it the endpoints are reported with zero counts.
   */
  commandStats?: CommandStatsSource;
  /** The orchestrators this replica owns now: `$SRV.INFO` metadata `orchestrators` (comma separated). */
  ownership?: () => string[];
}

export interface Discovery {
  /** The micro service id of this replica (`$SRV.<VERB>.<name>.<id>`). */
  readonly id: string;
  readonly name: string;
  /**
   * Resolves when the service ends: `null` after `stop()` or when the connection closed, an
   * error when one of its subscriptions failed (e.g. no permission to subscribe to `$SRV.>`).
   */
  readonly stopped: Promise<Error | null>;
  /** Stops answering `$SRV.*` (drains its subscriptions). Idempotent. */
  stop(): Promise<void>;
}

/** The JSON Schema file names under docs/protocol/schemas of an operation's messages. */
export const commandSchemaFiles = (op: Operation): { request: string; reply: string; error: string } => ({
  request: `command.${op}.request.json`,
  reply: `command.${op}.reply.json`,
  error: 'command.error.reply.json',
});

/** The command endpoints as `$SRV.INFO` lists them: one per operation, `P.*.schedule.<op>`. */
export function commandEndpoints(prefix: string): EndpointInfo[] {
  const queueGroup = names(prefix).queueGroup;
  return Object.values(Operation).map((op) => {
    const files = commandSchemaFiles(op);
    return {
      name: op,
      subject: commandSubject(prefix, '*', op),
      queue_group: queueGroup,
      metadata: {
        pattern: 'request-reply',
        request_schema: files.request,
        reply_schema: files.reply,
        error_schema: files.error,
      },
    };
  });
}

/**
 * Per-operation counts from the scheduler's `sched_command_duration_seconds` histogram (labels
 * `op` and `code`; every code but `ok` is an error).
 */
export async function commandStatsFromHistogram(h: Histogram<'op' | 'code'>): Promise<Partial<Record<Operation, CommandEndpointStats>>> {
  const out: Partial<Record<Operation, CommandEndpointStats>> = {};
  const { values } = await h.get();
  for (const v of values) {
    const op = String(v.labels.op ?? '');
    if (!Object.hasOwn(Operation, op)) continue;
    const s = (out[op as Operation] ??= { requests: 0, errors: 0, processingSeconds: 0 });
    if (v.metricName?.endsWith('_count')) {
      s.requests += v.value;
      if (v.labels.code !== 'ok') s.errors += v.value;
    } else if (v.metricName?.endsWith('_sum')) {
      s.processingSeconds += v.value;
    }
  }
  return out;
}

const NANOS = 1e9;

function endpointStats(e: EndpointInfo, s: CommandEndpointStats | undefined, lastError: string | undefined): NamedEndpointStats {
  const requests = s?.requests ?? 0;
  const processing = Math.round((s?.processingSeconds ?? 0) * NANOS);
  return {
    name: e.name,
    subject: e.subject,
    ...(e.queue_group !== undefined && { queue_group: e.queue_group }),
    num_requests: requests,
    num_errors: s?.errors ?? 0,
    processing_time: processing,
    average_processing_time: requests > 0 ? Math.round(processing / requests) : 0,
    ...(lastError !== undefined && { last_error: lastError }),
  };
}

/**
 * Registers this replica as a micro service named `<prefix>_scheduler`. Call it once the
 * scheduler is ready (it announces a service that answers commands) and stop it first on shutdown.
 */
export async function startDiscovery(nc: NatsConnection, opts: DiscoveryOptions): Promise<Discovery> {
  const name = serviceName(opts.prefix);
  const endpoints = commandEndpoints(opts.prefix);
  const metadata: Record<string, string> = {
    ...opts.metadata,
    prefix: opts.prefix,
    ...(opts.replicaId !== undefined && { replicaId: opts.replicaId }),
  };
  // Watched from before the first subscription: a refused `$SRV` subscription is reported only
  // here (the library misses it for subscriptions without a queue group and would go on silently).
  const status = nc.status();
  const stopStatus = (): void => (status as Partial<{ stop(): void }>).stop?.();
  let service: Service;
  try {
    service = await new Svcm(nc).add({
      name,
      version: opts.version,
      description: `Scheduler of deployment "${opts.prefix}": job commands on ${opts.prefix}.<orchestratorId>.schedule.<op> (request/reply, JSON)`,
      metadata,
    });
  } catch (err) {
    stopStatus();
    throw err;
  }
  void (async () => {
    for await (const s of status) {
      const e = s.type === 'error' ? s.error : null;
      if (e instanceof errors.PermissionViolationError && e.operation === 'subscription' && e.subject.startsWith('$SRV.')) {
        void service.stop(new Error(`service discovery stopped: ${e.message}`, { cause: e }));
        return;
      }
    }
  })().catch(() => undefined);
  void service.stopped.finally(stopStatus);
  const baseInfo = service.info.bind(service);
  const baseStats = service.stats.bind(service);
  const source = opts.commandStats;
  Object.assign(service, {
    info: (): ServiceInfo => {
      const base = baseInfo();
      const owned = opts.ownership?.();
      return { ...base, endpoints, ...(owned && { metadata: { ...base.metadata, orchestrators: [...owned].sort().join(',') } }) };
    },
    // Never rejects: the library does not catch a failed stats() and the request would hang.
    stats: async (): Promise<ServiceStats> => {
      const base = await baseStats();
      let counts: Partial<Record<Operation, CommandEndpointStats>> = {};
      let lastError: string | undefined;
      try {
        counts = (await source?.()) ?? {};
      } catch (err) {
        lastError = `stats unavailable: ${err instanceof Error ? err.message : String(err)}`;
      }
      return { ...base, endpoints: endpoints.map((e) => endpointStats(e, counts[e.name as Operation], lastError)) };
    },
  });
  return {
    id: service.info().id,
    name,
    stopped: service.stopped,
    stop: async () => {
      await service.stop();
    },
  };
}
