import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  ConflictError,
  InvalidRequestError,
  LimitExceededError,
  NotFoundError,
  OrchestratorWorker,
  OverlapError,
  SchedulerClient,
  SchedulerClientError,
  UnavailableError,
  isSchedulerClientError,
  type Dispatch,
  type SchedulerEvent,
} from '../../src/client/index.js';
import { TestBed, sleep, uniquePrefix, until } from '../helpers/harness.js';

const cmdTarget = { type: 'command', command: 'report', args: ['--fast'] } as const;

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function collect(it: AsyncIterable<SchedulerEvent>): Promise<SchedulerEvent[]> {
  const out: SchedulerEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('SchedulerClient and OrchestratorWorker against a real scheduler', () => {
  let bed: TestBed;
  let nc: NatsConnection;
  let client: SchedulerClient;
  const P = uniquePrefix();
  const workers: OrchestratorWorker[] = [];

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_MAX_JOBS_PER_ORCHESTRATOR: '8', SCHED_MIN_INTERVAL_MS: '100' });
    nc = await connect({ servers: bed.server.url });
    client = new SchedulerClient({ nc, prefix: P, orchestratorId: 'acme' });
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    await nc?.close();
    await bed?.dispose();
  });

  const worker = async <O>(opts: Omit<Parameters<typeof OrchestratorWorker.start<O>>[0], 'nc' | 'prefix'>): Promise<OrchestratorWorker<O>> => {
    const w = await OrchestratorWorker.start<O>({ nc, prefix: P, ...opts });
    workers.push(w as OrchestratorWorker);
    return w;
  };

  it('runs every command with typed bodies and replies', async () => {
    const created = await client.create({
      jobId: 'nightly',
      name: 'Nightly report',
      labels: { team: 'billing' },
      schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
      target: { type: 'workflow_start', workflowId: 'wf-report', inputs: { region: 'eu' } },
      misfireGraceMs: '1m',
    });
    expect(created).toMatchObject({ orchestratorId: 'acme', jobId: 'nightly', state: 'idle', revision: 1, misfireGraceMs: 60_000 });
    await client.create({ jobId: 'other', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget, labels: { team: 'ops' } });

    const shown = await client.show('nightly');
    expect(shown.nextRuns).toHaveLength(5);
    expect(shown.nextRuns[0]).toBe(shown.nextRunAt);

    expect((await client.list()).jobs.map((j) => j.jobId)).toEqual(['nightly', 'other']);
    expect((await client.list({ labels: { team: 'ops' } })).jobs.map((j) => j.jobId)).toEqual(['other']);
    const page = await client.list({ limit: 1 });
    expect(page.jobs.map((j) => j.jobId)).toEqual(['nightly']);
    expect(page.nextCursor).toEqual(expect.any(String));
    const all: string[] = [];
    for await (const j of client.listAll({ limit: 1 })) all.push(j.jobId);
    expect(all).toEqual(['nightly', 'other']);

    const updated = await client.update('nightly', { schedule: { kind: 'interval', every: '30m' } }, { expectedRevision: 1 });
    expect(updated).toMatchObject({ schedule: { kind: 'interval', every: 1_800_000 }, revision: 2 });
    const paused = await client.pause('nightly', { reason: 'maintenance' });
    expect(paused).toMatchObject({ state: 'paused', paused: true, pausedReason: 'maintenance', revision: 3 });
    expect(await client.resume('nightly')).toMatchObject({ state: 'idle', paused: false, revision: 4 });

    // nobody serves acme's dispatches: run_now is accepted by the scheduler, the dispatch then fails
    const run = await client.runNow('other', { inputs: { once: true } });
    expect(run.executionId).toMatch(/^[A-Za-z0-9_-]+$/);

    await client.delete('nightly');
    await client.delete('other');
    expect((await client.list()).jobs).toEqual([]);
  });

  it('turns every {ok: false} into a typed error with its code, details and context', async () => {
    const notFound = await rejection(client.show('ghost'));
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect(notFound).toBeInstanceOf(SchedulerClientError);
    expect(notFound).toMatchObject({ name: 'NotFoundError', code: 'not_found', status: 404, jobId: 'ghost', operation: 'show', orchestratorId: 'acme' });
    expect(isSchedulerClientError(notFound, 'not_found')).toBe(true);
    expect(isSchedulerClientError(notFound, 'conflict')).toBe(false);

    await client.create({ jobId: 'e', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget });
    expect(await rejection(client.create({ jobId: 'e', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget }))).toMatchObject({
      name: 'AlreadyExistsError',
      code: 'already_exists',
      status: 409,
    });
    expect(await rejection(client.create({ jobId: 'e', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget }))).toBeInstanceOf(
      AlreadyExistsError,
    );

    const conflict = await rejection(client.update('e', { name: 'x' }, { expectedRevision: 7 }));
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).revision).toBe(1);

    const invalid = await rejection(
      client.create({ jobId: 'bad', schedule: { kind: 'cron', expression: '0 0 30 2 *' }, target: cmdTarget, dispatchTimeoutMs: -1 }),
    );
    expect(invalid).toBeInstanceOf(InvalidRequestError);
    expect((invalid as InvalidRequestError).issues.length).toBeGreaterThan(0);
    expect((invalid as InvalidRequestError).issues[0]).toEqual({ path: expect.any(String), message: expect.any(String) });
    // a field the schema does not know is refused by the scheduler, even if a caller bypasses the types
    const unknownField = await rejection(client.create({ schedule: { kind: 'interval', every: '1h' }, target: cmdTarget, colour: 'red' } as never));
    expect(unknownField).toMatchObject({ code: 'invalid_request' });

    // quota of 8 jobs per orchestrator (SCHED_MAX_JOBS_PER_ORCHESTRATOR)
    const small = new SchedulerClient({ nc, prefix: P, orchestratorId: 'small' });
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) await small.create({ jobId: id, schedule: { kind: 'interval', every: '1h' }, target: cmdTarget });
    const limit = await rejection(small.create({ jobId: 'i', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget }));
    expect(limit).toBeInstanceOf(LimitExceededError);
    expect(limit).toMatchObject({ code: 'limit_exceeded', status: 429 });

    // no scheduler on this prefix: no responders is `unavailable`, with the NATS error as cause
    const nobody = new SchedulerClient({ nc, prefix: `${P}x`, orchestratorId: 'acme', timeoutMs: 1_000 });
    const unavailable = await rejection(nobody.list());
    expect(unavailable).toBeInstanceOf(UnavailableError);
    expect(unavailable).toMatchObject({ code: 'unavailable', status: 503 });
    expect((unavailable as Error).cause).toBeInstanceOf(Error);
    // nor an events stream: the first read says so
    expect(await rejection(collect(nobody.events({ follow: false })))).toBeInstanceOf(UnavailableError);

    // ids that would change subjects are refused before anything is sent
    expect(() => new SchedulerClient({ nc, prefix: P, orchestratorId: 'a.b' })).toThrow(InvalidRequestError);
    expect(() => client.events({ jobId: 'x.>' })).toThrow(InvalidRequestError);
    await client.delete('e');
  });

  it('worker: accepts, heartbeats past maxRuntimeMs, completes with output; run_now overlap is an OverlapError', async () => {
    const heartbeats: string[] = [];
    const hbSub = nc.subscribe(`${P}.acme.execution.heartbeat`, { callback: (_e, m) => void heartbeats.push(m.json<{ executionId: string }>().executionId) });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: Dispatch[] = [];
    const w = await worker({
      orchestratorId: 'acme',
      actionType: 'workflow_start',
      heartbeatMs: 100,
      handler: async (d) => {
        seen.push(d);
        await gate;
        return { rows: 42, inputs: d.action.type === 'workflow_start' ? d.action.inputs : null };
      },
    });
    const completed = new Promise<[Dispatch, string, unknown]>((resolve) => w.once('completed', (d, status, receipt) => resolve([d, status, receipt])));
    await client.create({ jobId: 'wf', schedule: { kind: 'interval', every: '1h' }, target: { type: 'workflow_start', workflowId: 'wf-1', inputs: { a: 1 } }, maxRuntimeMs: 800 });
    const { executionId } = await client.runNow('wf', { inputs: { a: 2 } });
    await until(async () => (await client.show('wf')).state === 'running', 5_000, 'running');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ executionId, jobId: 'wf', orchestratorId: 'acme', trigger: 'run_now', attempt: 1, action: { type: 'workflow_start', workflowId: 'wf-1', inputs: { a: 2 } } });

    const overlap = await rejection(client.runNow('wf'));
    expect(overlap).toBeInstanceOf(OverlapError);
    expect((overlap as OverlapError).activeExecutions).toEqual([executionId]);
    if (isSchedulerClientError(overlap, 'overlap')) expect(overlap.activeExecutions).toContain(executionId);

    // keep running for more than twice maxRuntimeMs: the heartbeats keep the execution alive
    await until(() => heartbeats.filter((h) => h === executionId).length >= 17, 5_000, 'heartbeats');
    const mid = await client.show('wf');
    expect(mid.state).toBe('running');
    expect(mid.counters.timedOut).toBe(0);
    release();
    const [d, status, receipt] = await completed;
    expect(d.executionId).toBe(executionId);
    expect(status).toBe('succeeded');
    expect(receipt).toMatchObject({ stream: `${P}_EXECUTIONS` });
    const done = await until(async () => {
      const j = await client.show('wf');
      return j.lastResult?.executionId === executionId ? j : null;
    }, 5_000, 'completion processed');
    expect(done).toMatchObject({ state: 'idle', lastResult: { status: 'succeeded' }, counters: { succeeded: 1, timedOut: 0 } });
    const events = await collect(client.events({ jobId: 'wf', follow: false }));
    expect(events.find((e) => e.type === 'execution.completed')?.data).toMatchObject({ status: 'succeeded', output: { rows: 42, inputs: { a: 2 } } });
    hbSub.unsubscribe();
    await w.stop();
  });

  it('worker: a throw completes as failed; accept and the concurrency limit refuse with a reason', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = await worker({
      orchestratorId: 'acme',
      concurrency: 1,
      accept: (d) => (d.jobId === 'refused' ? { reason: 'not on this worker' } : true),
      handler: async (d) => {
        if (d.jobId === 'boom') throw new Error('disk full');
        await gate;
        return undefined;
      },
    });
    const refused: string[] = [];
    w.on('rejected', (_d, reason) => refused.push(reason));
    for (const jobId of ['boom', 'refused', 'slow', 'busy']) {
      await client.create({ jobId, schedule: { kind: 'interval', every: '1h' }, target: cmdTarget, dispatchRetry: { attempts: 1 } });
    }

    const boom = await client.runNow('boom');
    const failed = await until(async () => {
      const j = await client.show('boom');
      return j.lastResult?.executionId === boom.executionId ? j : null;
    }, 5_000, 'boom completed');
    expect(failed).toMatchObject({ lastResult: { status: 'failed' }, counters: { failed: 1 } });
    const boomEvents = await collect(client.events({ jobId: 'boom', follow: false }));
    expect(boomEvents.find((e) => e.type === 'execution.completed')?.data).toMatchObject({ status: 'failed', error: { message: 'disk full' } });

    const r = await client.runNow('refused');
    const refusedJob = await until(async () => {
      const j = await client.show('refused');
      return j.lastResult?.executionId === r.executionId ? j : null;
    }, 5_000, 'refused');
    expect(refusedJob.lastResult?.status).toBe('dispatch_failed');
    const refusedEvents = await collect(client.events({ jobId: 'refused', follow: false }));
    expect(refusedEvents.find((e) => e.type === 'trigger.failed')?.data).toMatchObject({ reason: 'rejected', detail: 'not on this worker' });

    // one slot: `slow` holds it, `busy` is refused
    await client.runNow('slow');
    await until(() => w.active === 1, 5_000, 'slow running');
    const b = await client.runNow('busy');
    await until(async () => (await client.show('busy')).lastResult?.executionId === b.executionId, 5_000, 'busy refused');
    expect(refused).toEqual(['not on this worker', 'worker at its concurrency limit (1)']);
    release();
    await w.stop();
    expect(w.state).toBe('stopped');
    expect(w.active).toBe(0);
  });

  it('worker: a repeated dispatch of a running or finished execution is acknowledged, not run twice', async () => {
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = await worker({
      orchestratorId: 'dedupe',
      handler: async () => {
        runs++;
        await gate;
        return 'ok';
      },
    });
    const duplicates: string[] = [];
    w.on('duplicate', (_d, state) => duplicates.push(state));
    // what the scheduler sends again when a reply was lost: the same executionId, the next attempt
    const dispatch = (attempt: number): Promise<{ accepted: boolean }> =>
      nc
        .request(
          `${P}.dedupe.dispatch.command`,
          JSON.stringify({
            executionId: 'exec-1',
            orchestratorId: 'dedupe',
            jobId: 'j',
            scheduledAt: new Date().toISOString(),
            firedAt: new Date().toISOString(),
            trigger: 'schedule',
            attempt,
            action: cmdTarget,
          }),
          { timeout: 2_000 },
        )
        .then((m) => m.json<{ accepted: boolean }>());
    expect(await dispatch(1)).toEqual({ accepted: true });
    expect(await dispatch(2)).toEqual({ accepted: true });
    const completed = new Promise<void>((resolve) => w.once('completed', () => resolve()));
    release();
    await completed;
    expect(await dispatch(3)).toEqual({ accepted: true });
    expect(runs).toBe(1);
    expect(duplicates).toEqual(['running', 'done']);
    // a malformed dispatch is refused with a reason
    const bad = await nc.request(`${P}.dedupe.dispatch.command`, '{"nope":1}', { timeout: 2_000 });
    expect(bad.json()).toMatchObject({ accepted: false, reason: expect.stringContaining('malformed') });
    await w.stop();
  });

  it('worker: stop() waits for running executions and their completions, then takes no more dispatches', async () => {
    let finished = false;
    const w = await worker({
      orchestratorId: 'drain',
      handler: async () => {
        await sleep(300);
        finished = true;
        return 'done';
      },
    });
    const receipts: unknown[] = [];
    w.on('completed', (_d, _s, receipt) => receipts.push(receipt));
    const drain = new SchedulerClient({ nc, prefix: P, orchestratorId: 'drain' });
    await drain.create({ jobId: 'j', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget, dispatchRetry: { attempts: 1 } });
    await drain.runNow('j');
    await until(() => w.active === 1, 5_000, 'running');
    await w.stop();
    expect(finished).toBe(true);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ stream: `${P}_EXECUTIONS` });
    await expect(nc.request(`${P}.drain.dispatch.command`, '{}', { timeout: 1_000 })).rejects.toThrow();
  });

  it('events: replays the durable stream from `since`, per job or per orchestrator, and follows new ones', async () => {
    const ev = new SchedulerClient({ nc, prefix: P, orchestratorId: 'ev' });
    await ev.create({ jobId: 'old', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget });
    await sleep(50);
    const t0 = new Date();
    await sleep(10);
    await ev.create({ jobId: 'new', schedule: { kind: 'interval', every: '1h' }, target: cmdTarget });
    await ev.pause('new');
    await ev.resume('new');

    const sinceT0 = await collect(ev.events({ since: t0.toISOString(), follow: false }));
    expect(sinceT0.map((e) => e.type).filter((t) => t.startsWith('job.'))).toEqual(['job.created', 'job.paused', 'job.resumed']);
    expect(sinceT0.every((e) => e.jobId === 'new' && e.orchestratorId === 'ev')).toBe(true);
    for (let i = 1; i < sinceT0.length; i++) expect(sinceT0[i]!.at >= sinceT0[i - 1]!.at).toBe(true);

    const all = await collect(ev.events({ follow: false }));
    expect(all.filter((e) => e.type === 'job.created').map((e) => e.jobId)).toEqual(['old', 'new']);
    expect(all.every((e) => e.orchestratorId === 'ev')).toBe(true);
    const oldOnly = await collect(ev.events({ jobId: 'old', since: '1h', follow: false }));
    expect(oldOnly.map((e) => e.type)).toContain('job.created');
    expect(oldOnly.every((e) => e.jobId === 'old')).toBe(true);
    expect(await collect(ev.events({ jobId: 'nothing-here', follow: false }))).toEqual([]);

    // follow: what happens after the iteration started arrives too
    const stream = ev.events({ jobId: 'new', since: new Date() });
    const it = stream[Symbol.asyncIterator]();
    const next = it.next();
    await sleep(100);
    await ev.pause('new', { reason: 'followed' });
    const got = await next;
    expect(got.value).toMatchObject({ type: expect.stringMatching(/^(job\.paused|transition)$/), jobId: 'new' });
    await stream.close();
    expect((await it.next()).done).toBe(true);
  });
  it('SPEC §10: the policy fields flow through create and update; backfill (Dates or ISO strings, dry run, typed errors)', async () => {
    const HOUR = 3_600_000;
    const to = new Date(Math.floor(Date.now() / HOUR) * HOUR);
    const from = new Date(to.getTime() - 3 * HOUR);
    const slots = [0, 1, 2].map((k) => new Date(from.getTime() + k * HOUR).toISOString());
    const created = await client.create({
      jobId: 'bf',
      schedule: { kind: 'cron', expression: '0 * * * *' },
      target: cmdTarget,
      paused: true,
      jitterMs: '2m',
      maxRuns: 4,
      pauseOnFailure: true,
      overlapPolicy: 'terminate_other',
    });
    expect(created).toMatchObject({ jitterMs: 120_000, maxRuns: 4, remainingRuns: 4, pauseOnFailure: true, overlapPolicy: 'terminate_other', bufferedSlots: 0, backfills: [] });
    expect(await client.update('bf', { maxRuns: null, jitterMs: 0, overlapPolicy: 'buffer_all' })).toMatchObject({ maxRuns: null, remainingRuns: null, jitterMs: 0, overlapPolicy: 'buffer_all' });

    expect(await client.backfill('bf', { from, to, dryRun: true })).toEqual({ count: 3, scheduledAt: slots });
    const ran: string[] = [];
    for (const w of workers.splice(0)) await w.stop(); // only this one serves acme's dispatches
    await worker({ orchestratorId: 'acme', handler: async (d) => void ran.push(`${d.trigger} ${d.scheduledAt}`) });
    const r = await client.backfill('bf', { from: from.toISOString(), to: to.toISOString() });
    expect(r).toEqual({ count: 3, scheduledAt: slots, backfillId: expect.any(String) });
    const done = await until(async () => {
      const v = await client.show('bf');
      return v.counters.succeeded === 3 && v.backfills.length === 0 ? v : null;
    }, 10_000, 'the backfill to finish');
    expect(done).toMatchObject({ state: 'paused', remainingRuns: null });
    expect(ran).toEqual(slots.map((t) => `backfill ${t}`));

    expect(await rejection(client.backfill('ghost', { from, to }))).toBeInstanceOf(NotFoundError);
    expect(await rejection(client.backfill('bf', { from: to, to: from }))).toMatchObject({ code: 'invalid_request', details: [expect.objectContaining({ path: 'to' })] });
    await client.delete('bf');
  });
});
