import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../../test/helpers/nats-server.js';
import { fmtRate, progress } from '../lib/util.js';
import type { BenchContext, Row } from './types.js';

/**
 * Figure 1: the raw JetStream publish rate of this server into a file-storage stream (small
 * messages, pipelined, up to `window` acks outstanding), from one Node client. This is the
 * physical limit every scheduler write (KV update, event) shares.
 */
export async function ceiling(ctx: BenchContext): Promise<Row[]> {
  const total = ctx.quick ? 20_000 : 100_000;
  const windows = [256, 1024];
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const payload = new Uint8Array(256).fill(120); // about the size of an audit event
    let best = 0;
    const detail: string[] = [];
    for (const window of windows) {
      const name = `CEIL_${window}`;
      await jsm.streams.add({ name, subjects: [`ceil${window}.>`], storage: StorageType.File, retention: RetentionPolicy.Limits });
      // warm-up (connection, stream files)
      await Promise.all(Array.from({ length: 1000 }, (_, i) => js.publish(`ceil${window}.${i % 100}`, payload)));
      let sent = 0;
      let acked = 0;
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const pump = (): void => {
          while (sent < total && sent - acked < window) {
            const i = sent++;
            js.publish(`ceil${window}.${i % 1000}`, payload).then(
              () => {
                acked++;
                if (acked === total) resolve();
                else pump();
              },
              reject,
            );
          }
        };
        pump();
      });
      const rate = total / ((performance.now() - t0) / 1000);
      detail.push(`${fmtRate(rate)} @${window} outstanding`);
      best = Math.max(best, rate);
      await jsm.streams.delete(name);
    }
    ctx.shared.ceilingPerSec = best;
    progress(`ceiling: ${detail.join(', ')}`);
    ctx.notes.push(
      `1. Ceiling: ${total.toLocaleString('en-US')} JetStream publishes of 256 B into a file-storage stream from one connection, ` +
        `pipelined (${detail.join('; ')}); the best is the ceiling.`,
    );
    return [{ figure: '1. JetStream publish ceiling (file storage)', target: '—', measured: fmtRate(best), status: 'info' }];
  } finally {
    await nc.drain().catch(() => undefined);
    await server.dispose();
  }
}
