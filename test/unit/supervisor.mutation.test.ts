/**
 * The supervisor of one orchestrator (src/actors/supervisor.ts) without a server: the command
 * paths (create, list, show, update, pause, resume, delete, run_now), completions and heartbeats,
 * over the in-memory fakes of actor-fakes.ts and a manual clock. Replies are what the job machine
 * decided (okOrThrow); the supervisor adds the checks that are its own (ids, limits, cursors).
 */
import { describe, expect, it } from 'vitest';
import { enqueueActions } from 'xstate';
import { Supervisor, looseEvent, newId, okOrThrow, parseCommand } from '../../src/actors/supervisor.js';
import { SchedulerError } from '../../src/contract/errors.js';
import type { JobRecord } from '../../src/core/record.js';
import { jobMachine } from '../../src/machines/jobMachine.js';
import { advance, bed, deferred, flush, type Bed, type InspectionEvent } from './actor-fakes.js';
import { LIMITS, record, T0 } from './machine-helpers.js';

const S = 1_000;
const iso = (ms: number): string => new Date(ms).toISOString();

function sup(b: Bed, over: Parameters<Bed['deps']>[0] = {}, maxJobs = 50): Supervisor {
  return new Supervisor('acme', b.deps(over), { ...LIMITS, maxJobsPerOrchestrator: maxJobs }, 3);
}

const body = (jobId: string | undefined, extra: Record<string, unknown> = {}) =>
  parseCommand('create', {
    ...(jobId !== undefined && { jobId }),
    schedule: { kind: 'interval', every: 10_000 },
    target: { type: 'workflow_start', workflowId: 'wf', inputs: { a: 1 } },
    ...extra,
  });

const wire = async (p: Promise<unknown> | (() => unknown)): Promise<unknown> => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof SchedulerError ? err.toWire() : err;
  }
  return 'did not throw';
};

/** Adopts a stored record (as at start-up) with the given id and labels. */
function adopt(b: Bed, s: Supervisor, jobId: string, extra: Parameters<typeof record>[0] = {}): JobRecord {
  const r = record({ jobId, ...extra });
  s.adopt({ record: r, revision: b.store.put(r) });
  return r;
}

describe('supervisor helpers', () => {
  it('newId: 16 url-safe characters (12 random bytes), different each time, across refills of its pool', () => {
    const ids = new Set(Array.from({ length: 1_000 }, () => newId()));
    expect(ids.size).toBe(1_000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('parseCommand: the parsed body, or invalid_request with the issues as details', () => {
    expect(parseCommand('show', { jobId: 'j1' })).toEqual({ jobId: 'j1' });
    const err = (() => {
      try {
        parseCommand('show', { jobId: 5 });
      } catch (e) {
        return e as SchedulerError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(SchedulerError);
    expect(err!.code).toBe('invalid_request');
    expect(err!.message).toBe('request body does not match the schema');
    expect(err!.details).toEqual([{ path: 'jobId', message: expect.any(String) }]);
  });

  it('looseEvent: a completion_rejected event of the orchestrator, with the execution when known and $invalid for no job', () => {
    const e = looseEvent('acme', 'j1', 'x1', T0 + 5, { reason: 'unknown_job' });
    expect(e).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
      type: 'execution.completion_rejected',
      at: iso(T0 + 5),
      orchestratorId: 'acme',
      jobId: 'j1',
      executionId: 'x1',
      data: { reason: 'unknown_job' },
    });
    const n = looseEvent('acme', null, null, T0, {});
    expect(n.jobId).toBe('$invalid');
    expect('executionId' in n).toBe(false);
  });

  it('okOrThrow: a refusal without details has none; no outcome names the command', async () => {
    expect(await wire(() => okOrThrow({ ok: false, code: 'overlap', message: 'm' }, 'RUN_NOW'))).toEqual({ code: 'overlap', message: 'm' });
    expect(await wire(() => okOrThrow(null, 'UPDATE'))).toEqual({ code: 'internal', message: 'UPDATE was not handled' });
    expect(okOrThrow({ ok: true }, 'UPDATE')).toEqual({ ok: true });
  });
});

describe('Supervisor: its actor tree', () => {
  it('a root actor per orchestrator, started, parent of its job actors; stop stops them all', async () => {
    const b = bed();
    const s = sup(b);
    expect(s.root.id).toBe('supervisor:acme');
    expect(s.root.getSnapshot().status).toBe('active');
    expect(s.epoch).toBe(3);
    expect(s.orchestratorId).toBe('acme');
    adopt(b, s, 'a');
    adopt(b, s, 'b');
    expect(s.size).toBe(2);
    const actors = [...s.actors()];
    expect(actors.map((a) => a.key)).toEqual(['acme.a', 'acme.b']);
    expect(actors.map((a) => a.ref._parent === s.root)).toEqual([true, true]);
    await Promise.all(actors.map((a) => a.recover({ replay: false })));
    expect(b.timers.size).toBe(2);
    s.stop();
    expect(s.size).toBe(0);
    expect(b.timers.size).toBe(0);
    expect(s.root.getSnapshot().status).toBe('stopped');
    expect(actors.map((a) => a.ref.getSnapshot().status)).toEqual(['stopped', 'stopped']);
  });

  it('the default epoch is 0', () => {
    const b = bed();
    expect(new Supervisor('acme', b.deps(), { ...LIMITS, maxJobsPerOrchestrator: 1 }).epoch).toBe(0);
  });

  it('an inspector sees the tree; one that throws hurts no job', async () => {
    const b = bed();
    const seen: InspectionEvent[] = [];
    const s = sup(b, {
      inspect: (e) => {
        seen.push(e);
        throw new Error('inspector bug');
      },
    });
    await s.create(body('j1'));
    const ids = seen.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef as { id?: string }).id);
    expect(ids).toContain('supervisor:acme');
    expect(ids).toContain('acme.j1');
    expect((await s.pause({ jobId: 'j1' })).job.paused).toBe(true);
  });
});

describe('Supervisor: create', () => {
  it('stores the new record, publishes job.created (as new, not a replay), arms its timer and replies the view', async () => {
    const b = bed();
    const s = sup(b);
    const { job } = await s.create(body('j1', { labels: { team: 'x' } }));
    expect(job).toMatchObject({ orchestratorId: 'acme', jobId: 'j1', state: 'idle', revision: 1, labels: { team: 'x' }, nextRunAt: iso(T0 + 10 * S), createdAt: iso(T0) });
    const stored = b.store.stored('acme', 'j1')!;
    expect(stored.incarnation).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(stored.outboxStep).toBe(0);
    expect(b.store.calls).toEqual([{ op: 'create', key: 'acme.j1' }]);
    expect(b.publisher.calls).toEqual([{ events: [expect.objectContaining({ type: 'job.created', jobId: 'j1' })], opts: { replay: false } }]);
    expect(s.size).toBe(1);
    await advance(b, 10 * S);
    expect(b.dispatcher.sent.map((d) => d.req.jobId)).toEqual(['j1']);
  });

  it('without a jobId it gets a new id', async () => {
    const b = bed();
    const s = sup(b);
    const { job } = await s.create(body(undefined));
    expect(job.jobId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(b.store.stored('acme', job.jobId)).not.toBeNull();
  });

  it('an existing job, or one whose create is in flight, is already_exists; the in-flight mark is gone after', async () => {
    const b = bed();
    const s = sup(b);
    await s.create(body('j1'));
    expect(await wire(s.create(body('j1')))).toEqual({ code: 'already_exists', message: 'job "j1" exists' });
    const gate = deferred();
    b.store.gates.set('create', gate.promise);
    const first = s.create(body('j2'));
    expect(await wire(s.create(body('j2')))).toEqual({ code: 'already_exists', message: 'job "j2" exists' });
    gate.resolve();
    await first;
    expect(s.size).toBe(2);
  });

  it('a key that exists in the store (another replica created it) is already_exists; other store failures unavailable, and the id can be created again', async () => {
    const b = bed();
    const s = sup(b);
    b.store.put(record({ jobId: 'j1' }));
    expect(await wire(s.create(body('j1')))).toEqual({ code: 'already_exists', message: 'job "j1" exists' });
    b.store.fail('create', new Error('kv down'));
    const err = await s.create(body('j2')).catch((e: unknown) => e as SchedulerError);
    expect(err).toMatchObject({ code: 'unavailable', message: 'storage unavailable' });
    expect((err as SchedulerError).cause).toMatchObject({ message: 'kv down' });
    expect(s.size).toBe(0);
    expect((await s.create(body('j2'))).job.jobId).toBe('j2');
  });

  it('at most maxJobsPerOrchestrator jobs, counting creates in flight', async () => {
    const b = bed();
    const s = sup(b, {}, 2);
    await s.create(body('j1'));
    const gate = deferred();
    b.store.gates.set('create', gate.promise);
    const second = s.create(body('j2'));
    expect(await wire(s.create(body('j3')))).toEqual({ code: 'limit_exceeded', message: 'at most 2 jobs per orchestrator' });
    gate.resolve();
    await second;
    expect(await wire(s.create(body('j3')))).toMatchObject({ code: 'limit_exceeded' });
    await s.delete({ jobId: 'j1' });
    expect((await s.create(body('j3'))).job.jobId).toBe('j3');
  });

  it('an invalid spec is refused before anything is stored', async () => {
    const b = bed();
    const s = sup(b);
    expect(await wire(s.create(body('j1', { schedule: { kind: 'interval', every: 10 } })))).toMatchObject({ code: 'invalid_request' });
    expect(b.store.calls).toEqual([]);
    expect((await s.create(body('j1'))).job.jobId).toBe('j1');
  });

  it('stored but its event not published: unavailable, and the job exists (its event is retried)', async () => {
    const b = bed();
    const s = sup(b);
    b.publisher.failures.push(new Error('js down'));
    expect(await wire(s.create(body('j1')))).toEqual({ code: 'unavailable', message: 'job stored, but its events are not yet published (retrying)' });
    expect(s.show({ jobId: 'j1' }).job.jobId).toBe('j1');
  });

  it('the view is taken at the clock of the reply', async () => {
    const b = bed(T0 + 7);
    const s = sup(b);
    const { job } = await s.create(body('j1', { paused: true }));
    // paused: nextRunAt is what a resume now would give
    expect(job.nextRunAt).toBe(iso(T0 + 7 + 10 * S));
  });
});

describe('Supervisor: list and show', () => {
  it('sorted by id, at most `limit` (100 by default) per page, with a cursor to the next page only when there is one', async () => {
    const b = bed();
    const s = sup(b, {}, 1_000);
    const ids = Array.from({ length: 101 }, (_, i) => `j${String(i).padStart(3, '0')}`);
    for (const id of [...ids].reverse()) adopt(b, s, id);
    const page1 = s.list({});
    expect(page1.jobs.map((j) => j.jobId)).toEqual(ids.slice(0, 100));
    expect(page1.nextCursor).toBe(Buffer.from('j099', 'utf8').toString('base64url'));
    const page2 = s.list({ cursor: page1.nextCursor });
    expect(page2).toEqual({ jobs: [expect.objectContaining({ jobId: 'j100' })] });
    expect('nextCursor' in page2).toBe(false);
    const small = s.list({ limit: 2 });
    expect(small.jobs.map((j) => j.jobId)).toEqual(['j000', 'j001']);
    expect(s.list({ limit: 2, cursor: small.nextCursor }).jobs.map((j) => j.jobId)).toEqual(['j002', 'j003']);
    // exactly `limit` left: no cursor
    expect('nextCursor' in s.list({ limit: 1, cursor: Buffer.from('j099').toString('base64url') })).toBe(false);
  });

  it('filters by state and by labels (all of them), the cursor counting only matching jobs', async () => {
    const b = bed();
    const s = sup(b);
    adopt(b, s, 'a', { labels: { team: 'x', env: 'prod' } });
    adopt(b, s, 'b', { labels: { team: 'x' } });
    adopt(b, s, 'c', { labels: { team: 'y', env: 'prod' } });
    adopt(b, s, 'd', { labels: { team: 'x', env: 'prod' } });
    await s.pause({ jobId: 'b' });
    const ids = (q: Parameters<Supervisor['list']>[0]) => s.list(q).jobs.map((j) => j.jobId);
    expect(ids({ state: 'paused' })).toEqual(['b']);
    expect(ids({ state: 'idle' })).toEqual(['a', 'c', 'd']);
    expect(ids({ labels: { team: 'x' } })).toEqual(['a', 'b', 'd']);
    expect(ids({ labels: { team: 'x', env: 'prod' } })).toEqual(['a', 'd']);
    expect(ids({ labels: {} })).toEqual(['a', 'b', 'c', 'd']);
    const p = s.list({ labels: { env: 'prod' }, limit: 1 });
    expect(p.jobs.map((j) => j.jobId)).toEqual(['a']);
    expect(ids({ labels: { env: 'prod' }, limit: 1, cursor: p.nextCursor })).toEqual(['c']);
    expect(s.list({ state: 'idle', limit: 3 }).nextCursor).toBeUndefined();
  });

  it('a cursor that is not one of ours is invalid_request', async () => {
    const b = bed();
    const s = sup(b);
    adopt(b, s, 'a');
    const cursor = (t: string) => Buffer.from(t, 'utf8').toString('base64url');
    const refused = { code: 'invalid_request', message: 'invalid cursor', details: [{ path: 'cursor', message: 'not a cursor from a list reply' }] };
    for (const bad of ['', 'a b', ' a', 'a ', 'x'.repeat(65), 'a/b']) expect(await wire(() => s.list({ cursor: cursor(bad) }))).toEqual(refused);
    expect(s.list({ cursor: cursor('x'.repeat(64)) }).jobs).toEqual([]);
    expect(s.list({ cursor: cursor('A-_9') }).jobs.map((j) => j.jobId)).toEqual(['a']);
  });

  it('views are taken at the clock: show with the next runs', async () => {
    const b = bed(T0 + 25 * S);
    const s = sup(b);
    adopt(b, s, 'a', { paused: true });
    const { job } = s.show({ jobId: 'a' });
    expect(job.nextRunAt).toBe(iso(T0 + 30 * S));
    expect(job.nextRuns).toEqual([30, 40, 50, 60, 70].map((k) => iso(T0 + k * S)));
    expect(s.list({}).jobs[0]!.nextRunAt).toBe(iso(T0 + 30 * S));
    expect(s.list({}).jobs[0]!.nextRuns).toBeUndefined();
  });

  it('an unknown job is not_found', async () => {
    const b = bed();
    const s = sup(b);
    expect(await wire(() => s.show({ jobId: 'nope' }))).toEqual({ code: 'not_found', message: 'job "nope" not found' });
    expect(await wire(s.update({ jobId: 'nope', patch: {} }))).toMatchObject({ code: 'not_found' });
    expect(await wire(s.pause({ jobId: 'nope' }))).toMatchObject({ code: 'not_found' });
    expect(await wire(s.resume({ jobId: 'nope' }))).toMatchObject({ code: 'not_found' });
    expect(await wire(s.delete({ jobId: 'nope' }))).toMatchObject({ code: 'not_found' });
    expect(await wire(s.runNow({ jobId: 'nope' }))).toMatchObject({ code: 'not_found' });
  });
});

describe('Supervisor: update, pause, resume', () => {
  it('update: the patched view; a stale expectedRevision is the conflict the machine decided; an invalid patch invalid_request', async () => {
    const b = bed();
    const s = sup(b);
    await s.create(body('j1'));
    b.clock.advance(3 * S);
    const { job } = await s.update({ jobId: 'j1', patch: { name: 'renamed' }, expectedRevision: 1 });
    expect(job).toMatchObject({ name: 'renamed', revision: 2, updatedAt: iso(T0 + 3 * S) });
    expect(await wire(s.update({ jobId: 'j1', patch: { name: 'again' }, expectedRevision: 1 }))).toEqual({ code: 'conflict', message: 'revision is 2, not 1', details: { revision: 2 } });
    expect(await wire(s.update({ jobId: 'j1', patch: { schedule: { kind: 'interval', every: 10 } } }))).toMatchObject({ code: 'invalid_request' });
    // inputs over the limit are refused with limit_exceeded (the limits go with the update)
    const big = 'x'.repeat(LIMITS.maxInputBytes + 1);
    expect(await wire(s.update({ jobId: 'j1', patch: { target: { type: 'workflow_start', workflowId: 'wf', inputs: big } } }))).toMatchObject({ code: 'limit_exceeded' });
    expect(b.store.stored('acme', 'j1')!.spec.name).toBe('renamed');
  });

  it('an UPDATE the machine does not answer is an internal error', async () => {
    const b = bed();
    const machine = jobMachine.provide({ actions: { update: enqueueActions(() => undefined) } });
    const s = sup(b, { machine });
    adopt(b, s, 'j1');
    expect(await wire(s.update({ jobId: 'j1', patch: { name: 'n' } }))).toEqual({ code: 'internal', message: 'UPDATE was not handled' });
  });

  it('pause with and without a reason; resume', async () => {
    const b = bed();
    const s = sup(b);
    adopt(b, s, 'j1');
    adopt(b, s, 'j2');
    b.clock.advance(S);
    expect((await s.pause({ jobId: 'j1', reason: 'maintenance' })).job).toMatchObject({ paused: true, pausedReason: 'maintenance', state: 'paused', updatedAt: iso(T0 + S) });
    expect((await s.pause({ jobId: 'j2' })).job).toMatchObject({ paused: true, pausedReason: null });
    expect(b.store.stored('acme', 'j2')!.pausedReason).toBeNull();
    b.clock.advance(S);
    const { job } = await s.resume({ jobId: 'j1' });
    expect(job).toMatchObject({ paused: false, pausedReason: null, state: 'idle', updatedAt: iso(T0 + 2 * S), nextRunAt: iso(T0 + 10 * S) });
  });
});

describe('Supervisor: delete', () => {
  it('the job is removed from the store and from the supervisor; its completions are then rejected as unknown', async () => {
    const b = bed();
    const s = sup(b);
    await s.create(body('j1'));
    expect(await s.delete({ jobId: 'j1' })).toEqual({});
    expect(s.size).toBe(0);
    expect(b.store.entries.get('acme.j1')).toMatchObject({ deleted: true });
    expect(b.publisher.types()).toEqual(['job.created', 'job.deleted']);
    expect(await wire(() => s.show({ jobId: 'j1' }))).toMatchObject({ code: 'not_found' });
  });

  it('a delete that fails leaves the job in place', async () => {
    const b = bed();
    const s = sup(b);
    await s.create(body('j1'));
    b.store.fail('remove');
    expect(await wire(s.delete({ jobId: 'j1' }))).toMatchObject({ code: 'unavailable' });
    expect(s.size).toBe(1);
  });

  it('a job adopted again under the same id while the delete was in flight is not dropped', async () => {
    const b = bed();
    const s = sup(b);
    adopt(b, s, 'j1');
    const gate = deferred();
    b.store.gates.set('remove', gate.promise);
    const deleting = s.delete({ jobId: 'j1' });
    await flush();
    const again = record({ jobId: 'j1' });
    const fresh = s.adopt({ record: again, revision: 99 });
    gate.resolve();
    await deleting;
    expect([...s.actors()]).toEqual([fresh]);
  });
});

describe('Supervisor: run_now', () => {
  it('replies the execution id the machine chose; inputs go with that execution only', async () => {
    const b = bed();
    const s = sup(b);
    await s.create(body('j1'));
    const { executionId } = await s.runNow({ jobId: 'j1', inputs: { x: 9 } });
    expect(b.dispatcher.sent.map((d) => [d.req.executionId, d.req.action])).toEqual([[executionId, { type: 'workflow_start', workflowId: 'wf', inputs: { x: 9 } }]]);
    expect(s.show({ jobId: 'j1' }).job.activeExecutions.map((a) => [a.executionId, a.trigger])).toEqual([[executionId, 'run_now']]);
  });

  it('overlap: refused unless ignoreOverlap (which is false when not given)', async () => {
    const b = bed();
    const s = sup(b);
    await s.create(body('j1', { overlapPolicy: 'skip' }));
    const first = await s.runNow({ jobId: 'j1' });
    expect(await wire(s.runNow({ jobId: 'j1' }))).toEqual({
      code: 'overlap',
      message: 'job "j1" has an active execution and its overlap policy is "skip"',
      details: { activeExecutions: [first.executionId] },
    });
    expect(await wire(s.runNow({ jobId: 'j1', ignoreOverlap: false }))).toMatchObject({ code: 'overlap' });
    const second = await s.runNow({ jobId: 'j1', ignoreOverlap: true });
    expect(second.executionId).not.toBe(first.executionId);
    expect(b.dispatcher.sent).toHaveLength(2);
  });

  it('inputs over the limit are limit_exceeded before the job is asked', async () => {
    const b = bed();
    const s = sup(b);
    adopt(b, s, 'j1');
    const big = { blob: 'x'.repeat(LIMITS.maxInputBytes) };
    expect(await wire(s.runNow({ jobId: 'j1', inputs: big }))).toMatchObject({ code: 'limit_exceeded', message: expect.stringMatching(/^inputs is \d+ bytes/), details: [{ path: 'inputs', message: `at most ${LIMITS.maxInputBytes} bytes` }] });
    expect(b.store.calls).toEqual([]);
    // an unknown job with inputs over the limit: the size is checked first
    expect(await wire(s.runNow({ jobId: 'nope', inputs: big }))).toMatchObject({ code: 'limit_exceeded' });
  });

  it('an ok outcome without an execution, or none at all, is an internal error', async () => {
    const b = bed();
    const noId = jobMachine.provide({ actions: { runNow: enqueueActions(({ event, enqueue }) => void enqueue.emit({ type: 'outcome', step: event.step, outcome: { ok: true } })) } });
    const s = sup(b, { machine: noId });
    adopt(b, s, 'j1');
    expect(await wire(s.runNow({ jobId: 'j1' }))).toEqual({ code: 'internal', message: 'run_now dispatched no execution' });
    const b2 = bed();
    const s2 = sup(b2, { machine: jobMachine.provide({ actions: { runNow: enqueueActions(() => undefined) } }) });
    adopt(b2, s2, 'j1');
    expect(await wire(s2.runNow({ jobId: 'j1' }))).toEqual({ code: 'internal', message: 'RUN_NOW was not handled' });
  });
});

describe('Supervisor: completions and heartbeats', () => {
  it('a completion of a known job is applied by it', async () => {
    const b = bed();
    const s = sup(b);
    await s.create(body('j1'));
    const { executionId } = await s.runNow({ jobId: 'j1' });
    b.clock.advance(S);
    await s.completion({ executionId, jobId: 'j1', status: 'succeeded' });
    expect(s.show({ jobId: 'j1' }).job.lastResult).toEqual({ executionId, status: 'succeeded', at: iso(T0 + S) });
  });

  it('a completion of an unknown job is audited as rejected (unknown_job)', async () => {
    const b = bed(T0 + 4);
    const s = sup(b);
    await s.completion({ executionId: 'x1', jobId: 'ghost', status: 'failed' });
    expect(b.publisher.calls).toEqual([
      {
        events: [expect.objectContaining({ type: 'execution.completion_rejected', orchestratorId: 'acme', jobId: 'ghost', executionId: 'x1', at: iso(T0 + 4), data: { reason: 'unknown_job', status: 'failed' } })],
        opts: undefined,
      },
    ]);
  });

  it('a completion of a job deleted while it waited is audited as unknown_job too', async () => {
    const b = bed(T0 + 4);
    const s = sup(b);
    adopt(b, s, 'j1');
    const gate = deferred();
    b.store.gates.set('remove', gate.promise);
    const deleting = s.delete({ jobId: 'j1' });
    const completing = s.completion({ executionId: 'x1', jobId: 'j1', status: 'succeeded' });
    gate.resolve();
    await deleting;
    await completing;
    expect(b.publisher.events.at(-1)).toMatchObject({ type: 'execution.completion_rejected', jobId: 'j1', executionId: 'x1', data: { reason: 'unknown_job', status: 'succeeded' } });
  });

  it('any other failure of a completion is the caller\'s (redelivered)', async () => {
    const b = bed();
    const s = sup(b);
    adopt(b, s, 'j1');
    b.store.fail('save');
    b.store.fail('lookup');
    expect(await wire(s.completion({ executionId: 'x1', jobId: 'j1', status: 'succeeded' }))).toMatchObject({ code: 'unavailable' });
    expect(b.publisher.events.filter((e) => e.type === 'execution.completion_rejected')).toEqual([]);
  });

  it('a heartbeat goes to its job (pushing its deadline out); one of an unknown job is dropped', async () => {
    const b = bed();
    const s = sup(b);
    await s.create(body('j1'));
    const { executionId } = await s.runNow({ jobId: 'j1' });
    b.clock.advance(2 * S);
    await s.heartbeat({ executionId, jobId: 'j1' });
    expect(s.show({ jobId: 'j1' }).job.activeExecutions[0]!.state).toBe('running');
    await s.heartbeat({ executionId, jobId: 'ghost' });
    expect(b.store.writes()).toBe(3); // create, run_now, the heartbeat (accepted)
  });
});

describe('Supervisor: backfill', () => {
  const bf = (jobId: string, from: number, to: number, extra: Record<string, unknown> = {}) =>
    parseCommand('backfill', { jobId, from: iso(from), to: iso(to), ...extra });

  it('a dry run lists the slots and changes nothing; a real one is stored, dispatched, and has an id', async () => {
    const b = bed(T0 + 100 * S);
    const s = sup(b);
    adopt(b, s, 'j1');
    const dry = await s.backfill(bf('j1', T0, T0 + 40 * S, { dryRun: true }));
    expect(dry).toEqual({ count: 4, scheduledAt: [0, 10, 20, 30].map((k) => iso(T0 + k * S)) });
    expect(b.store.writes()).toBe(0);
    const real = await s.backfill(bf('j1', T0, T0 + 40 * S));
    expect(real).toMatchObject({ count: 4, backfillId: expect.any(String) });
    expect(b.publisher.types()).toContain('backfill.started');
    expect(b.dispatcher.sent.map((d) => [d.req.trigger, d.req.scheduledAt])).toEqual([['backfill', iso(T0)]]);
  });

  it('at most SCHED_MAX_BACKFILL slots: the limit given, else 10,000', async () => {
    const b = bed(T0);
    const s = new Supervisor('acme', b.deps(), { ...LIMITS, maxJobsPerOrchestrator: 5, maxBackfill: 3 });
    adopt(b, s, 'j1');
    expect((await s.backfill(bf('j1', T0, T0 + 30 * S, { dryRun: true }))).count).toBe(3);
    expect(await wire(s.backfill(bf('j1', T0, T0 + 40 * S, { dryRun: true })))).toMatchObject({ code: 'limit_exceeded', message: 'the backfill has more than 3 slots (SCHED_MAX_BACKFILL)' });
    const d = sup(b);
    adopt(b, d, 'j2');
    expect((await d.backfill(bf('j2', T0, T0 + 10_000 * 10 * S, { dryRun: true }))).count).toBe(10_000);
    expect(await wire(d.backfill(bf('j2', T0, T0 + 10_001 * 10 * S, { dryRun: true })))).toMatchObject({ code: 'limit_exceeded', message: 'the backfill has more than 10000 slots (SCHED_MAX_BACKFILL)' });
  });

  it('an ok outcome without a backfill, or none at all, is an internal error', async () => {
    const b = bed();
    const s = sup(b, { machine: jobMachine.provide({ actions: { backfill: enqueueActions(({ event, enqueue }) => void enqueue.emit({ type: 'outcome', step: event.step, outcome: { ok: true } })) } }) });
    adopt(b, s, 'j1');
    expect(await wire(s.backfill(bf('j1', T0, T0 + 10 * S)))).toEqual({ code: 'internal', message: 'backfill decided nothing' });
    const b2 = bed();
    const s2 = sup(b2, { machine: jobMachine.provide({ actions: { backfill: enqueueActions(() => undefined) } }) });
    adopt(b2, s2, 'j1');
    expect(await wire(s2.backfill(bf('j1', T0, T0 + 10 * S)))).toEqual({ code: 'internal', message: 'BACKFILL was not handled' });
  });
});
