import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Names } from './subjects.js';

/** Every stream the scheduler keeps: the three KV buckets' streams and the two of SPEC §3. */
export const streamNames = (n: Names): string[] => [`KV_${n.jobsBucket}`, `KV_${n.leasesBucket}`, `KV_${n.orchestratorsBucket}`, n.executionsStream, n.eventsStream];

/**
 * The replica count of SPEC §12: `SCHED_STREAM_REPLICAS` when set, else 3 when the server is part
 * of a JetStream cluster of 3 or more servers, else 1. The cluster's size is read from what the
 * server tells every client (its `connect_urls`: the client addresses of the servers in the
 * cluster that are up) and from the peers of streams that exist already (which count servers that
 * are down now), so a scheduler started while one node is away still picks 3.
 */
export async function resolveReplicas(nc: NatsConnection, jsm: JetStreamManager, n: Names, configured: number | undefined): Promise<{ replicas: number; clusterSize: number }> {
  const info = nc.info;
  let clusterSize = 1;
  if (info?.cluster !== undefined) {
    clusterSize = Math.max(1, new Set(info.connect_urls ?? []).size);
    for (const name of streamNames(n)) {
      const si = await jsm.streams.info(name).catch(() => null);
      if (si?.cluster) clusterSize = Math.max(clusterSize, 1 + (si.cluster.replicas?.length ?? 0));
    }
  }
  return { replicas: configured ?? (clusterSize >= 3 ? 3 : 1), clusterSize };
}

/**
 * Brings every existing stream of the scheduler up to `replicas` (never down: fewer replicas than
 * stored is a decision for an operator) and logs each change. Streams are created by their owners
 * with the count already; this covers those created before, or by an older version.
 */
export async function ensureReplicas(jsm: JetStreamManager, n: Names, replicas: number, log: Logger): Promise<void> {
  for (const name of streamNames(n)) {
    const si = await jsm.streams.info(name).catch(() => null);
    if (!si) continue;
    const had = si.config.num_replicas ?? 1;
    if (had >= replicas) {
      if (had > replicas) log.info({ stream: name, replicas: had, wanted: replicas }, 'stream has more replicas than SCHED_STREAM_REPLICAS; left as it is');
      continue;
    }
    await jsm.streams.update(name, { ...si.config, num_replicas: replicas });
    log.info({ stream: name, from: had, to: replicas }, 'stream replicas raised');
  }
}
