import { describe, expect, it } from 'vitest';
import { runNowExecutionId, slotExecutionId } from '../../src/contract/ids.js';
import { SchedulerError } from '../../src/contract/errors.js';
import { okOrThrow } from '../../src/actors/supervisor.js';
import { Driver, LIMITS, record, T0, types } from './machine-helpers.js';

/*
 * The job machine is the one decision-maker: a command's outcome (what its reply says) comes out
 * of the machine as an emitted `outcome` event for the step that carried the command, decided
 * with the record it changes. Nothing outside the machine predicts or infers it.
 */

const S = 1000;
const slot = (k: number): string => slotExecutionId('inc1', T0 + k * 10 * S);

describe('RUN_NOW: the outcome is the execution id, or an overlap refusal', () => {
  it('idle: dispatched, the outcome names the execution', () => {
    const d = new Driver(record());
    expect(types(d.send({ type: 'RUN_NOW', inputs: { x: 1 }, ignoreOverlap: false }))).toContain('trigger.dispatched');
    expect(d.outcome).toEqual({ ok: true, executionId: runNowExecutionId('inc1', 1) });
    expect(d.ctx.active.map((a) => a.executionId)).toEqual([runNowExecutionId('inc1', 1)]);
  });

  it('dispatched, running and paused with an active execution: refused for overlap under skip, nothing written to the record', () => {
    const d = new Driver(record({ overlapPolicy: 'skip' }));
    d.tick(T0 + 10 * S);
    const before = d.ctx;
    expect(d.send({ type: 'RUN_NOW', ignoreOverlap: false })).toEqual([]);
    expect(d.outcome).toEqual({
      ok: false,
      code: 'overlap',
      message: 'job "job1" has an active execution and its overlap policy is "skip"',
      details: { activeExecutions: [slot(1)] },
    });
    expect(d.ctx).toEqual(before);
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) });
    expect(d.state).toBe('running');
    d.send({ type: 'RUN_NOW', ignoreOverlap: false });
    expect(d.outcome).toMatchObject({ ok: false, code: 'overlap' });
    d.send({ type: 'PAUSE', reason: null });
    d.send({ type: 'RUN_NOW', ignoreOverlap: false });
    expect(d.outcome).toMatchObject({ ok: false, code: 'overlap' });
    // ignoreOverlap: dispatched anyway, the first run-now id of this incarnation
    d.send({ type: 'RUN_NOW', ignoreOverlap: true });
    expect(d.outcome).toEqual({ ok: true, executionId: runNowExecutionId('inc1', 1) });
  });

  it('each outcome belongs to its step: an event that is no command emits none', () => {
    const d = new Driver(record());
    d.send({ type: 'RUN_NOW', ignoreOverlap: false });
    expect(d.outcome).not.toBeNull();
    d.tick(T0 + S);
    expect(d.outcome).toBeNull();
    expect(d.outcomes).toHaveLength(1);
  });
});

describe('UPDATE: the revision conflict and the patch are decided in the machine', () => {
  it('a stale expectedRevision is refused with conflict: no event, no transition, not even from paused', () => {
    const d = new Driver(record());
    d.send({ type: 'PAUSE', reason: null }); // revision 2
    expect(d.send({ type: 'UPDATE', patch: { paused: false }, expectedRevision: 1, limits: LIMITS })).toEqual([]);
    expect(d.outcome).toEqual({ ok: false, code: 'conflict', message: 'revision is 2, not 1', details: { revision: 2 } });
    expect(d.state).toBe('paused');
    expect(types(d.send({ type: 'UPDATE', patch: { paused: false }, expectedRevision: 2, limits: LIMITS }))).toEqual(['job.updated', 'transition']);
    expect(d.outcome).toEqual({ ok: true });
    expect(d.state).toBe('idle');
  });

  it('an invalid patch is refused with invalid_request and pauses nothing', () => {
    const d = new Driver(record());
    expect(d.send({ type: 'UPDATE', patch: { paused: true, schedule: { kind: 'interval', every: 10 } }, limits: LIMITS })).toEqual([]);
    expect(d.outcome).toMatchObject({ ok: false, code: 'invalid_request' });
    expect(d.state).toBe('idle');
    expect(d.ctx.revision).toBe(1);
  });

  it('a patch that changes nothing is ok, with no event', () => {
    const d = new Driver(record());
    expect(d.send({ type: 'UPDATE', patch: { name: null }, expectedRevision: 1, limits: LIMITS })).toEqual([]);
    expect(d.outcome).toEqual({ ok: true });
  });
});

describe('DISPATCH_FAILED: the machine decides the retry and its due time', () => {
  it('a failed attempt that is retried emits the retry, ends nothing and stays dispatched; the last attempt fails for good', () => {
    const d = new Driver(record({ dispatchRetry: { attempts: 2, backoffMs: 700 } }));
    d.tick(T0 + 10 * S);
    const retries: unknown[] = [];
    d.actor.on('retry', (e) => void retries.push(e));
    expect(d.send({ type: 'DISPATCH_FAILED', executionId: slot(1), reason: 'no_responders' }, T0 + 11 * S)).toEqual([]);
    expect(retries).toEqual([{ type: 'retry', step: 2, executionId: slot(1), attempt: 2, at: T0 + 11 * S + 700 }]);
    expect(d.state).toBe('dispatched');
    expect(d.ctx.active).toHaveLength(1);
    expect(types(d.send({ type: 'DISPATCH_ATTEMPT', executionId: slot(1), attempt: 2 }, T0 + 11 * S + 700))).toEqual(['trigger.dispatched']);
    expect(d.dispatchesOfLastStep()).toEqual([slot(1)]);
    const ev = d.send({ type: 'DISPATCH_FAILED', executionId: slot(1), reason: 'timeout' }, T0 + 13 * S);
    expect(types(ev)).toEqual(['trigger.failed', 'transition']);
    expect(ev[0]!.data).toMatchObject({ attempts: 2, reason: 'timeout' });
    expect(retries).toHaveLength(1);
    expect(d.state).toBe('idle');
  });

  it('running (another execution accepted): a retried attempt of a dispatched one stays running', () => {
    const d = new Driver(record({ allowOverlap: true }));
    d.tick(T0 + 10 * S);
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) });
    d.tick(T0 + 20 * S);
    expect(d.state).toBe('running');
    expect(d.send({ type: 'DISPATCH_FAILED', executionId: slot(2), reason: 'timeout' })).toEqual([]);
    expect(d.ctx.active.map((a) => a.executionId)).toEqual([slot(1), slot(2)]);
  });
});

describe('the supervisor turns an outcome into the reply', () => {
  const wireOf = (f: () => unknown): unknown => {
    try {
      f();
    } catch (err) {
      return err instanceof SchedulerError ? err.toWire() : err;
    }
    return 'did not throw';
  };

  it('ok passes through; a refusal is the error with its code, message and details; no outcome is internal', () => {
    expect(okOrThrow({ ok: true, executionId: 'x' }, 'RUN_NOW')).toEqual({ ok: true, executionId: 'x' });
    expect(wireOf(() => okOrThrow({ ok: false, code: 'conflict', message: 'revision is 2, not 1', details: { revision: 2 } }, 'UPDATE'))).toEqual({
      code: 'conflict',
      message: 'revision is 2, not 1',
      details: { revision: 2 },
    });
    expect(wireOf(() => okOrThrow({ ok: false, code: 'overlap', message: 'm' }, 'RUN_NOW'))).toEqual({ code: 'overlap', message: 'm' });
    expect(wireOf(() => okOrThrow(null, 'RUN_NOW'))).toMatchObject({ code: 'internal' });
  });
});
