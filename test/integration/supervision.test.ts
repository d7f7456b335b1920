import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign } from 'xstate';
import { fireDue } from '../../src/machines/jobLogic.js';
import { jobMachine } from '../../src/machines/jobMachine.js';
import { TestBed, uniquePrefix, until, type Orchestrator } from '../helpers/harness.js';

describe('supervision: a failing job actor never reaches another job or the process', () => {
  let bed: TestBed;
  let o: Orchestrator;
  const P = uniquePrefix();
  let faults = 0;

  beforeAll(async () => {
    bed = await TestBed.start();
    // A machine whose `fire` throws for one job only, the first two times.
    const faulty = jobMachine.provide({
      actions: {
        fire: assign(({ context, event }) => {
          if (context.jobId === 'faulty' && faults < 2) {
            faults++;
            throw new Error('injected fault');
          }
          return fireDue(context, event.step, event.now);
        }),
      },
    });
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' }, { machine: faulty });
    o = (await bed.orchestrator(P, 'acme')).watchEvents();
    o.serveDispatches();
  });
  afterAll(async () => bed?.dispose());

  it('restarts the actor from its stored state, publishes job.faulted, and the other job keeps firing', async () => {
    const target = { type: 'command', command: 'x' };
    await o.cmd('create', { jobId: 'healthy', schedule: { kind: 'interval', every: 200 }, target, allowOverlap: true });
    await o.cmd('create', { jobId: 'faulty', schedule: { kind: 'interval', every: 200 }, target, allowOverlap: true });
    const f = await o.waitEvent('job.faulted', (e) => e.jobId === 'faulty', 5_000);
    expect(f.data).toMatchObject({ error: 'injected fault', event: 'TICK', faults: 1 });
    await until(() => o.eventsOf('job.faulted', 'faulty').length >= 2, 10_000, 'second fault');
    // the restart is retried with backoff (1 s after the first fault), never in a tight loop
    const [f1, f2] = o.eventsOf('job.faulted', 'faulty');
    expect(Date.parse(f2!.at) - Date.parse(f1!.at)).toBeGreaterThanOrEqual(1_000);
    // after the faults (and the restart backoff) it fires again, from its stored state
    await until(() => o.dispatchesOf('faulty').length >= 1, 15_000, 'faulty job firing after restart');
    expect(o.dispatchesOf('healthy').length).toBeGreaterThan(3);
    const show = await o.cmd('show', { jobId: 'faulty' });
    expect(show.ok).toBe(true);
    expect(show.job).toMatchObject({ revision: 1, paused: false });
    expect(o.eventsOf('job.faulted', 'healthy')).toHaveLength(0);
  }, 30_000);
});
