import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../../test/helpers/nats-server.js';
import { SchedulerProcess } from '../lib/scheduler.js';
import { fmtInt, fmtMs, progress, Samples } from '../lib/util.js';
import type { BenchContext, Row } from './types.js';

/**
 * Figure 8: `explain` stays cheap (SPEC §11). The audit trail holds a day of events of 100,000
 * jobs (each fired once that day: dispatched, started, completed) and, for the job explained, a
 * slot every minute of that day (its own 1,440 slots, each dispatched and completed). `explain`
 * reads only that job's subjects from the slot's instant, so its time should not depend on the
 * 300,000 events of the other jobs. The other jobs' events are published straight into the
 * stream (the scheduler reads the trail, it does not need to hold those jobs); the explained job
 * is a real job of a real scheduler process.
 */
export async function explainCost(ctx: BenchContext): Promise<Row[]> {
  const jobs = ctx.quick ? 20_000 : 100_000;
  const calls = ctx.quick ? 30 : 100;
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  const P = 'bexp';
  const o = 'acme';
  let sched: SchedulerProcess | null = null;
  try {
    sched = await SchedulerProcess.start(nc, { natsUrl: server.url, prefix: P, env: { SCHED_MIN_INTERVAL_MS: '1000' } });
    const cmd = async (op: string, body: unknown): Promise<Record<string, unknown>> =>
      (await nc.request(`${P}.${o}.schedule.${op}`, JSON.stringify(body), { timeout: 30_000 })).json<Record<string, unknown>>();
    const js = jetstream(nc);
    const day = 86_400_000;
    const t0 = Date.now() - day;
    const iso = (ms: number): string => new Date(ms).toISOString();
    const publishAll = async (items: { subject: string; body: string; id: string }[]): Promise<void> => {
      let i = 0;
      const run = async (): Promise<void> => {
        while (i < items.length) {
          const it = items[i++]!;
          await js.publish(it.subject, it.body, { msgID: it.id });
        }
      };
      await Promise.all(Array.from({ length: 512 }, run));
    };

    // the other jobs' day: each fired once (dispatched, started, completed), published first
    progress(`explain: publishing a day of events of ${fmtInt(jobs)} jobs`);
    const others: { subject: string; body: string; id: string }[] = [];
    for (let j = 0; j < jobs; j++) {
      const at = t0 + Math.floor((j / jobs) * day);
      const x = `j${j}-s${at.toString(36)}`;
      const ev = (type: string, dt: number, data: Record<string, unknown>, k: number) => {
        const e = { id: `bench-j${j}-${k}`, type, at: iso(at + dt), orchestratorId: o, jobId: `j${j}`, executionId: x, data };
        return { subject: `${P}.${o}.events.j${j}.${type}`, body: JSON.stringify(e), id: e.id };
      };
      others.push(ev('trigger.dispatched', 0, { scheduledAt: iso(at), trigger: 'schedule', attempt: 1 }, 1));
      others.push(ev('execution.started', 5, { scheduledAt: iso(at), trigger: 'schedule', attempt: 1 }, 2));
      others.push(ev('execution.completed', 50, { status: 'succeeded', scheduledAt: iso(at), trigger: 'schedule' }, 3));
    }
    const tPub = performance.now();
    await publishAll(others);
    const pubSec = (performance.now() - tPub) / 1000;

    // the explained job: a real job of the scheduler, every second, its executions accepted and completed
    nc.subscribe(`${P}.${o}.dispatch.>`, {
      callback: (_e, m) => {
        const d = m.json<{ executionId: string; jobId: string }>();
        m.respond(JSON.stringify({ accepted: true }));
        void nc.request(`${P}.${o}.execution.completed`, JSON.stringify({ executionId: d.executionId, jobId: d.jobId, status: 'succeeded' }), { timeout: 5_000 }).catch(() => undefined);
      },
    });
    const created = await cmd('create', { jobId: 'explained', schedule: { kind: 'interval', every: '1s' }, target: { type: 'command', command: 'x' } });
    if (created.ok !== true) throw new Error(`create failed: ${JSON.stringify(created)}`);
    const from = Date.now();
    const runFor = ctx.quick ? 8_000 : 20_000;
    await new Promise((r) => setTimeout(r, runFor + 1_500));
    const jsm = await jetstreamManager(nc);
    const stored = (await jsm.streams.info(`${P}_EVENTS`)).state.messages;

    // explain instants spread over the job's run: each is one of its slots, dispatched and completed
    const lat = new Samples();
    let dispatched = 0;
    for (let i = 0; i < calls; i++) {
      const at = from + 1_000 + Math.floor(((i + 0.5) / calls) * (runFor - 1_000));
      const t = performance.now();
      const r = await cmd('explain', { jobId: 'explained', at: iso(at) });
      lat.add(performance.now() - t);
      if (r.outcome === 'dispatched' && r.result !== undefined) dispatched++;
    }
    // for scale: reading the whole stream once
    const c = await js.consumers.get(`${P}_EVENTS`, {});
    const tAll = performance.now();
    let n = 0;
    const msgs = await c.consume({ max_messages: 1000 });
    for await (const m of msgs) {
      n++;
      if (m.info.pending === 0) break;
    }
    await msgs.close();
    const allMs = performance.now() - tAll;
    ctx.notes.push(
      `8. Explain: ${fmtInt(stored)} events in the trail (${fmtInt(jobs)} jobs that fired once in the last day, published in ${pubSec.toFixed(1)} s, ` +
        `and a real job firing every second for ${runFor / 1000} s); ${calls} explain calls of its slots: p50 ${fmtMs(lat.pct(50))}, p99 ${fmtMs(lat.pct(99))} ` +
        `(${dispatched} answered dispatched with a result). Reading the whole stream once takes ${fmtMs(allMs)} (${fmtInt(n)} messages): explain reads only the job's subjects.`,
    );
    return [
      {
        figure: `8. explain with ${fmtInt(jobs)} jobs and a day of events`,
        target: 'reads only the job (≪ whole trail)',
        measured: `p50 ${fmtMs(lat.pct(50))}, p99 ${fmtMs(lat.pct(99))}; reading the whole trail ${fmtMs(allMs)}`,
        status: dispatched === calls && lat.pct(99) < allMs / 5 ? 'pass' : 'MISS',
      },
    ];
  } finally {
    await sched?.stop().catch(() => undefined);
    await nc.drain().catch(() => undefined);
    await server.dispose();
  }
}
