import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventLine } from '../../src/cli/format.js';
import type { SchedulerEvent } from '../../src/client/types.js';
import { DAY, HOUR, nextWinterDay, reEscape } from '../helpers/dates.js';
import { TestBed, sleep, uniquePrefix, type AuditEventWire, type Orchestrator } from '../helpers/harness.js';

const BIN = fileURLToPath(new URL('../../bin/schedctl', import.meta.url));
const ZONE = 'Europe/Berlin';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `schedctl preview`, `update --dry-run` and `explain` (SPEC §11), the real binary against a real
 * scheduler on a private nats-server. The explained job fires every second in Berlin time and
 * until an end a few seconds after its creation; the orchestrator accepts its dispatches and
 * never completes them, so its first slot is dispatched and every later one skipped (overlap
 * policy skip).
 */
describe('schedctl preview, update --dry-run and explain (the real binary against a real scheduler)', { timeout: 60_000 }, () => {
  let bed: TestBed;
  let acme: Orchestrator;
  let cwd: string;
  const P = uniquePrefix();

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
  /** A slot as `explain --last` prints it, and as `--at` takes it without an offset. */
  const local = (iso: string, format: string): string => DateTime.fromISO(iso, { zone: ZONE }).toFormat(format);

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' });
    acme = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
    await acme.flush();
    cwd = await mkdtemp(join(tmpdir(), 'schedctl-explain-'));
  });
  afterAll(async () => {
    await bed?.dispose();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('preview prints UTC, the Berlin wall time, the offset and the DST note; --json prints the reply', async () => {
    // preview is pure: a fixed spring-forward week is as good as any
    const args = ['preview', '--cron', '30 2 * * *', '--timezone', ZONE, '--from', '2026-03-27T00:00:00Z', '--count', '4'];
    const r = await schedctl(args);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(
      [
        'UTC                       LOCAL                OFFSET  NOTE',
        '2026-03-27T01:30:00.000Z  2026-03-27T02:30:00  +01:00',
        '2026-03-28T01:30:00.000Z  2026-03-28T02:30:00  +01:00',
        '2026-03-29T01:30:00.000Z  2026-03-29T03:30:00  +02:00  dst_gap',
        '2026-03-30T00:30:00.000Z  2026-03-30T02:30:00  +02:00',
        '',
      ].join('\n'),
    );
    const json = await schedctl([...args, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, runs: [{}, {}, { at: '2026-03-29T01:30:00.000Z', note: 'dst_gap' }, {}] });

    // --from as a Berlin wall time: the fall-back night repeats 02:30
    const fall = await schedctl(['preview', '--cron', '30 2 * * *', '--timezone', ZONE, '--from', '2026-10-24', '--count', '2']);
    expect(fall.stdout.split('\n')[2]).toBe('2026-10-25T00:30:00.000Z  2026-10-25T02:30:00  +02:00  dst_repeat');

    const bad = await schedctl(['preview', '--cron', '0 0 30 2 *']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('schedule.expression: cron expression "0 0 30 2 *" never matches');
  });

  it('update --dry-run prints the changed fields and the next runs before and after, and writes nothing', async () => {
    // from a winter day ahead (Berlin at +01:00): the next runs are those days' 02:00, 01:00Z
    const start = nextWinterDay();
    const days = Array.from({ length: 5 }, (_, k) => start + k * DAY);
    const at = (hourUtc: number): string[] => days.map((d) => new Date(d + hourUtc * HOUR).toISOString());
    expect((await schedctl(['create', 'nightly', '--cron', '0 2 * * *', '--timezone', ZONE, '--command', 'report', '--start-at', new Date(start).toISOString()])).code).toBe(0);
    const before = await acme.cmd('show', { jobId: 'nightly' });
    const job = before.job as { revision: number; nextRuns: string[]; updatedAt: string };
    const events = acme.events.filter((e) => e.jobId === 'nightly').length;

    const r = await schedctl(['update', 'nightly', '--cron', '0 3 * * *', '--timezone', ZONE, '--misfire-grace', '2m', '--dry-run']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      'would update nightly (nothing written):',
      '  schedule.expression: "0 2 * * *" → "0 3 * * *"',
      '  misfireGraceMs: 60000 → 120000',
      '',
      'NEXT RUNS BEFORE          AFTER',
    ]);
    expect(job.nextRuns).toEqual(at(1));
    expect(lines.slice(5)).toEqual(at(1).map((b, k) => `${b}  ${at(2)[k]}`));

    const json = await schedctl(['update', 'nightly', '--every', '6h', '--dry-run', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, dryRun: true, job: { schedule: { kind: 'interval', every: 21_600_000 } }, nextRunsBefore: job.nextRuns });

    await sleep(200);
    const after = await acme.cmd('show', { jobId: 'nightly' });
    expect(after.job).toMatchObject({ revision: job.revision, updatedAt: job.updatedAt, schedule: { expression: '0 2 * * *' }, misfireGraceMs: 60_000 });
    expect(acme.events.filter((e) => e.jobId === 'nightly').length).toBe(events);

    const stale = await schedctl(['update', 'nightly', '--name', 'x', '--expected-revision', '9', '--dry-run']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/^error conflict: /);
  });

  describe('explain', () => {
    let dispatched: AuditEventWire;
    let skipped: AuditEventWire[];

    beforeAll(async () => {
      const now = Date.now();
      // a few whole seconds of slots, ending half-way through a second (no slot on the end itself)
      const endAt = new Date(Math.ceil((now + 4_000) / 1000) * 1000 + 500).toISOString();
      // created by a plain request: a schedctl process may take a second to start
      const created = await acme.cmd('create', {
        jobId: 'every-second',
        schedule: { kind: 'cron', expression: '* * * * * *', timezone: ZONE },
        target: { type: 'command', command: 'work' },
        endAt,
      });
      expect(created.ok, JSON.stringify(created)).toBe(true);
      const lastSlot = new Date(Date.parse(endAt) - 500).toISOString();
      await acme.waitEvent('trigger.skipped', (e) => e.jobId === 'every-second' && e.data.scheduledAt === lastSlot, 20_000);
      dispatched = acme.eventsOf('trigger.dispatched', 'every-second')[0]!;
      skipped = acme.eventsOf('trigger.skipped', 'every-second');
      expect(skipped.length).toBeGreaterThanOrEqual(3);
      // every skip names the first execution, which still runs
      for (const s of skipped) expect(s.data.activeExecutions).toEqual([dispatched.executionId]);
    }, 30_000);

    it("--at a skipped slot as a Berlin wall time: the sentence, then the event it was derived from", async () => {
      const slot = skipped[1]!;
      const at = String(slot.data.scheduledAt);
      const r = await schedctl(['explain', 'every-second', '--at', local(at, "yyyy-MM-dd'T'HH:mm:ss")]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const from = local(String(dispatched.data.scheduledAt), 'HH:mm');
      expect(r.stdout).toBe(
        `The ${local(at, 'yyyy-MM-dd HH:mm')} ${ZONE} slot was skipped: execution ${dispatched.executionId} from ${from} was still running (overlap policy skip).\n` +
          `  ${eventLine(slot as SchedulerEvent)}\n`,
      );

      // the same slot as an instant with an offset, and a little after it: the slot at or just before
      const json = await schedctl(['explain', 'every-second', '--at', new Date(Date.parse(at) + 300).toISOString(), '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, outcome: 'skipped', reason: 'overlap', slot: { scheduledAt: at }, eventIds: [slot.id] });

      // the dispatched slot: its dispatch event
      const first = await schedctl(['explain', 'every-second', '--at', String(dispatched.data.scheduledAt)]);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(new RegExp(`^The .* slot was dispatched on time .* as execution ${reEscape(dispatched.executionId!)}, which has not ended yet\\.\n`));
      expect(first.stdout.split('\n')[1]).toBe(`  ${eventLine(dispatched as SchedulerEvent)}`);
    });

    it('--last 3: the last three slots before the end, newest first, one line each', async () => {
      const r = await schedctl(['explain', 'every-second', '--last', '3']);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(new RegExp(`^SLOT \\(${reEscape(ZONE)}\\)\\s+OUTCOME\\s+ANSWER$`));
      const last3 = skipped.slice(-3).reverse();
      expect(lines.slice(1)).toHaveLength(3);
      lines.slice(1).forEach((line, k) => {
        const at = String(last3[k]!.data.scheduledAt);
        expect(line).toMatch(new RegExp(`^${reEscape(local(at, 'yyyy-MM-dd HH:mm:ss ZZ'))}\\s+skipped\\s+The ${reEscape(local(at, 'yyyy-MM-dd HH:mm'))} .* was skipped: `));
      });

      const json = await schedctl(['explain', 'every-second', '--last', '3', '--json']);
      const replies = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { slot: { scheduledAt: string } });
      expect(replies.map((x) => x.slot.scheduledAt)).toEqual(last3.map((s) => s.data.scheduledAt));
    });

    it('--last more than there are: every slot since the job was created, then why it stops', async () => {
      const r = await schedctl(['explain', 'every-second', '--last', '100']);
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      const slots = [dispatched, ...skipped].length;
      expect(lines).toHaveLength(1 + slots + 1);
      expect(lines.at(-2)).toMatch(/\s+dispatched\s+The .* slot was dispatched on time/);
      expect(lines.at(-1)).toMatch(/^no earlier slot: The job was created at .*, after the .* slot\.$/);
    });

    it('explain of an unknown job is not_found (exit 1); a bad --at is a usage error (exit 2)', async () => {
      const ghost = await schedctl(['explain', 'ghost', '--at', '2026-12-01T02:00']);
      expect(ghost.code).toBe(1);
      expect(ghost.stderr).toMatch(/^error not_found: /);
      const bad = await schedctl(['explain', 'every-second', '--at', 'soon']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--at "soon"');
    });
  });
});
