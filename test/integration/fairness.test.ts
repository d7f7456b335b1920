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
    expect((await b.cmd('create', { jobId: 'steady', schedule: { kind: 'interval', every: 250 }, target: { type: 'command', command: 'x' }, misfireGraceMs: 60_000, allowOverlap: true })).ok).toBe(true);
    const floodCodes = new Map<string, number>();
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        const wave = Array.from({ length: 200 }, (_, i) =>
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
    // the flooder itself gets answers it can act on: ok, already_exists or limit_exceeded
    expect([...floodCodes.keys()].filter((c) => !['ok', 'already_exists', 'limit_exceeded'].includes(c))).toEqual([]);
    // nothing of the quiet orchestrator is lost: every slot between its first and last dispatch was
    // dispatched, or (had the machine stalled) accounted for by a misfire decision; none skipped
    const slots = b.dispatchesOf('steady').map((d) => Date.parse(d.scheduledAt));
    const misfired = b.events
      .filter((e) => e.type.startsWith('misfire.') && e.jobId === 'steady')
      .map((e) => [Date.parse(e.data.firstMissedAt as string), Date.parse(e.data.lastMissedAt as string)] as const);
    for (let t = slots[0]!; t <= slots[slots.length - 1]!; t += 250) {
      expect(slots.includes(t) || misfired.some(([a, z]) => a <= t && t <= z), new Date(t).toISOString()).toBe(true);
    }
    expect(b.eventsOf('trigger.skipped', 'steady')).toHaveLength(0);
    expect(ds.length).toBeGreaterThanOrEqual(8);
  });
});
