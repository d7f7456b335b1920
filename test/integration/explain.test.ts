import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBed, sleep, uniquePrefix, until, type Orchestrator, type Reply, type SchedulerUnderTest } from '../helpers/harness.js';

/**
 * SPEC §11 over NATS: `explain` answers every outcome from the audit trail of a real scheduler,
 * each situation created for real (an execution left running, a pause, a downtime, maxRuns, a
 * retention that dropped the events); `preview` and `update` with `dryRun` need no job change.
 */
describe('explain, preview and dry-run update (SPEC §11)', () => {
  let bed: TestBed;
  let s: SchedulerUnderTest;
  let o: Orchestrator;
  const P = uniquePrefix();
  const target = { type: 'command', command: 'work' };
  const env = { SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100', SCHED_LEASE_TTL_MS: '2000' };
  /** Executions this orchestrator completes as soon as they are accepted. */
  const completes = new Set<string>(['d']);

  const explain = async (jobId: string, at: number | string): Promise<Reply> => {
    const r = await o.cmd('explain', { jobId, at: typeof at === 'string' ? at : new Date(at).toISOString() });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(typeof r.sentence).toBe('string');
    return r;
  };
  const firstDispatch = (jobId: string) => until(() => o.dispatchesOf(jobId)[0], 10_000, `a dispatch of ${jobId}`);

  beforeAll(async () => {
    bed = await TestBed.start();
    s = await bed.scheduler(env);
    o = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
    o.answer = () => ({ accepted: true });
    o.nc.subscribe(`${P}.acme.events.*.execution.started`, {
      callback: (_e, m) => {
        const ev = m.json<{ jobId: string; executionId: string }>();
        if (completes.has(ev.jobId)) void o.complete(ev.executionId, ev.jobId, 'succeeded');
      },
    });
  });
  afterAll(async () => bed?.dispose());

  it('dispatched (with its result), skipped, buffered, cancelled_other, paused, exhausted', async () => {
    const every = { kind: 'interval', every: 400 };
    await o.cmd('create', { jobId: 'd', schedule: { kind: 'interval', every: '1h' }, target });
    await o.cmd('create', { jobId: 's', schedule: every, target });
    await o.cmd('create', { jobId: 'b', schedule: every, target, overlapPolicy: 'buffer_one' });
    await o.cmd('create', { jobId: 'c', schedule: every, target, overlapPolicy: 'cancel_other' });
    await o.cmd('create', { jobId: 'e', schedule: every, target, maxRuns: 1 });
    await o.cmd('create', { jobId: 'p', schedule: every, target });
    await o.cmd('pause', { jobId: 'p', reason: 'maintenance' });

    // dispatched: a run_now is not a slot; the first slot of an interval job is
    await o.cmd('update', { jobId: 'd', patch: { schedule: { kind: 'interval', every: 300 } } });
    const d = await firstDispatch('d');
    await o.waitEvent('execution.completed', (e) => e.executionId === d.executionId);
    await o.cmd('pause', { jobId: 'd' });
    const rd = await explain("d", Date.parse(d.scheduledAt) + 1);
    expect(rd).toMatchObject({ outcome: 'dispatched', executionId: d.executionId, slot: { scheduledAt: d.scheduledAt }, result: { status: 'succeeded' } });
    expect((rd.eventIds as string[]).length).toBe(2);

    const skipped = await o.waitEvent('trigger.skipped', (e) => e.jobId === 's');
    const rs = await explain('s', String(skipped.data.scheduledAt));
    expect(rs).toMatchObject({ outcome: 'skipped', reason: 'overlap', eventIds: [skipped.id] });
    expect(rs.sentence).toContain(`execution ${o.dispatchesOf('s')[0]!.executionId}`);
    expect(rs.sentence).toContain('was still running');

    const buffered = await o.waitEvent('trigger.buffered', (e) => e.jobId === 'b');
    expect(await explain('b', String(buffered.data.scheduledAt))).toMatchObject({ outcome: 'buffered', eventIds: [buffered.id] });

    const cancel = await o.waitEvent('execution.cancel_requested', (e) => e.jobId === 'c');
    expect(await explain('c', String(cancel.data.forSlot))).toMatchObject({ outcome: 'cancelled_other', executionId: cancel.executionId });

    const exhausted = await o.waitEvent('job.exhausted', (e) => e.jobId === 'e');
    await sleep(500); // a slot after the last run
    expect(await explain('e', Date.now())).toMatchObject({ outcome: 'exhausted', eventIds: [exhausted.id] });

    const paused = o.eventsOf('job.paused', 'p')[0]!;
    await sleep(500);
    expect(await explain('p', Date.now())).toMatchObject({ outcome: 'paused', reason: 'maintenance', eventIds: [paused.id] });
  }, 60_000);

  it('before_start, after_end, not_yet, no_slot need no trail', async () => {
    const now = Date.now();
    await o.cmd('create', { jobId: 'later', schedule: { kind: 'interval', every: '1h' }, target, startAt: new Date(now + 3_600_000).toISOString() });
    expect(await explain('later', now)).toMatchObject({ outcome: 'before_start', slot: null, eventIds: [] });
    await o.cmd('create', { jobId: 'ends', schedule: { kind: 'interval', every: '1h' }, target, endAt: new Date(now + 60_000).toISOString() });
    expect(await explain('ends', now + 7_200_000)).toMatchObject({ outcome: 'after_end' });
    expect(await explain('ends', now + 30_000)).toMatchObject({ outcome: 'no_slot', slot: null });
    await o.cmd('create', { jobId: 'hourly', schedule: { kind: 'interval', every: '1h' }, target });
    const soon = await explain('hourly', now + 3 * 3_600_000);
    expect(soon).toMatchObject({ outcome: 'not_yet' });
    expect(Date.parse((soon.slot as { scheduledAt: string }).scheduledAt)).toBeGreaterThan(now);
    expect((await o.cmd('explain', { jobId: 'nope', at: new Date(now).toISOString() })).error?.code).toBe('not_found');
    expect((await o.cmd('explain', { jobId: 'hourly', at: 'yesterday' })).error?.code).toBe('invalid_request');
  });

  it('missed: slots that passed while the scheduler was down', async () => {
    await o.cmd('create', { jobId: 'm', schedule: { kind: 'interval', every: 300 }, target, misfirePolicy: 'skip_missed', misfireGraceMs: 100 });
    completes.add('m');
    await firstDispatch('m');
    await s.stop();
    const downAt = Date.now();
    await sleep(1500);
    s = await bed.scheduler(env);
    const misfire = await o.waitEvent('misfire.skipped', (e) => e.jobId === 'm', 15_000);
    // a slot inside the missed range (the scheduler was down from `downAt`)
    const first = Date.parse(String(misfire.data.firstMissedAt));
    expect(first).toBeGreaterThanOrEqual(downAt - 300);
    const r = await explain('m', (first + Date.parse(String(misfire.data.lastMissedAt))) / 2);
    expect(r).toMatchObject({ outcome: 'missed', reason: 'misfire.skipped', eventIds: [misfire.id] });
    expect(r.sentence).toMatch(/missed: \d+ slots had passed/);
  }, 40_000);

  it('preview lists the slots with their wall time and DST notes, validated like create', async () => {
    const r = await o.cmd('preview', { schedule: { kind: 'cron', expression: '30 2 * * *', timezone: 'Europe/Berlin' }, from: '2026-03-27T00:00:00Z', count: 4 });
    expect(r).toEqual({
      ok: true,
      runs: [
        { at: '2026-03-27T01:30:00.000Z', local: '2026-03-27T02:30:00', offset: '+01:00' },
        { at: '2026-03-28T01:30:00.000Z', local: '2026-03-28T02:30:00', offset: '+01:00' },
        { at: '2026-03-29T01:30:00.000Z', local: '2026-03-29T03:30:00', offset: '+02:00', note: 'dst_gap' },
        { at: '2026-03-30T00:30:00.000Z', local: '2026-03-30T02:30:00', offset: '+02:00' },
      ],
    });
    const bad = await o.cmd('preview', { schedule: { kind: 'cron', expression: '0 0 30 2 *' } });
    expect(bad.error).toMatchObject({ code: 'invalid_request', details: [{ path: 'schedule.expression' }] });
    const fast = await o.cmd('preview', { schedule: { kind: 'interval', every: 10 } });
    expect(fast.error?.details).toEqual([{ path: 'schedule.every', message: 'must be at least 100 ms' }]);
  });

  it('update with dryRun shows the job as it would be and the next runs before and after, and writes nothing', async () => {
    await o.cmd('create', { jobId: 'dry', schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'UTC' }, target });
    const before = (await o.cmd('show', { jobId: 'dry' })).job as { revision: number };
    const events = o.events.filter((e) => e.jobId === 'dry').length;
    const r = await o.cmd('update', { jobId: 'dry', patch: { schedule: { kind: 'cron', expression: '0 3 * * *', timezone: 'UTC' } }, dryRun: true });
    expect(r).toMatchObject({ ok: true, dryRun: true, job: { revision: before.revision + 1, schedule: { expression: '0 3 * * *' } } });
    expect((r.nextRunsBefore as string[]).every((t) => t.includes('T02:00:00.000Z'))).toBe(true);
    expect((r.nextRunsAfter as string[]).every((t) => t.includes('T03:00:00.000Z'))).toBe(true);
    expect(r.nextRunsAfter as string[]).toHaveLength(5);
    await sleep(200);
    expect(o.events.filter((e) => e.jobId === 'dry').length).toBe(events);
    expect(((await o.cmd('show', { jobId: 'dry' })).job as { revision: number }).revision).toBe(before.revision);
    const conflict = await o.cmd('update', { jobId: 'dry', patch: { name: 'x' }, expectedRevision: 99, dryRun: true });
    expect(conflict.error?.code).toBe('conflict');
  });
});

describe('explain after the audit trail dropped the events (retention)', () => {
  it('is unknown, and says why', async () => {
    const bed = await TestBed.start();
    try {
      const P = uniquePrefix();
      await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100', SCHED_EVENTS_MAX_AGE: '1s' });
      const o = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
      await o.cmd('create', { jobId: 'old', schedule: { kind: 'interval', every: 200 }, target: { type: 'command', command: 'x' } });
      const d = await until(() => o.dispatchesOf('old')[0], 10_000, 'a dispatch');
      await o.cmd('pause', { jobId: 'old' });
      await sleep(2500); // the stream drops events older than a second
      const r = await o.cmd('explain', { jobId: 'old', at: d.scheduledAt });
      expect(r).toMatchObject({ ok: true, outcome: 'unknown', eventIds: [] });
      expect(r.sentence).toContain('older than the audit trail keeps');
    } finally {
      await bed.dispose();
    }
  }, 30_000);
});
