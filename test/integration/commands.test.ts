import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR, nextWinterDay, utcDay } from '../helpers/dates.js';
import { TestBed, uniquePrefix, type Orchestrator, type SchedulerUnderTest } from '../helpers/harness.js';

const spec = (jobId: string, extra: object = {}) => ({
  jobId,
  schedule: { kind: 'interval', every: '1h' },
  target: { type: 'workflow_start', workflowId: 'wf-report', inputs: { region: 'eu' } },
  ...extra,
});

describe('commands over NATS (SPEC §4)', () => {
  let bed: TestBed;
  let sched: SchedulerUnderTest;
  let acme: Orchestrator;
  const P = uniquePrefix();
  // startAt: 01:00 Berlin (+01:00) on a winter day ahead of the clock, i.e. that day's UTC midnight
  const startDay = nextWinterDay();
  const startAt = `${utcDay(startDay)}T01:00:00+01:00`;
  // 02:00 Berlin is 01:00Z in winter; startAt bounds the first slot, on the start day itself
  const slots = Array.from({ length: 5 }, (_, k) => new Date(startDay + k * DAY + HOUR).toISOString());

  beforeAll(async () => {
    bed = await TestBed.start();
    sched = await bed.scheduler({ SCHED_PREFIX: P, SCHED_MAX_JOBS_PER_ORCHESTRATOR: '50' });
    acme = (await bed.orchestrator(P, 'acme')).watchEvents();
  });
  afterAll(async () => bed?.dispose());

  it('create returns the normalised job view and persists it in the P_jobs bucket', async () => {
    const r = await acme.cmd('create', spec('nightly', {
      name: 'Nightly report',
      labels: { team: 'billing' },
      schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
      startAt,
      misfireGraceMs: '1m',
      dispatchRetry: { attempts: 2 },
    }));
    expect(r.ok).toBe(true);
    const job = r.job as Record<string, unknown>;
    expect(job).toMatchObject({
      orchestratorId: 'acme',
      jobId: 'nightly',
      name: 'Nightly report',
      labels: { team: 'billing' },
      schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
      startAt: new Date(startDay).toISOString(),
      endAt: null,
      allowOverlap: false,
      overlapPolicy: 'skip',
      misfirePolicy: 'fire_once_on_recovery',
      misfireGraceMs: 60_000,
      maxRuntimeMs: 3_600_000,
      dispatchTimeoutMs: 5_000,
      dispatchRetry: { attempts: 2, backoffMs: 1_000 },
      paused: false,
      state: 'idle',
      revision: 1,
      activeExecutions: [],
      bufferedSlot: null,
      lastResult: null,
      counters: { dispatched: 0, succeeded: 0, failed: 0, cancelled: 0, timedOut: 0, dispatchFailed: 0, skippedOverlap: 0, missed: 0 },
    });
    expect(job.nextRunAt).toBe(slots[0]);
    const kv = await sched.nc.request(`$JS.API.DIRECT.GET.KV_${P}_jobs`, JSON.stringify({ last_by_subj: `$KV.${P}_jobs.acme.nightly` }), { timeout: 2000 }).catch(() => null);
    // the record is in the bucket (direct get may be disabled on old servers; fall back to show after restart below)
    if (kv && kv.data.length > 0 && !kv.headers?.hasError) expect(JSON.parse(kv.string()).jobId).toBe('nightly');
  });

  it('show adds the next 5 runs', async () => {
    const r = await acme.cmd('show', { jobId: 'nightly' });
    expect(r.ok).toBe(true);
    expect((r.job as { nextRuns: string[] }).nextRuns).toEqual(slots);
  });

  it('create with an existing jobId is already_exists with the micro error headers', async () => {
    const { body, headers } = await acme.cmdWithHeaders('create', spec('nightly'));
    expect(body).toMatchObject({ ok: false, error: { code: 'already_exists' } });
    expect(headers['Nats-Service-Error-Code']).toBe('409');
    expect(headers['Nats-Service-Error']).toContain('nightly');
  });

  it('generates a jobId when absent', async () => {
    const r = await acme.cmd('create', { schedule: { kind: 'interval', every: 60_000 }, target: { type: 'command', command: 'noop' } });
    expect(r.ok).toBe(true);
    expect((r.job as { jobId: string }).jobId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    await acme.cmd('delete', { jobId: (r.job as { jobId: string }).jobId });
  });

  it('refuses bad input with invalid_request and details', async () => {
    const cases: [unknown, string][] = [
      [{ ...spec('x'), bogus: 1 }, ''],
      [spec('bad.id'), 'jobId'],
      [spec('x', { schedule: { kind: 'cron', expression: '0 0 30 2 *' } }), 'schedule.expression'],
      [spec('x', { schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Mars/Olympus' } }), 'schedule.timezone'],
      [spec('x', { schedule: { kind: 'interval', every: 10 } }), 'schedule.every'],
      [spec('x', { allowOverlap: false, overlapPolicy: 'allow' }), 'allowOverlap'],
      [spec('x', { startAt: '2026-01-01T00:00:00' }), 'startAt'],
    ];
    for (const [body, path] of cases) {
      const { body: r, headers } = await acme.cmdWithHeaders('create', body);
      expect(r.ok, JSON.stringify(body)).toBe(false);
      expect(r.error!.code).toBe('invalid_request');
      expect(headers['Nats-Service-Error-Code']).toBe('400');
      const details = r.error!.details as { path: string; message: string }[];
      expect(Array.isArray(details)).toBe(true);
      expect(details.some((d) => d.path === path), JSON.stringify(details)).toBe(true);
    }
    for (const raw of ['not json', '[1,2]', '42', 'null']) {
      const { body: r } = await acme.cmdWithHeaders('create', undefined, raw);
      expect(r.error?.code).toBe('invalid_request');
    }
    const unknownOp = await acme.cmdWithHeaders('explode', {});
    expect(unknownOp.body.error?.code).toBe('invalid_request');
    const list = await acme.cmd('list', {});
    expect((list.jobs as { jobId: string }[]).map((j) => j.jobId)).toEqual(['nightly']);
  });

  it('input larger than SCHED_MAX_INPUT_BYTES is limit_exceeded', async () => {
    const r = await acme.cmd('create', spec('big', { target: { type: 'workflow_start', workflowId: 'w', inputs: { blob: 'x'.repeat(300 * 1024) } } }));
    expect(r.error?.code).toBe('limit_exceeded');
  });

  it('update: changed fields, revision, expectedRevision conflict', async () => {
    const u = await acme.cmd('update', { jobId: 'nightly', patch: { labels: { team: 'finance' }, maxRuntimeMs: '2h' }, expectedRevision: 1 });
    expect(u.ok).toBe(true);
    expect(u.job).toMatchObject({ revision: 2, labels: { team: 'finance' }, maxRuntimeMs: 7_200_000 });
    const ev = await acme.waitEvent('job.updated', (e) => e.jobId === 'nightly');
    expect(ev.data).toEqual({ changed: ['labels', 'maxRuntimeMs'], revision: 2 });
    const c = await acme.cmdWithHeaders('update', { jobId: 'nightly', patch: { name: 'x' }, expectedRevision: 1 });
    expect(c.body.error?.code).toBe('conflict');
    expect(c.headers['Nats-Service-Error-Code']).toBe('409');
    const same = await acme.cmd('update', { jobId: 'nightly', patch: { labels: { team: 'finance' } } });
    expect(same.job).toMatchObject({ revision: 2 });
    const nf = await acme.cmd('update', { jobId: 'ghost', patch: {} });
    expect(nf.error?.code).toBe('not_found');
    const bad = await acme.cmd('update', { jobId: 'nightly', patch: { jobId: 'other' } });
    expect(bad.error?.code).toBe('invalid_request');
  });

  it('pause and resume are idempotent and count revisions only when they change something', async () => {
    const p1 = await acme.cmd('pause', { jobId: 'nightly', reason: 'freeze' });
    expect(p1.job).toMatchObject({ state: 'paused', paused: true, pausedReason: 'freeze', revision: 3 });
    const p2 = await acme.cmd('pause', { jobId: 'nightly' });
    expect(p2.job).toMatchObject({ state: 'paused', revision: 3 });
    const r1 = await acme.cmd('resume', { jobId: 'nightly' });
    expect(r1.job).toMatchObject({ state: 'idle', paused: false, revision: 4 });
    const r2 = await acme.cmd('resume', { jobId: 'nightly' });
    expect(r2.job).toMatchObject({ revision: 4 });
    expect(acme.eventsOf('job.paused', 'nightly')).toHaveLength(1);
    await acme.waitEvent('job.resumed', (e) => e.jobId === 'nightly');
  });

  it('list filters by state and labels and pages with a cursor', async () => {
    for (let i = 0; i < 7; i++) {
      const r = await acme.cmd('create', spec(`page-${i}`, { labels: { kind: i % 2 ? 'odd' : 'even' }, paused: i === 6 }));
      expect(r.ok).toBe(true);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await acme.cmd('list', { limit: 3, labels: { kind: 'even' }, ...(cursor && { cursor }) });
      seen.push(...(r.jobs as { jobId: string }[]).map((j) => j.jobId));
      cursor = r.nextCursor as string | undefined;
      pages++;
    } while (cursor);
    expect(seen).toEqual(['page-0', 'page-2', 'page-4', 'page-6']);
    expect(pages).toBe(2);
    const paused = await acme.cmd('list', { state: 'paused' });
    expect((paused.jobs as { jobId: string }[]).map((j) => j.jobId)).toEqual(['page-6']);
    expect((await acme.cmd('list', { limit: 1001 })).error?.code).toBe('invalid_request');
  });

  it('quota: jobs per orchestrator is limit_exceeded', async () => {
    const other = await bed.orchestrator(P, 'quota');
    let code = '';
    for (let i = 0; i < 51 && !code; i++) {
      const r = await other.cmd('create', spec(`q${i}`));
      if (!r.ok) code = r.error!.code;
    }
    expect(code).toBe('limit_exceeded');
    expect(((await other.cmd('list', { limit: 1000 })).jobs as unknown[]).length).toBe(50);
  });

  it('delete removes the job and publishes job.deleted', async () => {
    const d = await acme.cmd('delete', { jobId: 'page-1' });
    expect(d).toEqual({ ok: true });
    await acme.waitEvent('job.deleted', (e) => e.jobId === 'page-1');
    expect((await acme.cmd('show', { jobId: 'page-1' })).error?.code).toBe('not_found');
    expect((await acme.cmd('delete', { jobId: 'page-1' })).error?.code).toBe('not_found');
    // created again: a new incarnation
    const again = await acme.cmd('create', spec('page-1'));
    expect(again.job).toMatchObject({ revision: 1 });
  });

  it('job.created carries the id as Nats-Msg-Id in the durable P_EVENTS stream', async () => {
    const created = await acme.waitEvent('job.created', (e) => e.jobId === 'nightly');
    const m = await sched.nc.request(`$JS.API.STREAM.MSG.GET.${P}_EVENTS`, JSON.stringify({ last_by_subj: `${P}.acme.events.nightly.job.created` }), { timeout: 2000 });
    const msg = m.json<{ message: { hdrs: string; data: string } }>().message;
    expect(Buffer.from(msg.hdrs, 'base64').toString()).toContain(`Nats-Msg-Id: ${created.id}`);
    expect(JSON.parse(Buffer.from(msg.data, 'base64').toString())).toMatchObject({ id: created.id, type: 'job.created', orchestratorId: 'acme', jobId: 'nightly' });
  });
});
