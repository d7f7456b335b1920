import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBed, sleep, uniquePrefix, until } from '../helpers/harness.js';

/**
 * A nats-server that stalls (SIGSTOP) for longer than the client's 5 s request timeout, then
 * resumes: the job record writes in flight time out on the scheduler's side but land on the server
 * when it resumes. Each job must notice (read the record back) and carry on from the stored
 * revision; before the fix, a job whose write timed out kept its stale revision, every later
 * compare-and-set failed, and it never fired again. The lease TTL is long enough to survive the
 * stall (a lost lease reloads the jobs from the store, which would hide the bug).
 */
describe('a stalled server: writes that time out but land do not wedge a job', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = await TestBed.start();
  });
  afterAll(async () => {
    if (bed?.server.pid) process.kill(bed.server.pid, 'SIGCONT');
    await bed?.dispose();
  });

  it('every job fires again after a 6 s stall of nats-server', async () => {
    const P = uniquePrefix();
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_LEASE_TTL_MS: '60000', SCHED_MIN_INTERVAL_MS: '100' });
    const o = (await bed.orchestrator(P, 'acme')).serveDispatches();
    o.answer = (d) => {
      void o.complete(d.executionId, d.jobId).catch(() => undefined);
      return { accepted: true };
    };
    const jobs = Array.from({ length: 10 }, (_, i) => `j${i}`);
    for (const jobId of jobs) {
      const r = await o.cmd('create', { jobId, schedule: { kind: 'interval', every: 300 }, target: { type: 'command', command: 'c' }, overlapPolicy: 'allow' });
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    await until(() => jobs.every((j) => o.dispatchesOf(j).length >= 2), 10_000, 'all jobs firing');
    const pid = bed.server.pid!;
    process.kill(pid, 'SIGSTOP');
    await sleep(6_000);
    process.kill(pid, 'SIGCONT');
    const resumedAt = Date.now();
    // every job dispatches a slot scheduled after the stall
    await until(() => jobs.every((j) => o.dispatchesOf(j).some((d) => Date.parse(d.scheduledAt) > resumedAt + 1_000)), 20_000, 'every job firing after the stall');
    for (const jobId of jobs) {
      const r = await o.cmd('show', { jobId });
      expect(r.ok).toBe(true);
    }
  }, 60_000);
});
