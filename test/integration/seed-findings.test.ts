import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrail } from '../helpers/accounting.js';
import { TestBed, sleep, uniquePrefix, until, type Orchestrator } from '../helpers/harness.js';

/**
 * Regression tests for the findings of ../shared/seed/scheduler-core-review.md. Each fails on the
 * broken behaviour the review describes.
 */
describe('seed findings', () => {
  let bed: TestBed;
  let acme: Orchestrator;
  let globex: Orchestrator;
  const P = uniquePrefix();

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' });
    acme = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
    globex = (await bed.orchestrator(P, 'globex')).serveDispatches().watchEvents();
  });
  afterAll(async () => bed?.dispose());

  it('seed finding 1: a recurring job with allowOverlap=false keeps firing once its executions complete, and true overlaps are blocked', async () => {
    let hold = true;
    const job = 'recurring';
    const r = await acme.cmd('create', {
      jobId: job,
      schedule: { kind: 'interval', every: 300 },
      target: { type: 'command', command: 'tick' },
      allowOverlap: false,
    });
    expect(r.ok).toBe(true);
    // Phase 1: the first execution is never completed: later slots are skipped (true overlap).
    await until(() => acme.dispatchesOf(job).length >= 1, 5_000, 'first dispatch');
    await acme.waitEvent('trigger.skipped', (e) => e.jobId === job && e.data.reason === 'overlap', 5_000);
    expect(acme.dispatchesOf(job)).toHaveLength(1);
    // Phase 2: complete every execution as it arrives: the job goes on firing.
    hold = false;
    const completed = new Set<string>();
    const pump = setInterval(() => {
      if (hold) return;
      for (const d of acme.dispatchesOf(job)) {
        if (completed.has(d.executionId)) continue;
        completed.add(d.executionId);
        void acme.complete(d.executionId, job, 'succeeded').catch(() => undefined);
      }
    }, 20);
    try {
      await until(() => acme.dispatchesOf(job).length >= 5, 10_000, 'five dispatches');
    } finally {
      clearInterval(pump);
    }
    const ids = acme.dispatchesOf(job).map((d) => d.executionId);
    expect(new Set(ids).size).toBe(ids.length);
    await acme.cmd('delete', { jobId: job });
  });

  it('seed finding 3: workflow_start.inputs reach the dispatch unchanged (and run_now inputs replace them)', async () => {
    const inputs = { region: 'eu', nested: { list: [1, 'two', null, { deep: true }], unicode: 'ünïcødé ✓', n: 1.5e-7 }, empty: {} };
    const job = 'with-inputs';
    const r = await acme.cmd('create', {
      jobId: job,
      schedule: { kind: 'once', at: new Date(Date.now() + 200).toISOString() },
      target: { type: 'workflow_start', workflowId: 'wf-report', inputs },
    });
    expect(r.ok).toBe(true);
    const d = await until(() => acme.dispatchesOf(job)[0], 5_000, 'dispatch');
    expect(d.subject).toBe(`${P}.acme.dispatch.workflow_start`);
    expect(d.action).toEqual({ type: 'workflow_start', workflowId: 'wf-report', inputs });
    expect(d).toMatchObject({ orchestratorId: 'acme', jobId: job, trigger: 'schedule', attempt: 1 });
    await acme.complete(d.executionId, job);
    const now = await acme.cmd('run_now', { jobId: job, inputs: { override: [true] } });
    expect(now.ok).toBe(true);
    const d2 = await until(() => acme.dispatchesOf(job).find((x) => x.executionId === now.executionId), 5_000, 'run_now dispatch');
    expect(d2.action).toEqual({ type: 'workflow_start', workflowId: 'wf-report', inputs: { override: [true] } });
    expect(d2.trigger).toBe('run_now');
  });

  it('seed finding 4: commands and completions in one orchestrator never reach a job of another', async () => {
    const job = 'secret';
    await globex.cmd('create', { jobId: job, schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x' } });
    const before = (await globex.cmd('show', { jobId: job })).job;
    for (const [op, body] of [
      ['show', { jobId: job }],
      ['update', { jobId: job, patch: { name: 'pwned' } }],
      ['pause', { jobId: job }],
      ['resume', { jobId: job }],
      ['run_now', { jobId: job, ignoreOverlap: true }],
      ['delete', { jobId: job }],
    ] as const) {
      const r = await acme.cmd(op, body);
      expect(r.error?.code, op).toBe('not_found');
    }
    expect(((await acme.cmd('list', {})).jobs as { jobId: string }[]).some((j) => j.jobId === job)).toBe(false);
    // a real execution of globex, completed under acme's subject: rejected, guard kept
    const run = await globex.cmd('run_now', { jobId: job });
    await until(() => globex.dispatchesOf(job).length === 1, 5_000, 'globex dispatch');
    await globex.waitEvent('execution.started', (e) => e.executionId === run.executionId);
    const deadline0 = ((await globex.cmd('show', { jobId: job })).job as { activeExecutions: { deadlineAt: string }[] }).activeExecutions[0]!.deadlineAt;
    await sleep(20);
    await acme.heartbeat(run.executionId as string, job);
    await acme.complete(run.executionId as string, job, 'succeeded');
    await acme.waitEvent('execution.completion_rejected', (e) => e.executionId === run.executionId);
    await sleep(200);
    const after = (await globex.cmd('show', { jobId: job })).job as Record<string, unknown>;
    expect(after).toMatchObject({ revision: (before as { revision: number }).revision, name: null, paused: false });
    expect((after.activeExecutions as { executionId: string }[]).map((a) => a.executionId)).toEqual([run.executionId]);
    expect(after.counters).toMatchObject({ succeeded: 0 });
    // the heartbeat sent under acme's subject did not touch globex's execution either
    expect((after.activeExecutions as { deadlineAt: string }[])[0]!.deadlineAt).toBe(deadline0);
  });

  it('seed finding 5: lifecycle, trigger and misfire events are published to their subjects', async () => {
    const job = 'audited';
    await acme.cmd('create', { jobId: job, schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'c' } });
    await acme.cmd('update', { jobId: job, patch: { name: 'Audited' } });
    await acme.cmd('pause', { jobId: job, reason: 'test' });
    await acme.cmd('resume', { jobId: job });
    const run = await acme.cmd('run_now', { jobId: job });
    const done = await until(() => acme.dispatchesOf(job)[0], 5_000, 'dispatch');
    await acme.complete(done.executionId, job, 'failed', { error: { message: 'boom' } });
    // a dispatch nobody answers: trigger.failed
    await acme.cmd('create', { jobId: 'orphan', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'c' }, dispatchRetry: { attempts: 1 } });
    acme.answer = (d) => (d.jobId === 'orphan' ? { accepted: false, reason: 'no capacity' } : { accepted: true });
    await acme.cmd('run_now', { jobId: 'orphan' });
    // a once job whose instant passed more than the grace ago: misfire
    await acme.cmd('create', { jobId: 'late', schedule: { kind: 'once', at: new Date(Date.now() - 120_000).toISOString() }, target: { type: 'command', command: 'c' } });
    await acme.cmd('delete', { jobId: job });

    for (const type of ['job.created', 'job.updated', 'job.paused', 'job.resumed', 'trigger.dispatched', 'execution.started', 'execution.completed', 'job.deleted']) {
      await acme.waitEvent(type, (e) => e.jobId === job, 5_000);
    }
    // every state change is in the trail: carried by the lifecycle event that caused it (SPEC §7)
    expect(acme.eventsOf('job.paused', job)[0]!.data.transition).toMatchObject({ from: 'idle', to: 'paused', event: 'PAUSE' });
    expect(acme.eventsOf('job.resumed', job)[0]!.data.transition).toMatchObject({ from: 'paused', to: 'idle', event: 'RESUME' });
    expect(acme.eventsOf('execution.completed', job)[0]!.data.transition).toMatchObject({ to: 'idle', event: 'COMPLETED' });
    expect(acme.eventsOf('execution.completed', job)[0]).toMatchObject({ executionId: run.executionId, data: { status: 'failed', error: { message: 'boom' } } });
    const failed = await acme.waitEvent('trigger.failed', (e) => e.jobId === 'orphan');
    expect(failed.data).toMatchObject({ reason: 'rejected', detail: 'no capacity' });
    const mis = await acme.waitEvent('misfire.fired_once', (e) => e.jobId === 'late');
    expect(mis.data).toMatchObject({ missedCount: 1 });
    // ids are unique: the trail (the stream, which drops a repeat by its Nats-Msg-Id) holds each
    // once, and the live subscription may see a repeat (events are at least once: a publish
    // retried after a lost ack, an outbox replayed after a lease blip), never two events under one id
    await until(async () => (await readTrail(acme.nc, P, 'acme')).some((e) => e.type === 'misfire.fired_once'), 5_000, 'trail');
    const trailIds = (await readTrail(acme.nc, P, 'acme')).map((e) => e.id);
    expect(new Set(trailIds).size).toBe(trailIds.length);
    const byId = new Map<string, string>();
    for (const e of acme.events) {
      const seen = byId.get(e.id);
      if (seen !== undefined) expect(JSON.stringify(e), `event id ${e.id} carried by two different events`).toBe(seen);
      byId.set(e.id, JSON.stringify(e));
    }
    for (const e of acme.events) {
      expect(e).toMatchObject({ orchestratorId: 'acme' });
      expect(e.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
  });
});
