import { RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { eventWildcard, executionWildcard, type Names } from './subjects.js';

const NS_PER_MS = 1_000_000;

/**
 * Creates the streams of SPEC §3 when missing, and brings their limits up to date when present.
 * `P_EXECUTIONS` captures completions and heartbeats (so a publish as a request gets a PubAck, and
 * what is published while the scheduler is down waits for it); `P_EVENTS` keeps the audit trail.
 */
export async function ensureStreams(jsm: JetStreamManager, n: Names, eventsMaxAgeMs: number, replicas = 1): Promise<void> {
  const wanted: (Partial<StreamConfig> & { name: string })[] = [
    {
      name: n.executionsStream,
      subjects: [executionWildcard(n.prefix)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 7 * 24 * 3600 * 1000 * NS_PER_MS,
      duplicate_window: 120 * 1000 * NS_PER_MS,
      num_replicas: replicas,
    },
    {
      name: n.eventsStream,
      subjects: [eventWildcard(n.prefix)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: eventsMaxAgeMs * NS_PER_MS,
      // JetStream refuses a duplicate window longer than the retention
      duplicate_window: Math.min(120 * 1000, eventsMaxAgeMs) * NS_PER_MS,
      num_replicas: replicas,
    },
  ];
  for (const cfg of wanted) {
    const name = cfg.name;
    const existing = await jsm.streams.info(name).catch(() => null);
    if (!existing) {
      await jsm.streams.add(cfg);
    } else if (existing.config.max_age !== cfg.max_age) {
      await jsm.streams.update(name, { ...existing.config, max_age: cfg.max_age! });
    }
  }
}
