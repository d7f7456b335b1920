import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBed, uniquePrefix, type Orchestrator } from '../helpers/harness.js';
import { spawnScheduler, type SchedulerProcess } from '../helpers/scheduler-process.js';

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

describe('fairness: one orchestrator flooding commands does not starve another', () => {
  let bed: TestBed;
  let a: Orchestrator;
  let b: Orchestrator;
  let proc: SchedulerProcess;
  const P = uniquePrefix();

  beforeAll(async () => {
    bed = await TestBed.start();
    // the scheduler runs in its own process, as in production: the flood is not generated on its event loop
    proc = await spawnScheduler({ NATS_URL: bed.server.url, SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100', SCHED_RATE_LIMIT: '200' });
    a = await bed.orchestrator(P, 'flooder');
    b = (await bed.orchestrator(P, 'quiet')).serveDispatches().watchEvents();
    b.answer = (d) => {
      setTimeout(() => void b.complete(d.executionId, d.jobId).catch(() => undefined), 1);
      return { accepted: true };
    };
  });
  afterAll(async () => {
    await proc?.kill('SIGKILL');
    await bed?.dispose();
  });

  it('the flood is refused with limit_exceeded while the other orchestrator loses nothing', async () => {
    expect((await b.cmd('create', { jobId: 'steady', schedule: { kind: 'interval', every: 200 }, target: { type: 'command', command: 'x' }, misfireGraceMs: 60_000 })).ok).toBe(true);
    const floodCodes = new Map<string, number>();
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        const wave = Array.from({ length: 300 }, (_, i) =>
          a.cmd('create', { jobId: `f${i}`, schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x' } }).then(
            (r) => {
              const code = r.ok ? 'ok' : r.error!.code;
              floodCodes.set(code, (floodCodes.get(code) ?? 0) + 1);
            },
            () => floodCodes.set('timeout', (floodCodes.get('timeout') ?? 0) + 1),
          ),
        );
        await Promise.all(wave);
      }
    })();
    const latencies: number[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 4_000) {
      const s = performance.now();
      const r = await b.cmd('show', { jobId: 'steady' });
      latencies.push(performance.now() - s);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    flooding = false;
    await flood;
    const ds = b.dispatchesOf('steady').filter((d) => d.receivedAt >= t0 && d.receivedAt <= t0 + 4_000);
    const lateness = ds.map((d) => d.receivedAt - Date.parse(d.scheduledAt));
    console.log(
      `fairness: flood ${JSON.stringify(Object.fromEntries(floodCodes))}; quiet orchestrator: ${latencies.length} commands, ` +
        `latency p50 ${pct(latencies, 50).toFixed(1)} ms p99 ${pct(latencies, 99).toFixed(1)} ms; ` +
        `${ds.length} triggers, lateness p50 ${pct(lateness, 50)} ms p99 ${pct(lateness, 99)} ms`,
    );
    expect(floodCodes.get('limit_exceeded') ?? 0).toBeGreaterThan(0);
    // nothing of the quiet orchestrator is lost: its slots are consecutive, none skipped or misfired
    const slots = b.dispatchesOf('steady').map((d) => Date.parse(d.scheduledAt));
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBe(200);
    expect(b.eventsOf('misfire.fired_once', 'steady')).toHaveLength(0);
    expect(b.eventsOf('trigger.skipped', 'steady')).toHaveLength(0);
    expect(ds.length).toBeGreaterThanOrEqual(15);
  });
});
