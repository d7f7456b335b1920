import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBed, sleep, uniquePrefix, until } from '../helpers/harness.js';
import { spawnScheduler, type SchedulerProcess } from '../helpers/scheduler-process.js';

/**
 * Outbox replay after a handover. A job's last events stay in its stored outbox; after a crash
 * they are published again at start-up (the stream drops repeats only within its 2-minute
 * window). After a clean stop (SIGTERM) the orchestrator is marked as handed over cleanly and the
 * next owner replays nothing. A plain NATS subscription sees every publish, repeats included.
 */
describe('clean handover: no outbox replay; crash: replay', () => {
  let bed: TestBed;
  const running = new Set<SchedulerProcess>();
  const spawn = async (P: string): Promise<SchedulerProcess> => {
    const p = await spawnScheduler({ NATS_URL: bed.server.url, SCHED_PREFIX: P, SCHED_LEASE_TTL_MS: '1500' });
    running.add(p);
    void p.exited.then(() => running.delete(p));
    return p;
  };

  beforeAll(async () => {
    bed = await TestBed.start();
  });
  afterAll(async () => {
    for (const p of running) await p.kill('SIGKILL');
    await bed?.dispose();
  });

  it('SIGTERM then restart republishes no event; SIGKILL then restart republishes the last ones', async () => {
    const P = uniquePrefix();
    const o = await bed.orchestrator(P, 'acme');
    const published: { id: string; type: string }[] = [];
    const sub = o.nc.subscribe(`${P}.acme.events.>`, {
      callback: (_e, m) => {
        const e = m.json<{ id: string; type: string }>();
        published.push({ id: e.id, type: e.type });
      },
    });
    let s = await spawn(P);
    const created = await o.cmd('create', { jobId: 'quiet', schedule: { kind: 'interval', every: 3_600_000 }, target: { type: 'command', command: 'c' } });
    expect(created.ok, JSON.stringify(created)).toBe(true);
    await until(() => published.some((e) => e.type === 'job.created'), 5_000, 'job.created');
    const createdId = published.find((e) => e.type === 'job.created')!.id;
    const count = (id: string): number => published.filter((e) => e.id === id).length;
    expect(count(createdId)).toBe(1);

    // clean stop and restart: the job is there, its job.created is not published again
    await s.kill('SIGTERM');
    s = await spawn(P);
    expect((await o.cmd('show', { jobId: 'quiet' })).ok).toBe(true);
    await sleep(500);
    expect(count(createdId)).toBe(1);

    // crash and restart: the stored outbox still holds job.created, and it is replayed
    await s.kill('SIGKILL');
    s = await spawn(P);
    await until(async () => (await o.cmd('show', { jobId: 'quiet' })).ok, 10_000, 'show after the crash');
    await until(() => count(createdId) === 2, 5_000, 'the outbox replayed after the crash');
    sub.unsubscribe();
    await s.kill('SIGTERM');
  }, 60_000);
});
