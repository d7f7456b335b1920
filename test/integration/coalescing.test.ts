import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBed, sleep, uniquePrefix, until, type Orchestrator } from '../helpers/harness.js';
import { spawnScheduler, type SchedulerProcess } from '../helpers/scheduler-process.js';

/**
 * The one write the scheduler coalesces (README, *At least once*): an accepted dispatch is written
 * with the job's next change, or after SCHED_COALESCE_MS. A crash inside that wait must cost only
 * what the at-least-once window already allows: the dispatch sent again under the same execution
 * id. Real processes: the scheduler is SIGKILLed while the accept waits (a 10 s wait here, so the
 * kill lands inside it for sure), and a second scheduler takes the orchestrator over.
 */
describe('coalesced accept write across a SIGKILL', () => {
  let bed: TestBed;
  const running = new Set<SchedulerProcess>();
  const target = { type: 'command', command: 'work' };

  const spawn = async (P: string, env: Record<string, string> = {}): Promise<SchedulerProcess> => {
    const p = await spawnScheduler({ NATS_URL: bed.server.url, SCHED_PREFIX: P, SCHED_LEASE_TTL_MS: '2000', ...env });
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

  it('killed while "running" waits to be written: stored says dispatched, the next owner dispatches the same id again, started and completed once each, nothing stuck', async () => {
    const P = uniquePrefix();
    const first = await spawn(P, { SCHED_COALESCE_MS: '10000' });
    const o: Orchestrator = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
    const startAt = new Date(Date.now() + 1_500).toISOString();
    const created = await o.cmd('create', { jobId: 'j', schedule: { kind: 'interval', every: '1h' }, startAt, target });
    expect(created.ok, JSON.stringify(created)).toBe(true);
    const d1 = await until(() => o.dispatchesOf('j')[0], 10_000, 'the first dispatch');
    // accepted (the harness answers {accepted: true}): running in memory, not yet in the store
    await until(async () => ((await o.cmd('show', { jobId: 'j' })).job as { state: string }).state === 'running', 5_000, 'running in memory');
    const kv = await new Kvm(o.nc).open(`${P}_jobs`);
    const stored = JSON.parse((await kv.get('acme.j'))!.string()) as { active: { executionId: string; state: string }[] };
    expect(stored.active).toEqual([expect.objectContaining({ executionId: d1.executionId, state: 'dispatched' })]);
    expect(o.eventsOf('execution.started', 'j')).toEqual([]);

    await first.kill('SIGKILL');
    await spawn(P);
    const d2 = await until(() => o.dispatchesOf('j')[1], 15_000, 'the dispatch sent again by the next owner');
    expect(d2.executionId).toBe(d1.executionId); // the at-least-once window: the same id, never another
    expect(d2.scheduledAt).toBe(d1.scheduledAt);

    await o.complete(d1.executionId, 'j');
    await o.waitEvent('execution.completed', (e) => e.executionId === d1.executionId, 10_000);
    await sleep(300);
    // each once, counted by event id (a subscriber may see an event twice after a crash: the next
    // owner replays the stored outbox, and the stream itself drops the repeat by Nats-Msg-Id)
    const once = (type: string): string[] => [...new Map(o.eventsOf(type, 'j').map((e) => [e.id, e.executionId ?? ''])).values()];
    expect(once('trigger.dispatched')).toEqual([d1.executionId]);
    expect(once('execution.started')).toEqual([d1.executionId]);
    expect(once('execution.completed')).toEqual([d1.executionId]);
    const job = (await o.cmd('show', { jobId: 'j' })).job as { state: string; activeExecutions: unknown[] };
    expect(job.state).toBe('idle');
    expect(job.activeExecutions).toEqual([]);
    expect(o.dispatchesOf('j')).toHaveLength(2);
  }, 60_000);
});
