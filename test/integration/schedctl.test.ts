import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR, nextWinterDay, reEscape, utcDay } from '../helpers/dates.js';
import { TestBed, uniquePrefix, until, type Orchestrator } from '../helpers/harness.js';

const BIN = fileURLToPath(new URL('../../bin/schedctl', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The real `bin/schedctl` as a child process, from a temporary cwd, with a clean environment:
 * only what is given here reaches it.
 */
describe('schedctl (the real binary against a real scheduler)', { timeout: 60_000 }, () => {
  let bed: TestBed;
  let acme: Orchestrator;
  let cwd: string;
  const P = uniquePrefix();
  // a winter day ahead of the clock (Berlin at +01:00): the job starts at its UTC midnight and ends
  // at the next New Year's midnight in Berlin, the last hour of that year in UTC
  const startDay = nextWinterDay();
  const year = new Date(startDay).getUTCFullYear();
  // 02:00 Berlin is 01:00Z in winter; startAt bounds the first slot, on the start day itself
  const slots = Array.from({ length: 5 }, (_, k) => new Date(startDay + k * DAY + HOUR).toISOString());

  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NATS_URL: bed.server.url,
    SCHED_PREFIX: P,
    ...extra,
  });

  const start = (args: string[], extraEnv: Record<string, string> = {}) => {
    const child = spawn(BIN, args, { cwd, env: env(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    const result: Result = { code: null, stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (result.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (result.stderr += d.toString()));
    const done = new Promise<Result>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ ...result, code }));
    });
    return { child, result, done };
  };

  const schedctl = (args: string[], extraEnv?: Record<string, string>): Promise<Result> => start(args, extraEnv).done;
  const json = <T = Record<string, unknown>>(r: Result): T => JSON.parse(r.stdout) as T;

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P });
    acme = (await bed.orchestrator(P, 'acme')).serveDispatches().watchEvents();
    cwd = await mkdtemp(join(tmpdir(), 'schedctl-'));
    await writeFile(
      join(cwd, 'pulse.json'),
      JSON.stringify({ schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'sync', args: ['--all'] }, labels: { team: 'ops' } }),
    );
  });
  afterAll(async () => {
    await bed?.dispose();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('create (every policy as an option, --spec @file), list and show, in tables or --json', async () => {
    const [nightly, pulse] = await Promise.all([
      // orchestrator from SCHED_ORCHESTRATOR, server and prefix from NATS_URL / SCHED_PREFIX
      schedctl(
        [
          'create', 'nightly', '--json',
          '--cron', '0 2 * * *', '--timezone', 'Europe/Berlin',
          '--workflow', 'wf-report', '--inputs', '{"region":"eu"}',
          '--name', 'Nightly report', '--label', 'team=billing', '--label', 'tier=1',
          '--start-at', `${utcDay(startDay)}T00:00:00Z`, '--end-at', `${year + 1}-01-01T00:00:00+01:00`,
          '--overlap', 'buffer_one', '--misfire', 'skip_missed', '--misfire-grace', '2m',
          '--max-runtime', '30m', '--dispatch-timeout', '2000', '--retry-attempts', '2', '--retry-backoff', '500ms',
        ],
        { SCHED_ORCHESTRATOR: 'acme' },
      ),
      schedctl(['-o', 'acme', 'create', 'pulse', '--spec', '@pulse.json', '--paused']),
    ]);
    expect(nightly).toMatchObject({ code: 0, stderr: '' });
    expect(json(nightly)).toMatchObject({
      ok: true,
      job: {
        orchestratorId: 'acme',
        jobId: 'nightly',
        name: 'Nightly report',
        labels: { team: 'billing', tier: '1' },
        schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
        target: { type: 'workflow_start', workflowId: 'wf-report', inputs: { region: 'eu' } },
        startAt: new Date(startDay).toISOString(),
        endAt: `${year}-12-31T23:00:00.000Z`,
        overlapPolicy: 'buffer_one',
        misfirePolicy: 'skip_missed',
        misfireGraceMs: 120_000,
        maxRuntimeMs: 1_800_000,
        dispatchTimeoutMs: 2_000,
        dispatchRetry: { attempts: 2, backoffMs: 500 },
        paused: false,
        state: 'idle',
        nextRunAt: slots[0],
        revision: 1,
      },
    });
    expect(pulse.code).toBe(0);
    expect(pulse.stdout).toMatch(/^job\s+pulse$/m);
    expect(pulse.stdout).toMatch(/^state\s+paused$/m);
    expect(pulse.stdout).toMatch(/^target\s+command sync args \["--all"\]$/m);

    const [table, pausedOnly, show] = await Promise.all([
      schedctl(['-o', 'acme', 'list']),
      schedctl(['-o', 'acme', 'list', '--state', 'paused', '--json']),
      schedctl(['-o', 'acme', 'show', 'nightly']),
    ]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^JOB\s+STATE\s+SCHEDULE\s+NEXT RUN\s+LAST RESULT$/);
    expect(lines[1]).toMatch(new RegExp(`^nightly\\s+idle\\s+cron 0 2 \\* \\* \\* \\(Europe/Berlin\\)\\s+${reEscape(slots[0]!)}\\s+-$`));
    expect(lines[2]).toMatch(/^pulse\s+paused\s+every 1h\s+\S+Z\s+-$/);
    expect(json<{ jobs: { jobId: string }[] }>(pausedOnly).jobs.map((j) => j.jobId)).toEqual(['pulse']);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^next runs\\s+${slots.map(reEscape).join('\\n\\s+')}$`, 'm'));
    expect(show.stdout).toMatch(/^misfire\s+skip_missed \(grace 2m\)$/m);
    expect(show.stdout).toMatch(/^active\s+-$/m);
    expect(show.stdout).toMatch(/^counters\s+dispatched 0, /m);
  });

  it('update (partial target merged with the current one, --expected-revision), pause and resume', async () => {
    const updated = await schedctl(['-o', 'acme', 'update', 'nightly', '--every', '30m', '--inputs', '{"region":"us"}', '--expected-revision', '1', '--json']);
    expect(updated.code).toBe(0);
    expect(json(updated)).toMatchObject({
      ok: true,
      job: { revision: 2, schedule: { kind: 'interval', every: 1_800_000 }, target: { type: 'workflow_start', workflowId: 'wf-report', inputs: { region: 'us' } } },
    });

    const [stale, paused] = await Promise.all([
      schedctl(['-o', 'acme', 'update', 'nightly', '--name', 'x', '--expected-revision', '1']),
      schedctl(['-o', 'acme', 'pause', 'nightly', '--reason', 'maintenance', '--json']),
    ]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/^error conflict: revision is \d, not 1$/m);
    expect(stale.stdout).toBe('');
    expect(json(paused)).toMatchObject({ ok: true, job: { state: 'paused', paused: true, pausedReason: 'maintenance' } });

    const resumed = await schedctl(['-o', 'acme', 'resume', 'nightly']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/^state\s+idle$/m);
    expect(resumed.stdout).toMatch(/^schedule\s+every 30m$/m);
  });

  it('run-now dispatches with its inputs; a second one is an overlap error (exit 1); machine marks the job state', async () => {
    const run = await schedctl(['-o', 'acme', 'run-now', 'nightly', '--inputs', '{"x":1}']);
    expect(run.code).toBe(0);
    const executionId = run.stdout.trim();
    expect(executionId).toMatch(/^[A-Za-z0-9_-]+$/);
    const d = await until(() => acme.dispatches.find((x) => x.executionId === executionId), 5_000, 'dispatch');
    expect(d).toMatchObject({ jobId: 'nightly', trigger: 'run_now', action: { type: 'workflow_start', workflowId: 'wf-report', inputs: { x: 1 } } });
    await until(async () => ((await acme.cmd('show', { jobId: 'nightly' })).job as { state: string }).state === 'running', 5_000, 'running');

    const [again, diagram] = await Promise.all([
      schedctl(['-o', 'acme', 'run-now', 'nightly', '--json']),
      schedctl(['-o', 'acme', 'machine', '--mermaid', '--job', 'nightly']),
    ]);
    expect(again.code).toBe(1);
    expect(json(again)).toMatchObject({ ok: false, error: { code: 'overlap', details: { activeExecutions: [executionId] } } });
    expect(again.stderr).toMatch(/^error overlap: job "nightly" has an active execution/);
    expect(diagram.code).toBe(0);
    expect(diagram.stdout).toMatch(/^stateDiagram-v2$/m);
    expect(diagram.stdout).toMatch(/^\s+\[\*\] --> boot$/m);
    expect(diagram.stdout).toMatch(/^\s+idle --> due : TICK \[slotDue\]$/m);
    expect(diagram.stdout).toMatch(/^\s+running --> deleted : DELETE$/m);
    expect(diagram.stdout).toMatch(/^\s+class running current$/m);
    await acme.complete(executionId, 'nightly');
  });

  it('exit codes: 1 with "error <code>: <message>" for the scheduler, 2 for usage; machine prints the definition', async () => {
    const [missing, invalid, twoSchedules, noOrchestrator, noServer, machine] = await Promise.all([
      schedctl(['-o', 'acme', 'show', 'missing']),
      schedctl(['-o', 'acme', 'create', 'bad', '--cron', '0 0 30 2 *', '--command', 'x']),
      schedctl(['-o', 'acme', 'create', 'x', '--every', '1h', '--cron', '* * * * *', '--command', 'c']),
      schedctl(['list']),
      schedctl(['--server', 'nats://127.0.0.1:1', '-o', 'acme', 'list']),
      schedctl(['machine', '--json']),
    ]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('error not_found: job "missing" not found\n');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^error invalid_request: /);
    expect(invalid.stderr).toMatch(/^ {2}schedule[.\w]*: .+$/m);
    expect(twoSchedules.code).toBe(2);
    expect(twoSchedules.stderr).toMatch(/^error: --cron, --every: give one schedule$/m);
    expect(noOrchestrator.code).toBe(2);
    expect(noOrchestrator.stderr).toMatch(/orchestrator is required/);
    expect(noServer.code).toBe(1);
    expect(noServer.stderr).toMatch(/^error unavailable: cannot connect to nats:\/\/127\.0\.0\.1:1/);
    expect(machine.code).toBe(0);
    const def = json<{ id: string; initial: unknown; states: Record<string, unknown> }>(machine);
    expect(def.id).toBe('job');
    expect(Object.keys(def.states)).toEqual(expect.arrayContaining(['idle', 'due', 'dispatched', 'running', 'paused']));
  });

  it('events: replay from the durable stream (--since, --json) and --follow until Ctrl-C', async () => {
    const [oneJob, all] = await Promise.all([
      schedctl(['-o', 'acme', 'events', 'nightly', '--since', '1h']),
      schedctl(['-o', 'acme', 'events', '--json']),
    ]);
    expect(oneJob.code).toBe(0);
    const types = oneJob.stdout.trimEnd().split('\n').map((l) => l.split(/\s{2}/)[2]);
    expect(types).toEqual(expect.arrayContaining(['job.created', 'job.updated', 'job.paused', 'job.resumed', 'trigger.dispatched', 'execution.started']));
    expect(oneJob.stdout).toMatch(/^\S+Z {2}nightly {2}job\.paused {2}- {2}\{"reason":"maintenance"/m);
    expect(oneJob.stdout).toMatch(/^\S+Z {2}nightly {2}execution\.started {2}[\w-]+ {2}\{/m);
    const events = all.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { orchestratorId: string; jobId: string; type: string });
    expect(new Set(events.map((e) => e.jobId))).toEqual(new Set(['nightly', 'pulse']));
    expect(events.every((e) => e.orchestratorId === 'acme')).toBe(true);

    const follow = start(['-o', 'acme', 'events', 'pulse', '--follow']);
    await until(() => follow.result.stdout.includes('job.created'), 10_000, 'replayed events');
    await acme.cmd('resume', { jobId: 'pulse' });
    await until(() => follow.result.stdout.includes('job.resumed'), 10_000, 'followed event');
    follow.child.kill('SIGINT');
    const ended = await follow.done;
    expect(ended.code).toBe(0);
    expect(ended.stderr).toBe('');
  });

  it('delete', async () => {
    const r = await schedctl(['-o', 'acme', 'delete', 'pulse']);
    expect(r).toMatchObject({ code: 0, stdout: 'deleted pulse\n', stderr: '' });
    expect((await acme.cmd('show', { jobId: 'pulse' })).error?.code).toBe('not_found');
  });
});
