import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBed, sleep, uniquePrefix, until, type Orchestrator } from '../helpers/harness.js';

const cmdTarget = { type: 'command', command: 'run', args: ['--fast'] };

describe('dispatch, completion and overlap over NATS (SPEC §5–§6)', () => {
  let bed: TestBed;
  let o: Orchestrator;
  const P = uniquePrefix();

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' });
    o = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
  });
  afterAll(async () => bed?.dispose());

  it('no responders is retried after the backoff, then fails with reason no_responders and releases the guard', async () => {
    const lonely = (await bed.orchestrator(P, 'lonely')).watchEvents();
    const r = await lonely.cmd('create', { jobId: 'j', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget, dispatchRetry: { attempts: 3, backoffMs: 100 } });
    expect(r.ok).toBe(true);
    const run = await lonely.cmd('run_now', { jobId: 'j' });
    const failed = await lonely.waitEvent('trigger.failed', () => true, 5_000);
    expect(failed).toMatchObject({ executionId: run.executionId, data: { reason: 'no_responders', attempts: 3 } });
    expect(lonely.eventsOf('trigger.dispatched').map((e) => e.data.attempt)).toEqual([1, 2, 3]);
    const job = (await lonely.cmd('show', { jobId: 'j' })).job as Record<string, unknown>;
    expect(job).toMatchObject({ state: 'idle', activeExecutions: [], lastResult: { executionId: run.executionId, status: 'dispatch_failed' } });
    expect(job.counters).toMatchObject({ dispatched: 1, dispatchFailed: 1 });
  });

  it('no reply within dispatchTimeoutMs is retried under the same executionId, and a later accept wins', async () => {
    let calls = 0;
    o.answer = (d) => (d.jobId === 'slow' && ++calls === 1 ? null : { accepted: true });
    await o.cmd('create', { jobId: 'slow', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget, dispatchTimeoutMs: 200, dispatchRetry: { attempts: 3, backoffMs: 50 } });
    const run = await o.cmd('run_now', { jobId: 'slow' });
    await o.waitEvent('execution.started', (e) => e.executionId === run.executionId);
    const ds = o.dispatchesOf('slow');
    expect(ds.map((d) => [d.executionId, d.attempt])).toEqual([
      [run.executionId, 1],
      [run.executionId, 2],
    ]);
    expect(((await o.cmd('show', { jobId: 'slow' })).job as { state: string }).state).toBe('running');
    o.answer = () => ({ accepted: true });
  });

  it('no reply at all fails with reason timeout', async () => {
    o.answer = (d) => (d.jobId === 'mute' ? null : { accepted: true });
    await o.cmd('create', { jobId: 'mute', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget, dispatchTimeoutMs: 100, dispatchRetry: { attempts: 2, backoffMs: 10 } });
    const run = await o.cmd('run_now', { jobId: 'mute' });
    const f = await o.waitEvent('trigger.failed', (e) => e.executionId === run.executionId);
    expect(f.data).toMatchObject({ reason: 'timeout', attempts: 2 });
    o.answer = () => ({ accepted: true });
  });

  it('completion releases the guard; a duplicate or malformed completion changes nothing and is audited', async () => {
    await o.cmd('create', { jobId: 'c', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget });
    const run = await o.cmd('run_now', { jobId: 'c' });
    await o.waitEvent('execution.started', (e) => e.executionId === run.executionId);
    expect((await o.cmd('run_now', { jobId: 'c' })).error?.code).toBe('overlap');
    // the completion is captured by JetStream: its PubAck is the receipt
    const ack = await o.nc.request(`${P}.acme.execution.completed`, JSON.stringify({ executionId: run.executionId, jobId: 'c', status: 'succeeded', output: { rows: 3 } }), { timeout: 5_000 });
    expect(ack.json<{ stream: string }>().stream).toBe(`${P}_EXECUTIONS`);
    const done = await o.waitEvent('execution.completed', (e) => e.executionId === run.executionId);
    expect(done.data).toMatchObject({ status: 'succeeded', output: { rows: 3 }, trigger: 'run_now' });
    const after = (await o.cmd('show', { jobId: 'c' })).job as Record<string, unknown>;
    await o.complete(run.executionId as string, 'c', 'failed');
    await o.waitEvent('execution.completion_rejected', (e) => e.executionId === run.executionId && e.data.reason === 'duplicate');
    await o.nc.request(`${P}.acme.execution.completed`, 'garbage{', { timeout: 5_000 });
    await o.waitEvent('execution.completion_rejected', (e) => e.data.reason === 'malformed');
    await o.complete('ghost', 'c', 'succeeded');
    await o.waitEvent('execution.completion_rejected', (e) => e.executionId === 'ghost' && e.data.reason === 'unknown_execution');
    await o.complete('ghost', 'nojob', 'succeeded');
    await o.waitEvent('execution.completion_rejected', (e) => e.jobId === 'nojob' && e.data.reason === 'unknown_job');
    const final = (await o.cmd('show', { jobId: 'c' })).job as Record<string, unknown>;
    expect(final.counters).toEqual(after.counters);
    expect(final.lastResult).toEqual(after.lastResult);
    expect(final.revision).toBe(after.revision);
    // and a new run is allowed again
    expect((await o.cmd('run_now', { jobId: 'c' })).ok).toBe(true);
  });

  it('heartbeats keep an execution alive; without them it times out after maxRuntimeMs and the job fires again', async () => {
    await o.cmd('create', { jobId: 'hb', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget, maxRuntimeMs: 600 });
    const run = await o.cmd('run_now', { jobId: 'hb' });
    const id = run.executionId as string;
    await o.waitEvent('execution.started', (e) => e.executionId === id);
    for (let i = 0; i < 4; i++) {
      await sleep(300);
      await o.heartbeat(id, 'hb');
    }
    expect(o.eventsOf('execution.timed_out', 'hb')).toHaveLength(0);
    const t = await o.waitEvent('execution.timed_out', (e) => e.executionId === id, 5_000);
    expect(t.data).toMatchObject({ state: 'running' });
    const job = (await o.cmd('show', { jobId: 'hb' })).job as Record<string, unknown>;
    expect(job).toMatchObject({ state: 'idle', activeExecutions: [], lastResult: { status: 'timed_out' } });
    expect((await o.cmd('run_now', { jobId: 'hb' })).ok).toBe(true);
  });

  it('buffer_one: one slot waits and is dispatched with trigger buffered when the active one completes', async () => {
    await o.cmd('create', { jobId: 'buf', schedule: { kind: 'interval', every: 250 }, target: cmdTarget, overlapPolicy: 'buffer_one' });
    const first = await until(() => o.dispatchesOf('buf')[0], 5_000, 'first dispatch');
    await o.waitEvent('trigger.buffered', (e) => e.jobId === 'buf');
    await o.waitEvent('trigger.skipped', (e) => e.jobId === 'buf');
    expect(o.dispatchesOf('buf')).toHaveLength(1);
    await o.complete(first.executionId, 'buf');
    const second = await until(() => o.dispatchesOf('buf')[1], 5_000, 'buffered dispatch');
    expect(second.trigger).toBe('buffered');
    await o.cmd('delete', { jobId: 'buf' });
  });

  it('allow: executions overlap', async () => {
    await o.cmd('create', { jobId: 'many', schedule: { kind: 'interval', every: 150 }, target: cmdTarget, allowOverlap: true });
    await until(() => o.dispatchesOf('many').length >= 3, 5_000, 'three overlapping dispatches');
    const job = (await o.cmd('show', { jobId: 'many' })).job as { activeExecutions: unknown[] };
    expect(job.activeExecutions.length).toBeGreaterThanOrEqual(2);
    await o.cmd('delete', { jobId: 'many' });
  });

  it('a completion of a deleted job is audited and changes nothing', async () => {
    await o.cmd('create', { jobId: 'gone', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget });
    const run = await o.cmd('run_now', { jobId: 'gone' });
    await o.waitEvent('execution.started', (e) => e.executionId === run.executionId);
    await o.cmd('delete', { jobId: 'gone' });
    await o.complete(run.executionId as string, 'gone');
    await o.waitEvent('execution.completion_rejected', (e) => e.executionId === run.executionId && e.data.reason === 'unknown_job');
    expect((await o.cmd('show', { jobId: 'gone' })).error?.code).toBe('not_found');
  });
});
