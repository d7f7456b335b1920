import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reEscape } from '../helpers/dates.js';
import { TestBed, uniquePrefix, until, type Orchestrator } from '../helpers/harness.js';

const BIN = fileURLToPath(new URL('../../bin/schedctl', import.meta.url));
const HOUR = 3_600_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `schedctl backfill` and the SPEC §10 options of create/show, the real binary against a real
 * scheduler. The jobs are hourly cron jobs created paused (backfill works on paused jobs, and no
 * slot of their own comes in between); the backfill window is the last hours before now.
 */
describe('schedctl backfill and the policy options (the real binary against a real scheduler)', { timeout: 60_000 }, () => {
  let bed: TestBed;
  let acme: Orchestrator;
  let cwd: string;
  const P = uniquePrefix();
  const to = Math.floor(Date.now() / HOUR) * HOUR;
  const from = to - 5 * HOUR;
  const slots = Array.from({ length: 5 }, (_, k) => new Date(from + k * HOUR).toISOString());

  const schedctl = (args: string[]): Promise<Result> => {
    const child = spawn(BIN, ['-o', 'acme', ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NATS_URL: bed.server.url, SCHED_PREFIX: P },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result: Result = { code: null, stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (result.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (result.stderr += d.toString()));
    return new Promise<Result>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ ...result, code }));
    });
  };

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_MAX_BACKFILL: '100' });
    acme = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
    await acme.flush();
    cwd = await mkdtemp(join(tmpdir(), 'schedctl-backfill-'));
  });
  afterAll(async () => {
    await bed?.dispose();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('create with --jitter, --max-runs, --pause-on-failure, --overlap buffer_all; show prints them; update --max-runs none', async () => {
    const created = await schedctl([
      'create', 'hourly', '--cron', '0 * * * *', '--command', 'sync', '--paused',
      '--jitter', '1m', '--max-runs', '3', '--pause-on-failure', '--overlap', 'buffer_all', '--json',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(created.stdout)).toMatchObject({
      ok: true,
      job: { jobId: 'hourly', jitterMs: 60_000, maxRuns: 3, remainingRuns: 3, pauseOnFailure: true, overlapPolicy: 'buffer_all', paused: true },
    });
    const show = await schedctl(['show', 'hourly']);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^overlap\s+buffer_all$/m);
    expect(show.stdout).toMatch(/^jitter\s+up to 1m$/m);
    expect(show.stdout).toMatch(/^max runs\s+3 \(3 remaining\)$/m);
    expect(show.stdout).toMatch(/^pause on failure\s+yes$/m);
    expect(show.stdout).toMatch(/^buffered\s+-$/m);
    expect(show.stdout).toMatch(/^backfills\s+-$/m);
    expect(show.stdout).toMatch(/^counters\s+.*terminated 0.*$/m);

    const updated = await schedctl(['update', 'hourly', '--max-runs', 'none', '--no-pause-on-failure', '--jitter', '0', '--json']);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ job: { maxRuns: null, remainingRuns: null, pauseOnFailure: false, jitterMs: 0, revision: 2 } });
  });

  it('backfill --dry-run prints the slots, one per line, and their count; nothing is dispatched', async () => {
    const dry = await schedctl(['backfill', 'hourly', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--dry-run']);
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(dry.stdout).toBe(`${[...slots, 'would backfill 5 slots of hourly'].join('\n')}\n`);

    const dryJson = await schedctl(['backfill', 'hourly', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--dry-run', '--json']);
    expect(dryJson.code).toBe(0);
    expect(JSON.parse(dryJson.stdout)).toEqual({ ok: true, count: 5, scheduledAt: slots });

    // [from, to): a window ending on a slot leaves it out; one starting on it takes it
    const one = await schedctl(['backfill', 'hourly', '--from', slots[4]!, '--to', new Date(to).toISOString(), '--dry-run']);
    expect(one.stdout).toBe(`${slots[4]}\nwould backfill 1 slot of hourly\n`);

    const view = await acme.cmd('show', { jobId: 'hourly' });
    expect(view).toMatchObject({ ok: true, job: { backfills: [], counters: { dispatched: 0 } } });
    expect(acme.eventsOf('backfill.started', 'hourly')).toEqual([]);
  });

  it('backfill runs the slots one after another (buffer_all), prints its id and count; show tracks its progress', async () => {
    const r = await schedctl(['backfill', 'hourly', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const m = /^backfill (\S+) of hourly: 5 slots\n$/.exec(r.stdout);
    expect(m).not.toBeNull();
    const backfillId = m![1]!;

    for (let k = 0; k < slots.length; k++) {
      const d = await until(() => acme.dispatchesOf('hourly').filter((x) => x.trigger === 'backfill')[k], 10_000, `backfill dispatch ${k}`);
      expect(d.scheduledAt).toBe(slots[k]);
      // one at a time: the next one waits for this one's completion
      expect(acme.dispatchesOf('hourly').filter((x) => x.trigger === 'backfill')).toHaveLength(k + 1);
      if (k === 1) {
        const show = await schedctl(['show', 'hourly']);
        expect(show.stdout).toMatch(
          new RegExp(`^backfills\\s+${reEscape(`${backfillId} 2/5 dispatched, [${new Date(from).toISOString()}, ${new Date(to).toISOString()}) buffer_all`)}$`, 'm'),
        );
      }
      await acme.complete(d.executionId, 'hourly');
    }
    const done = await acme.waitEvent('backfill.completed', (e) => e.jobId === 'hourly');
    expect(done.data).toMatchObject({ backfillId, count: 5 });
    const ids = acme.dispatchesOf('hourly').filter((x) => x.trigger === 'backfill').map((x) => x.executionId);
    expect(new Set(ids).size).toBe(5);
    const after = await schedctl(['show', 'hourly']);
    expect(after.stdout).toMatch(/^backfills\s+-$/m);
    expect(after.stdout).toMatch(/^state\s+paused$/m);
  });

  it('backfill --overlap allow dispatches every slot without waiting', async () => {
    expect((await schedctl(['create', 'fanout', '--cron', '0 * * * *', '--command', 'sync', '--paused'])).code).toBe(0);
    const r = await schedctl(['backfill', 'fanout', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--overlap', 'allow', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, count: 5, scheduledAt: slots, backfillId: expect.any(String) });
    // none completed, yet all were sent
    const sent = await until(() => {
      const ds = acme.dispatchesOf('fanout').filter((x) => x.trigger === 'backfill');
      return ds.length === 5 ? ds : null;
    }, 10_000, 'the five dispatches');
    expect(sent.map((d) => d.scheduledAt).sort()).toEqual(slots);
  });

  it('errors: an unknown job (exit 1), too many slots (limit_exceeded, exit 1), usage (exit 2)', async () => {
    const ghost = await schedctl(['backfill', 'ghost', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--dry-run']);
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toMatch(/^error not_found: /);

    // SCHED_MAX_BACKFILL is 100 here: 200 hourly slots is too many
    const big = await schedctl(['backfill', 'hourly', '--from', new Date(to - 200 * HOUR).toISOString(), '--to', new Date(to).toISOString(), '--dry-run']);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/^error limit_exceeded: .*100/);

    const usage = await schedctl(['backfill', 'hourly', '--from', new Date(to).toISOString(), '--to', new Date(from).toISOString()]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/must be before --to/);
  });
});
