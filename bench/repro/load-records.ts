/**
 * `tsx bench/repro/load-records.ts [jobs] [orchestrators]`: how long reading every job record back
 * takes at start-up, one ordered consumer per orchestrator (32 at a time, as the takeover does)
 * against one consumer over the whole bucket. Values of ~1.5 KB, as the scheduler's records.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../../test/helpers/nats-server.js';
import { JobStore } from '../../src/store/jobStore.js';

const N = Number(process.argv[2] ?? 100_000);
const O = Number(process.argv[3] ?? 100);
const server = await startNatsServer();
const nc = await connect({ servers: server.url });
const js = jetstream(nc);
const kv = await new Kvm(js).create('bench_jobs', { history: 1 });
const value = JSON.stringify({ v: 1, pad: 'x'.repeat(1400), spec: { paused: false }, counters: {} });
const t0 = performance.now();
let inflight: Promise<unknown>[] = [];
for (let i = 0; i < N; i++) {
  inflight.push(js.publish(`$KV.bench_jobs.o${i % O}.j${i}`, value));
  if (inflight.length >= 2000) {
    await Promise.all(inflight);
    inflight = [];
  }
}
await Promise.all(inflight);
console.log(`wrote ${N} records in ${(performance.now() - t0).toFixed(0)} ms`);
void kv;
const store = await JobStore.open(js, 'bench_jobs');
async function perOrchestrator(): Promise<number> {
  const t = performance.now();
  let n = 0;
  const queue = Array.from({ length: O }, (_, i) => `o${i}`);
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let o = queue.shift(); o !== undefined; o = queue.shift()) for await (const b of store.loadAll(o)) n += b.length;
    }),
  );
  if (n !== N) throw new Error(`read ${n}`);
  return performance.now() - t;
}
async function whole(): Promise<number> {
  const t = performance.now();
  let n = 0;
  for await (const b of store.loadAll()) n += b.length;
  if (n !== N) throw new Error(`read ${n}`);
  return performance.now() - t;
}
for (let r = 0; r < 2; r++) {
  console.log(`per orchestrator (${O} consumers, 32 at a time): ${(await perOrchestrator()).toFixed(0)} ms`);
  console.log(`whole bucket (one consumer): ${(await whole()).toFixed(0)} ms`);
}
await nc.close();
await server.stop();
