import type { JetStreamManager } from '@nats-io/jetstream';

/**
 * Messages ever written to each stream of a deployment (`state.last_seq`, which keeps counting
 * when a KV bucket with history 1 drops old revisions): KV updates, events, completions.
 */
export async function streamWrites(jsm: JetStreamManager, prefix: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const si of jsm.streams.list()) {
    const name = si.config.name;
    if (name.startsWith(`${prefix}_`) || name.startsWith(`KV_${prefix}_`)) out[name] = si.state.last_seq;
  }
  return out;
}

export function diffWrites(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) d[k] = v - (before[k] ?? 0);
  return d;
}

export const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** Polls the write counters until they stop moving for `quietMs` (the scheduler is idle). */
export async function waitQuiet(jsm: JetStreamManager, prefix: string, quietMs = 1000, maxMs = 60_000): Promise<void> {
  const end = Date.now() + maxMs;
  let last = sum(await streamWrites(jsm, prefix));
  let since = Date.now();
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    const now = sum(await streamWrites(jsm, prefix));
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
  }
}
