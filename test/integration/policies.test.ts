import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillExecutionId } from '../../src/contract/ids.js';
import { jitterOf } from '../../src/machines/jobLogic.js';
import { TestBed, sleep, uniquePrefix, until, type DispatchWire, type Orchestrator } from '../helpers/harness.js';
import { spawnScheduler, type SchedulerProcess } from '../helpers/scheduler-process.js';

/**
 * SPEC §10 over NATS between separate processes: the scheduler is a real process (killed for real
 * where the test says so), the orchestrator is this test, on a nats-server of its own.
 */
describe('scheduling policies (SPEC §10)', () => {
  let bed: TestBed;
  const running = new Set<SchedulerProcess>();
  const target = { type: 'command', command: 'work' };

  const spawn = async (P: string, env: Record<string, string> = {}): Promise<SchedulerProcess> => {
    const p = await spawnScheduler({ NATS_URL: bed.server.url, SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100', SCHED_LEASE_TTL_MS: '2000', ...env });
    running.add(p);
    void p.exited.then(() => running.delete(p));
    return p;
  };
  /** A scheduler process and an orchestrator that answers dispatches (and records cancel requests). */
  const setUp = async (env: Record<string, string> = {}): Promise<{ P: string; s: SchedulerProcess; o: Orchestrator }> => {
    const P = uniquePrefix();
    const s = await spawn(P, env);
    const o = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
    return { P, s, o };
  };
  const work = (o: Orchestrator, jobId: string): DispatchWire[] => o.dispatchesOf(jobId).filter((d) => !d.subject.endsWith('.dispatch.cancel'));
  const cancels = (o: Orchestrator, jobId: string): DispatchWire[] => o.dispatchesOf(jobId).filter((d) => d.subject.endsWith('.dispatch.cancel'));
  const show = async (o: Orchestrator, jobId: string): Promise<Record<string, unknown>> => {
    const r = await o.cmd('show', { jobId });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    return r.job as Record<string, unknown>;
  };

  beforeAll(async () => {
    bed = await TestBed.start();
  });
  afterAll(async () => {
    for (const p of running) await p.kill('SIGKILL');
    await bed?.dispose();
  });

  it('buffer_all: slots wait in order up to SCHED_MAX_BUFFERED (then buffer_full) and run one at a time', async () => {
    const { s, o } = await setUp({ SCHED_MAX_BUFFERED: '3' });
    await o.cmd('create', { jobId: 'b', schedule: { kind: 'interval', every: 200 }, target, overlapPolicy: 'buffer_all' });
    await o.waitEvent('trigger.skipped', (e) => e.data.reason === 'buffer_full', 10_000);
    // a new schedule counts from now (1 h away): no more slots come due, what waits stays as it is
    await o.cmd('update', { jobId: 'b', patch: { schedule: { kind: 'interval', every: '1h' } } });
    expect(await show(o, 'b')).toMatchObject({ bufferedSlots: 3 });
    const first = work(o, 'b')[0]!;
    const buffered = o.eventsOf('trigger.buffered', 'b').map((e) => e.data.scheduledAt);
    expect(buffered).toHaveLength(3);
    let current = first;
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      await o.complete(current.executionId, 'b');
      current = await until(() => work(o, 'b').find((d) => d.trigger === 'buffered' && !order.includes(d.executionId)), 10_000, `buffered dispatch ${i}`);
      order.push(current.executionId);
      expect(work(o, 'b').filter((d) => d.trigger === 'buffered').length).toBe(i + 1); // one at a time
    }
    expect(work(o, 'b').filter((d) => d.trigger === 'buffered').map((d) => d.scheduledAt)).toEqual(buffered);
    expect(((await show(o, 'b')).counters as Record<string, number>).skippedBufferFull).toBeGreaterThanOrEqual(1);
    await s.kill('SIGTERM');
  }, 60_000);

  it('cancel_other: the running execution gets a cancel request; the new slot waits for its end, also when it never answers', async () => {
    const { s, o } = await setUp();
    await o.cmd('create', { jobId: 'c', schedule: { kind: 'interval', every: 500 }, target, overlapPolicy: 'cancel_other' });
    const req = await until(() => cancels(o, 'c')[0], 10_000, 'a cancel request');
    const old = work(o, 'c')[0]!;
    expect(req).toMatchObject({ executionId: old.executionId, jobId: 'c', reason: 'overlap' });
    await sleep(300);
    expect(work(o, 'c')).toHaveLength(1); // the new slot waits
    await o.complete(old.executionId, 'c', 'cancelled');
    const next = await until(() => work(o, 'c')[1], 10_000, 'the waiting slot');
    expect(next.trigger).toBe('buffered');
    expect(o.eventsOf('execution.cancel_requested', 'c')[0]).toMatchObject({ executionId: old.executionId, data: { policy: 'cancel_other' } });

    // an execution that never answers: the waiting slot goes when it times out
    await o.cmd('create', { jobId: 'mute', schedule: { kind: 'interval', every: 500 }, target, overlapPolicy: 'cancel_other', maxRuntimeMs: 1500 });
    await until(() => cancels(o, 'mute')[0], 10_000, 'a cancel request');
    const stuck = work(o, 'mute')[0]!;
    await o.waitEvent('execution.timed_out', (e) => e.executionId === stuck.executionId, 10_000);
    const after = await until(() => work(o, 'mute')[1], 10_000, 'the slot after the timeout');
    expect(after.trigger).toBe('buffered');
    await s.kill('SIGTERM');
  }, 60_000);

  it('terminate_other: the old execution ends at once as terminated, the new one fires, and its late completion changes nothing', async () => {
    const { s, o } = await setUp();
    await o.cmd('create', { jobId: 't', schedule: { kind: 'interval', every: 500 }, target, overlapPolicy: 'terminate_other' });
    const second = await until(() => work(o, 't')[1], 10_000, 'the second slot');
    const old = work(o, 't')[0]!;
    expect(second.trigger).toBe('schedule');
    expect(cancels(o, 't')[0]).toMatchObject({ executionId: old.executionId, reason: 'overlap' });
    await o.waitEvent('execution.terminated', (e) => e.executionId === old.executionId);
    await o.cmd('pause', { jobId: 't' });
    await o.complete(old.executionId, 't', 'succeeded');
    await o.waitEvent('execution.completion_rejected', (e) => e.executionId === old.executionId && e.data.reason === 'terminated');
    const v = await show(o, 't');
    expect((v.counters as Record<string, number>).terminated).toBeGreaterThanOrEqual(1);
    expect((v.counters as Record<string, number>).succeeded).toBe(0);
    await s.kill('SIGTERM');
  }, 60_000);

  it('jitterMs: every dispatch fires at scheduledAt + the jitter of (incarnation, slot), the same after a SIGKILL restart', async () => {
    const bedUp = await setUp();
    const { P, o } = bedUp;
    let s = bedUp.s;
    await o.cmd('create', { jobId: 'j', schedule: { kind: 'interval', every: 1000 }, target, jitterMs: 900, overlapPolicy: 'allow' });
    await until(() => work(o, 'j').length >= 3, 15_000, 'three jittered dispatches');
    await s.kill('SIGKILL');
    const before = work(o, 'j').length;
    s = await spawn(P);
    await until(() => work(o, 'j').length >= before + 3, 20_000, 'three more after the restart');
    const inc = work(o, 'j')[0]!.executionId.replace(/-s[0-9a-z]+$/, '');
    for (const d of work(o, 'j').filter((x) => x.trigger === 'schedule')) {
      const at = Date.parse(d.scheduledAt);
      const j = jitterOf(inc, 900, at);
      expect(j).toBeGreaterThanOrEqual(0);
      expect(j).toBeLessThan(900);
      expect(d.firesAt).toBe(new Date(at + j).toISOString());
      expect(Date.parse(d.firedAt)).toBeGreaterThanOrEqual(at + j); // never early
    }
    await s.kill('SIGTERM');
  }, 60_000);

  it('maxRuns: counts through a misfire recovery after a SIGKILL; at 0 the job stays, nextRunAt null, job.exhausted once', async () => {
    const bedUp = await setUp();
    const { P, o } = bedUp;
    let s = bedUp.s;
    await o.cmd('create', { jobId: 'm', schedule: { kind: 'interval', every: 400 }, target, maxRuns: 3, overlapPolicy: 'allow', misfireGraceMs: 100 });
    await until(() => work(o, 'm').length >= 1, 10_000, 'a first run');
    await s.kill('SIGKILL');
    await sleep(2500); // the lease runs out, slots are missed
    s = await spawn(P);
    await o.waitEvent('job.exhausted', (e) => e.jobId === 'm', 20_000);
    await sleep(1000);
    const runs = work(o, 'm');
    expect(new Set(runs.map((d) => d.executionId)).size).toBe(3);
    expect(runs.map((d) => d.trigger)).toContain('misfire_recovery');
    expect(o.eventsOf('job.exhausted', 'm')).toHaveLength(1);
    expect(await show(o, 'm')).toMatchObject({ remainingRuns: 0, nextRunAt: null, maxRuns: 3 });
    await s.kill('SIGTERM');
  }, 60_000);

  it('pauseOnFailure: a failed execution pauses the job with reason failure', async () => {
    const { s, o } = await setUp();
    await o.cmd('create', { jobId: 'p', schedule: { kind: 'interval', every: '1h' }, target, pauseOnFailure: true });
    const run = await o.cmd('run_now', { jobId: 'p' });
    await o.complete(run.executionId as string, 'p', 'failed');
    const paused = await o.waitEvent('job.paused', (e) => e.jobId === 'p');
    expect(paused).toMatchObject({ executionId: run.executionId, data: { reason: 'failure' } });
    expect(await show(o, 'p')).toMatchObject({ paused: true, state: 'paused', pausedReason: 'failure' });
    await s.kill('SIGTERM');
  }, 30_000);

  it('backfill: SIGKILLed half-way and resumed, every slot runs once under its deterministic id; 10,001 slots are refused', async () => {
    const bedUp = await setUp();
    const { P, o } = bedUp;
    let s = bedUp.s;
    await o.cmd('create', { jobId: 'bf', schedule: { kind: 'cron', expression: '0 * * * *', timezone: 'UTC' }, target });
    const to = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const from = to - 20 * 3_600_000;
    const dry = await o.cmd('backfill', { jobId: 'bf', from: new Date(from).toISOString(), to: new Date(to).toISOString(), dryRun: true });
    expect(dry).toMatchObject({ ok: true, count: 20 });
    expect((dry.scheduledAt as string[])[0]).toBe(new Date(from).toISOString());
    const tooMany = await o.cmd('backfill', { jobId: 'bf', from: new Date(to - 10_001 * 3_600_000).toISOString(), to: new Date(to).toISOString() });
    expect(tooMany.error?.code).toBe('limit_exceeded');

    const r = await o.cmd('backfill', { jobId: 'bf', from: new Date(from).toISOString(), to: new Date(to).toISOString() });
    expect(r).toMatchObject({ ok: true, count: 20, backfillId: '1' });
    const done = new Set<string>();
    /** Completes backfill executions as they come, one at a time, until `n` are done. */
    const completeUntil = async (n: number): Promise<void> => {
      while (done.size < n) {
        const d = await until(() => work(o, 'bf').find((x) => !done.has(x.executionId)), 20_000, `backfill dispatch ${done.size}`);
        done.add(d.executionId);
        await o.complete(d.executionId, 'bf');
      }
    };
    await completeUntil(8);
    await s.kill('SIGKILL');
    s = await spawn(P);
    await completeUntil(20);
    await o.waitEvent('backfill.completed', (e) => e.jobId === 'bf', 20_000);
    const inc = work(o, 'bf')[0]!.executionId.replace(/-b1-[0-9a-z]+$/, '');
    const expected = Array.from({ length: 20 }, (_, k) => backfillExecutionId(inc, '1', from + k * 3_600_000));
    // in slot order, each under its id; a dispatch in flight at the kill may be sent again under the same id
    expect([...new Set(work(o, 'bf').map((d) => d.executionId))]).toEqual(expected);
    expect(work(o, 'bf').every((d) => d.trigger === 'backfill')).toBe(true);
    expect(o.eventsOf('backfill.completed', 'bf')).toHaveLength(1);
    expect(await show(o, 'bf')).toMatchObject({ backfills: [], activeExecutions: [] });
    await s.kill('SIGTERM');
  }, 90_000);
});
