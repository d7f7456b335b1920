import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobMachine } from '../../src/machines/jobMachine.js';
import { TestBed, sleep, uniquePrefix, until, type Orchestrator, type SchedulerUnderTest } from '../helpers/harness.js';

/**
 * The watchdog (SPEC §11) against a real scheduler whose job machine has a bug: it never sees a
 * slot come due, so the job stalls. The watchdog must say so once per stall, in the metrics and
 * in its list, and forget it once the job fires again.
 */
describe('the watchdog finds stalled schedules', () => {
  let bed: TestBed;
  let s: SchedulerUnderTest;
  let o: Orchestrator;
  const P = uniquePrefix();
  let stalled = true;
  // the bug: while `stalled`, no slot is ever due
  const buggy = jobMachine.provide({ guards: { slotDue: ({ context, event }) => !stalled && event.now >= (context.nextRunAt ?? Infinity) } });

  beforeAll(async () => {
    bed = await TestBed.start();
    s = await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' }, { machine: buggy });
    o = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
  });
  afterAll(async () => bed?.dispose());

  it('publishes job.overdue once per stall, counts it in sched_overdue_jobs, and clears it when the job fires', async () => {
    const target = { type: 'command', command: 'x' };
    await o.cmd('create', { jobId: 'stuck', schedule: { kind: 'interval', every: 300 }, target, misfireGraceMs: 200 });
    await o.cmd('create', { jobId: 'resting', schedule: { kind: 'interval', every: 300 }, target, misfireGraceMs: 200, paused: true });
    const ev = await o.waitEvent('job.overdue', (e) => e.jobId === 'stuck', 10_000);
    expect(ev.data).toMatchObject({ replicaId: s.scheduler.replicaId });
    expect(Number(ev.data.overdueMs)).toBeGreaterThan(200);
    expect(s.scheduler.overdueJobs().map((j) => j.jobId)).toEqual(['stuck']);
    const text = await s.scheduler.metrics.registry.metrics();
    expect(text).toMatch(/sched_overdue_jobs 1\n/);
    await sleep(4_500); // two more looks: still the same stall, not reported again
    expect(o.eventsOf('job.overdue', 'stuck')).toHaveLength(1);
    expect(o.eventsOf('job.overdue', 'resting')).toHaveLength(0); // paused is not overdue

    stalled = false; // the bug is fixed: the job fires (a misfire) and is no longer overdue
    await o.cmd('run_now', { jobId: 'stuck' }); // any event wakes it
    await until(() => s.scheduler.overdueJobs().length === 0, 10_000, 'the stall cleared');
    expect(o.eventsOf('misfire.fired_once', 'stuck').length).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
