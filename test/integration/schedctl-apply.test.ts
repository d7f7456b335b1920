import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type Io } from '../../src/cli/program.js';
import { startInspectionServer, type InspectionServer } from '../../src/runtime/inspection.js';
import { TestBed, uniquePrefix, until, type Orchestrator, type SchedulerUnderTest } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';

const BIN = fileURLToPath(new URL('../../bin/schedctl', import.meta.url));
const HOUR = 3_600_000;
const DAY = 86_400_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface JobView {
  jobId: string;
  revision: number;
  labels: Record<string, string>;
  schedule: Record<string, unknown>;
  paused: boolean;
  [k: string]: unknown;
}

/** `schedctl apply` and friends, in this process with an injected Io (like bin/schedctl's main). */
describe('schedctl apply against a real scheduler', { timeout: 60_000 }, () => {
  let bed: TestBed;
  let acme: Orchestrator;
  let dir: string;
  const P = uniquePrefix();
  // instants ahead of the clock the test runs with, on whole hours
  const base = Math.ceil((Date.now() + 10 * DAY) / HOUR) * HOUR;
  const startAt = new Date(base).toISOString();
  // the same instant written with another offset
  const startAtPlus2 = new Date(base + 2 * HOUR).toISOString().replace('Z', '+02:00');
  const onceAt = new Date(base + 3 * DAY).toISOString();

  /** Runs schedctl in-process; `stdin` feeds `-f -`. */
  const schedctl = async (args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<Result> => {
    let stdout = '';
    let stderr = '';
    const io: Io = {
      out: (s) => void (stdout += s),
      err: (s) => void (stderr += s),
      env: { NATS_URL: bed.server.url, SCHED_PREFIX: P, SCHED_ORCHESTRATOR: 'acme', ...opts.env },
      interrupted: new Promise<void>(() => undefined),
      ...(opts.stdin !== undefined && { stdin: async () => opts.stdin! }),
    };
    const code = await run(['node', 'schedctl', ...args], io);
    return { code, stdout, stderr };
  };
  const file = async (name: string, text: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const show = async (jobId: string): Promise<JobView | undefined> => (await acme.cmd('show', { jobId })).job as JobView | undefined;
  const lines = (s: string): string[] => s.trimEnd().split('\n');

  const yamlJobs = (nightlyCron: string, pulseLabels: string): string => `
jobs:
  - jobId: nightly
    name: Nightly report
    labels: { team: billing, tier: "1" }
    schedule: { kind: cron, expression: "${nightlyCron}", timezone: Europe/Berlin }
    startAt: ${startAt}
    target: { type: workflow_start, workflowId: wf-report, inputs: { region: eu } }
    misfireGraceMs: 2m
  - jobId: pulse
    labels: ${pulseLabels}
    schedule: { kind: interval, every: 1h }
    target: { type: command, command: sync, args: ["--all"] }
    dispatchRetry: { attempts: 2 }
  - jobId: once
    schedule: { kind: once, at: "${onceAt}" }
    target: { type: command, command: report }
    overlapPolicy: buffer_one
`;

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P });
    acme = await bed.orchestrator(P, 'acme');
    dir = await mkdtemp(join(tmpdir(), 'schedctl-apply-'));
  });
  afterAll(async () => {
    await bed?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates the jobs of a YAML file, then finds them unchanged (also written differently, in JSON)', async () => {
    const path = await file('jobs.yaml', yamlJobs('0 2 * * *', '{ team: billing }'));
    const created = await schedctl(['apply', '-f', path]);
    expect(created).toEqual({ code: 0, stdout: 'created nightly\ncreated pulse\ncreated once\n', stderr: '' });
    expect(await show('nightly')).toMatchObject({
      name: 'Nightly report',
      labels: { team: 'billing', tier: '1' },
      schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' },
      startAt,
      target: { type: 'workflow_start', workflowId: 'wf-report', inputs: { region: 'eu' } },
      misfireGraceMs: 120_000,
      revision: 1,
    });
    expect(await show('pulse')).toMatchObject({ schedule: { kind: 'interval', every: HOUR }, dispatchRetry: { attempts: 2, backoffMs: 1000 }, revision: 1 });
    expect(await show('once')).toMatchObject({ schedule: { kind: 'once', at: onceAt }, overlapPolicy: 'buffer_one', revision: 1 });

    const again = await schedctl(['apply', '-f', path]);
    expect(again).toEqual({ code: 0, stdout: 'unchanged nightly\nunchanged pulse\nunchanged once\n', stderr: '' });

    // the same definitions with explicit defaults, other units, another offset, other key order
    const json = await file(
      'jobs.json',
      JSON.stringify([
        {
          jobId: 'once', target: { command: 'report', type: 'command' }, schedule: { kind: 'once', at: onceAt },
          overlapPolicy: 'buffer_one', allowOverlap: false, misfirePolicy: 'fire_once_on_recovery',
        },
        {
          jobId: 'nightly', name: 'Nightly report', labels: { tier: '1', team: 'billing' },
          schedule: { kind: 'cron', expression: ' 0 2 * * * ', timezone: 'Europe/Berlin' }, startAt: startAtPlus2, endAt: null,
          target: { type: 'workflow_start', workflowId: 'wf-report', inputs: { region: 'eu' } },
          misfireGraceMs: 120_000, maxRuntimeMs: '1h', dispatchTimeoutMs: 'PT5S',
        },
        {
          jobId: 'pulse', labels: { team: 'billing' }, schedule: { kind: 'interval', every: HOUR }, name: null,
          target: { type: 'command', command: 'sync', args: ['--all'] }, dispatchRetry: { attempts: 2, backoffMs: '1s' },
        },
      ]),
    );
    const same = await schedctl(['apply', '-f', json]);
    expect(same).toEqual({ code: 0, stdout: 'unchanged once\nunchanged nightly\nunchanged pulse\n', stderr: '' });
    for (const id of ['nightly', 'pulse', 'once']) expect((await show(id))?.revision).toBe(1);
  });

  it('updates what differs (with the fields), leaves the rest; --json reports the same', async () => {
    const path = await file('edited.yaml', yamlJobs('0 3 * * *', '{ team: billing, tier: "2" }'));
    const r = await schedctl(['apply', '-f', path]);
    expect(r).toEqual({ code: 0, stdout: 'updated nightly (schedule)\nupdated pulse (labels)\nunchanged once\n', stderr: '' });
    expect(await show('nightly')).toMatchObject({ schedule: { expression: '0 3 * * *', timezone: 'Europe/Berlin' }, revision: 2, name: 'Nightly report' });
    expect(await show('pulse')).toMatchObject({ labels: { team: 'billing', tier: '2' }, revision: 2 });
    expect((await show('once'))?.revision).toBe(1);

    const j = await schedctl(['--json', 'apply', '-f', path]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({
      ok: true,
      dryRun: false,
      results: [
        { jobId: 'nightly', action: 'unchanged', revision: 2 },
        { jobId: 'pulse', action: 'unchanged', revision: 2 },
        { jobId: 'once', action: 'unchanged', revision: 1 },
      ],
    });
  });

  it('a field left out of the file goes back to its default; paused only counts when the file says it', async () => {
    const path = await file('pulse.yaml', `- jobId: pulse\n  labels: { team: billing, tier: "2" }\n  schedule: { kind: interval, every: 1h }\n  target: { type: command, command: sync, args: ["--all"] }\n`);
    expect((await acme.cmd('pause', { jobId: 'pulse', reason: 'maintenance' })).ok).toBe(true);
    const r = await schedctl(['apply', '-f', path]);
    expect(r).toEqual({ code: 0, stdout: 'updated pulse (dispatchRetry)\n', stderr: '' });
    expect(await show('pulse')).toMatchObject({ dispatchRetry: { attempts: 3, backoffMs: 1000 }, paused: true, state: 'paused' });

    const resume = await file('pulse-resume.yaml', `- jobId: pulse\n  labels: { team: billing, tier: "2" }\n  schedule: { kind: interval, every: 1h }\n  target: { type: command, command: sync, args: ["--all"] }\n  paused: false\n`);
    expect(await schedctl(['apply', '-f', resume])).toEqual({ code: 0, stdout: 'updated pulse (paused)\n', stderr: '' });
    expect(await show('pulse')).toMatchObject({ paused: false, state: 'idle' });
  });

  it('--dry-run prints the changes field by field (old → new) and changes nothing', async () => {
    const before = await show('nightly');
    const path = await file(
      'dry.yaml',
      yamlJobs('0 2 * * *', '{ team: billing, tier: "2" }').replace('misfireGraceMs: 2m', 'misfireGraceMs: 5m') +
        `  - jobId: extra\n    schedule: { kind: interval, every: 2h }\n    target: { type: command, command: x }\n`,
    );
    const r = await schedctl(['apply', '-f', path, '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'would update nightly: schedule.expression "0 3 * * *" → "0 2 * * *"; misfireGraceMs 120000 → 300000',
      'would update pulse: dispatchRetry.attempts 3 → 2',
      'unchanged once',
      'would create extra',
    ]);
    expect(await show('nightly')).toEqual(before);
    expect((await acme.cmd('show', { jobId: 'extra' })).error?.code).toBe('not_found');

    const j = await schedctl(['--json', 'apply', '-f', path, '--dry-run']);
    expect(JSON.parse(j.stdout)).toMatchObject({
      ok: true,
      dryRun: true,
      results: [
        {
          jobId: 'nightly',
          action: 'updated',
          changed: ['schedule', 'misfireGraceMs'],
          diff: [
            { path: 'schedule.expression', old: '0 3 * * *', new: '0 2 * * *' },
            { path: 'misfireGraceMs', old: 120_000, new: 300_000 },
          ],
        },
        { jobId: 'pulse', action: 'updated', changed: ['dispatchRetry'] },
        { jobId: 'once', action: 'unchanged' },
        { jobId: 'extra', action: 'created' },
      ],
    });
    expect((await show('nightly'))?.revision).toBe(before?.revision);
    expect((await acme.cmd('show', { jobId: 'extra' })).error?.code).toBe('not_found');
  });

  it('--prune --selector deletes only the labelled jobs the file does not name, through every page of the listing', async () => {
    const target = { type: 'command', command: 'x' };
    const schedule = { kind: 'interval', every: '1h' };
    // more stray jobs than one page of the listing apply reads (200)
    const strays = Array.from({ length: 230 }, (_, i) => `stray-${String(i).padStart(3, '0')}`);
    for (const jobId of strays) expect((await acme.cmd('create', { jobId, labels: { team: 'billing', tier: '9' }, schedule, target })).ok).toBe(true);
    expect((await acme.cmd('create', { jobId: 'ops-job', labels: { team: 'ops' }, schedule, target })).ok).toBe(true);
    expect((await acme.cmd('create', { jobId: 'bare', schedule, target })).ok).toBe(true);
    expect((await acme.cmd('create', { jobId: 'billing-tier1', labels: { team: 'billing', tier: '1' }, schedule, target })).ok).toBe(true);
    // a job named in the file sorts after the strays: it is on a later page of the listing
    const zulu = `  - jobId: zulu\n    labels: { team: billing }\n    schedule: { kind: interval, every: 1h }\n    target: { type: command, command: x }\n`;
    expect((await acme.cmd('create', { jobId: 'zulu', labels: { team: 'billing' }, schedule, target })).ok).toBe(true);
    const path = await file('prune.yaml', yamlJobs('0 3 * * *', '{ team: billing, tier: "2" }') + zulu);

    const dry = await schedctl(['apply', '-f', path, '--prune', '--selector', 'team=billing', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(lines(dry.stdout)).toEqual([
      'unchanged nightly',
      'would update pulse: dispatchRetry.attempts 3 → 2',
      'unchanged once',
      'unchanged zulu',
      'would delete billing-tier1',
      ...strays.map((s) => `would delete ${s}`),
    ]);
    expect((await show('stray-000'))?.jobId).toBe('stray-000');

    // two labels: only jobs with both
    const narrow = await schedctl(['apply', '-f', path, '--prune', '--selector', 'team=billing,tier=9']);
    expect(narrow.stderr).toBe('');
    expect(narrow.code).toBe(0);
    expect(lines(narrow.stdout)).toEqual([
      'unchanged nightly',
      'updated pulse (dispatchRetry)',
      'unchanged once',
      'unchanged zulu',
      ...strays.map((s) => `deleted ${s}`),
    ]);
    for (const s of [strays[0]!, strays[199]!, strays[229]!]) expect((await acme.cmd('show', { jobId: s })).error?.code).toBe('not_found');
    const left = ((await acme.cmd('list', { limit: 1000 })).jobs as JobView[]).map((j) => j.jobId).sort();
    expect(left).toEqual(['bare', 'billing-tier1', 'nightly', 'once', 'ops-job', 'pulse', 'zulu']);

    const wide = await schedctl(['apply', '-f', path, '--prune', '--selector', 'team=billing']);
    expect(wide).toEqual({ code: 0, stdout: 'unchanged nightly\nunchanged pulse\nunchanged once\nunchanged zulu\ndeleted billing-tier1\n', stderr: '' });
    const after = ((await acme.cmd('list', { limit: 1000 })).jobs as JobView[]).map((j) => j.jobId).sort();
    expect(after).toEqual(['bare', 'nightly', 'once', 'ops-job', 'pulse', 'zulu']);

    const noSelector = await schedctl(['apply', '-f', path, '--prune']);
    expect(noSelector.code).toBe(2);
    expect(noSelector.stderr).toMatch(/^error: --prune needs --selector/);
    expect(noSelector.stdout).toBe('');
  });

  it('an invalid file (no jobId, duplicate jobId, bad spec, not parseable) applies nothing and names each position', async () => {
    const path = await file(
      'bad.yaml',
      [
        'jobs:',
        '  - jobId: fresh', // line 2: valid, must not be created
        '    schedule: { kind: interval, every: 1h }',
        '    target: { type: command, command: x }',
        '  - schedule: { kind: interval, every: 1h }', // line 5: no jobId
        '    target: { type: command, command: x }',
        '  - jobId: fresh', // line 7: duplicate
        '    schedule: { kind: interval, every: 2h }',
        '    target: { type: command, command: x }',
        '  - jobId: never', // line 10: can never fire
        '    schedule: { kind: cron, expression: "0 0 30 2 *" }',
        '    target: { type: command, command: x }',
        '  - jobId: nightly', // line 13: a change that must not be applied either
        '    schedule: { kind: cron, expression: "0 4 * * *" }',
        '    target: { type: command, command: x }',
        '    colour: blue',
        '',
      ].join('\n'),
    );
    const r = await schedctl(['apply', '-f', path]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const err = lines(r.stderr);
    expect(err[0]).toBe(`error: ${path}: 4 problems, nothing applied`);
    expect(err.slice(1)).toEqual([
      `  ${path}:5: jobs[1]: jobId is required (apply matches jobs by it)`,
      `  ${path}:7: jobs[2] (fresh): duplicate jobId "fresh" (also jobs[0] at line 2)`,
      expect.stringMatching(new RegExp(`^  ${path}:10: jobs\\[3\\] \\(never\\): schedule\\.expression: .+`)),
      expect.stringMatching(new RegExp(`^  ${path}:13: jobs\\[4\\] \\(nightly\\): \\(spec\\): .*colour`)),
    ]);
    expect((await acme.cmd('show', { jobId: 'fresh' })).error?.code).toBe('not_found');
    expect((await show('nightly'))?.schedule).toMatchObject({ expression: '0 3 * * *' });

    const yaml = await file('broken.yaml', 'jobs:\n  - jobId: a\n    schedule: { kind: interval\n');
    const y = await schedctl(['apply', '-f', yaml]);
    expect(y.code).toBe(2);
    expect(y.stderr).toMatch(new RegExp(`^error: ${yaml}: 1 problem, nothing applied\\n  ${yaml}:\\d+: not valid YAML: .+\\n$`));

    const json = await file('broken.json', '[{"jobId": "a",}]');
    const j = await schedctl(['--json', 'apply', '-f', json]);
    expect(j.code).toBe(2);
    expect(j.stderr).toMatch(/not valid JSON: .*\(line 1, column \d+\)/);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { code: 'invalid_request', details: [{ path: json, message: expect.stringMatching(/^not valid JSON/) }] } });

    const empty = await schedctl(['apply', '-f', await file('empty.yaml', '# nothing\n')]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no jobs: the file is empty/);

    const missing = await schedctl(['apply', '-f', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: cannot read .*nope\.yaml: ENOENT/);
    expect(((await acme.cmd('list', { limit: 1000 })).jobs as JobView[]).map((x) => x.jobId).sort()).toEqual(['bare', 'nightly', 'once', 'ops-job', 'pulse', 'zulu']);
  });

  it('a job the scheduler refuses is an error line (exit 1) and the others are applied; -f - reads stdin', async () => {
    // 500 ms passes the local checks but not the scheduler's SCHED_MIN_INTERVAL_MS (1 s)
    const text = JSON.stringify({
      jobs: [
        { jobId: 'too-fast', schedule: { kind: 'interval', every: '500ms' }, target: { type: 'command', command: 'x' } },
        { jobId: 'from-stdin', schedule: { kind: 'interval', every: '2h' }, target: { type: 'command', command: 'x' } },
      ],
    });
    const r = await schedctl(['apply', '-f', '-'], { stdin: text });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('created from-stdin\n');
    expect(r.stderr).toMatch(/^error too-fast: invalid_request: .+\n {2}schedule\.every: must be at least 1000 ms\n$/);
    expect((await acme.cmd('show', { jobId: 'too-fast' })).error?.code).toBe('not_found');
    expect(await show('from-stdin')).toMatchObject({ schedule: { kind: 'interval', every: 2 * HOUR } });
  });
});

/** The real binary (compiled dist/, as shipped): version, and one line without a stack when nothing answers. */
describe('schedctl binary: --version, default server, nothing listening', { timeout: 60_000 }, () => {
  let bed: TestBed;
  let dir: string;
  let inspection: InspectionServer;
  const P = uniquePrefix();

  const start = (args: string[], env: Record<string, string>) => {
    const child = spawn(BIN, args, { cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const live = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (live.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (live.stderr += d.toString()));
    const done = new Promise<Result>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, ...live }));
    });
    return { child, live, done };
  };
  const schedctl = (args: string[], env: Record<string, string>): Promise<Result> => start(args, env).done;

  beforeAll(async () => {
    bed = await TestBed.start();
    let scheduler: SchedulerUnderTest | undefined;
    inspection = await startInspectionServer(0, pino({ level: 'silent' }), function* () {
      if (scheduler) for (const a of scheduler.scheduler.jobActors()) yield a.ref;
    });
    scheduler = await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' }, { inspect: inspection.inspect });
    const o = (await bed.orchestrator(P, 'acme')).serveDispatches();
    o.answer = (d) => {
      setTimeout(() => void o.complete(d.executionId, d.jobId).catch(() => undefined), 5);
      return { accepted: true };
    };
    dir = await mkdtemp(join(tmpdir(), 'schedctl-bin-'));
    await writeFile(join(dir, 'jobs.yaml'), '- jobId: a\n  schedule: { kind: interval, every: 1h }\n  target: { type: command, command: x }\n');
  });
  afterAll(async () => {
    await bed?.dispose();
    await inspection?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await schedctl(['--version'], {})).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('without --server and NATS_URL it connects to 127.0.0.1:$SCHED_DEFAULT_NATS_PORT', async () => {
    const ok = await schedctl(['-o', 'acme', 'apply', '-f', 'jobs.yaml'], { SCHED_PREFIX: P, SCHED_DEFAULT_NATS_PORT: String(bed.server.port) });
    expect(ok).toEqual({ code: 0, stdout: 'created a\n', stderr: '' });
    const list = await schedctl(['-o', 'acme', 'list'], { SCHED_PREFIX: P, SCHED_DEFAULT_NATS_PORT: String(bed.server.port) });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^a\s+idle\s+every 1h/m);

    const port = await freePort();
    const down = await schedctl(['-o', 'acme', 'list'], { SCHED_PREFIX: P, SCHED_DEFAULT_NATS_PORT: String(port) });
    expect(down).toMatchObject({ code: 1, stdout: '' });
    expect(down.stderr).toMatch(new RegExp(`^error unavailable: cannot connect to nats://127\\.0\\.0\\.1:${port}: .+\\n$`));

    const bad = await schedctl(['-o', 'acme', 'list'], { SCHED_DEFAULT_NATS_PORT: 'x' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: SCHED_DEFAULT_NATS_PORT: /);
  });

  it('inspect with nothing listening: one actionable line, exit 1, no stack', async () => {
    const port = await freePort();
    const r = await schedctl(['inspect', '--url', `ws://127.0.0.1:${port}`], {});
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `error unavailable: cannot connect to ws://127.0.0.1:${port}: ECONNREFUSED; is the scheduler running with SCHED_INSPECT_PORT set?\n`,
    });
  });

  it('inspect prints the transitions live until Ctrl-C (exit 0); the endpoint going away is one line, exit 1', async () => {
    const env = { NATS_URL: bed.server.url, SCHED_PREFIX: P, SCHED_ORCHESTRATOR: 'acme' };
    await writeFile(join(dir, 'fast.yaml'), '- jobId: fast\n  schedule: { kind: interval, every: 200ms }\n  target: { type: command, command: x }\n');
    expect((await schedctl(['apply', '-f', 'fast.yaml'], env)).stdout).toBe('created fast\n');
    const url = `ws://127.0.0.1:${inspection.port}`;
    const watch = start(['inspect', '--url', url, '--job', 'fast'], {});
    await until(() => /acme\.fast -> running/.test(watch.live.stdout), 15_000, 'transitions of acme.fast');
    expect(watch.live.stdout).not.toMatch(/acme\.a /);
    watch.child.kill('SIGINT');
    expect(await watch.done).toMatchObject({ code: 0, stderr: '' });

    const cut = start(['inspect', '--url', url], {});
    await until(() => cut.live.stdout.includes('acme.'), 15_000, 'inspection events');
    await inspection.close();
    const r = await cut.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error unavailable: the inspection connection to ${url.replace(/\./g, '\\.')} closed \\(\\d+\\); is the scheduler still running\\?\\n$`));
  });

  it('every command with no NATS server at the URL: one line, exit 1, no stack', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const commands = [
      ['apply', '-f', 'jobs.yaml'],
      ['apply', '-f', 'jobs.yaml', '--dry-run', '--prune', '--selector', 'a=b'],
      ['create', 'x', '--every', '1h', '--command', 'c'],
      ['list'],
      ['show', 'x'],
      ['update', 'x', '--name', 'y'],
      ['pause', 'x'],
      ['resume', 'x'],
      ['delete', 'x'],
      ['run-now', 'x'],
      ['events'],
      ['events', '--follow'],
      ['machine', '--job', 'x'],
      ['replicas'],
    ];
    const results = await Promise.all(commands.map((c) => schedctl(['--server', url, '-o', 'acme', ...c], {})));
    results.forEach((r, i) => {
      expect({ command: commands[i], ...r }).toEqual({ command: commands[i], code: 1, stdout: '', stderr: expect.stringMatching(new RegExp(`^error unavailable: cannot connect to ${url.replace(/\./g, '\\.')}: [^\\n]+\\n$`)) });
    });
  });
});
