import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { loadJobs, specDiff } from '../../src/cli/apply.js';
import { UsageError, explainMode, instantIn, isLocalTime, previewBody, updatePatch, zoneOfSchedule, type ExplainArgs, type PreviewArgs, type SpecOptions } from '../../src/cli/args.js';
import { eventsById, explainLast } from '../../src/cli/explain.js';
import { dryRunLines, eventLine, explainLastTable, explainLines, localTime, previewTable, sentenceOf } from '../../src/cli/format.js';
import { EXIT_USAGE, buildProgram, run, type Io } from '../../src/cli/program.js';
import type { EventsOptions } from '../../src/client/client.js';
import type { ExplainResult, JobView, SchedulerEvent, UpdateDryRunResult } from '../../src/client/types.js';
import { explainBodySchema, patchSchema, previewBodySchema } from '../../src/contract/schemas.js';

/**
 * schedctl for SPEC §11: `preview`, `update --dry-run` and `explain` (`--at`, `--last`). The real
 * commander program parses the arguments; the action is replaced by one that captures what the
 * command would send, so nothing connects. The output is formatted from replies shaped as the
 * scheduler sends them. Instants are fixed only where nothing compares them with the clock.
 */

const NOW = Date.now();
const MIN = 60_000;
const HOUR = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();

function io(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => (out += t),
    err: (t) => (err += t),
    env: {},
    interrupted: new Promise<void>(() => undefined),
    stdout: () => out,
    stderr: () => err,
  };
}

/** The positional arguments and options commander hands to `command`'s action. */
async function parsed<O>(command: string, argv: string[]): Promise<{ args: unknown[]; opts: O }> {
  const program = buildProgram(io(), { exitCode: 0 });
  let captured: { args: unknown[]; opts: O } | null = null;
  program.commands
    .find((c) => c.name() === command)!
    .action((...a: unknown[]) => {
      const rest = a.slice(0, -1);
      captured = { args: rest.slice(0, -1), opts: rest[rest.length - 1] as O };
    });
  await program.parseAsync(['node', 'schedctl', command, ...argv]);
  if (captured === null) throw new Error('the action did not run');
  return captured;
}

async function refused(command: string, argv: string[]): Promise<string> {
  const o = io();
  const program = buildProgram(o, { exitCode: 0 });
  program.commands.find((c) => c.name() === command)!.action(() => expect.fail('the action must not run'));
  await expect(program.parseAsync(['node', 'schedctl', command, ...argv])).rejects.toBeInstanceOf(CommanderError);
  return o.stderr();
}

/** Runs schedctl with a server address where nothing listens: a usage error must come first. */
async function usage(argv: string[]): Promise<string> {
  const o = io();
  const code = await run(['node', 'schedctl', '--server', 'nats://127.0.0.1:1', '-o', 'acme', ...argv], o);
  expect(code).toBe(EXIT_USAGE);
  expect(o.stderr()).not.toContain('cannot connect');
  return o.stderr();
}

describe('schedctl preview: the schedule options of create, --from, --count', () => {
  it('--cron --timezone --count: the body of preview, which its schema accepts', async () => {
    const { opts } = await parsed<PreviewArgs>('preview', ['--cron', '30 2 * * *', '--timezone', 'Europe/Berlin', '--count', '10']);
    const body = previewBody(opts, NOW);
    expect(body).toEqual({ schedule: { kind: 'cron', expression: '30 2 * * *', timezone: 'Europe/Berlin' }, count: 10 });
    expect(previewBodySchema.parse(body)).toEqual(body);
  });

  it('--every (a duration), --at (once), --start-at, --end-at, --jitter', async () => {
    const every = previewBody((await parsed<PreviewArgs>('preview', ['--every', '90m', '--start-at', iso(NOW + HOUR), '--end-at', iso(NOW + 9 * HOUR), '--jitter', '30s'])).opts, NOW);
    expect(every).toEqual({ schedule: { kind: 'interval', every: '90m' }, startAt: iso(NOW + HOUR), endAt: iso(NOW + 9 * HOUR), jitterMs: '30s' });
    expect(previewBodySchema.parse(every)).toMatchObject({ schedule: { every: 90 * MIN }, jitterMs: 30_000 });
    const once = previewBody((await parsed<PreviewArgs>('preview', ['--at', iso(NOW + HOUR)])).opts, NOW);
    expect(once).toEqual({ schedule: { kind: 'once', at: iso(NOW + HOUR) } });
  });

  it("--from: an instant with an offset as written, now, or a local time in the schedule's zone", async () => {
    const from = async (argv: string[]): Promise<unknown> => previewBody((await parsed<PreviewArgs>('preview', argv)).opts, NOW).from;
    expect(await from(['--cron', '0 * * * *', '--from', '2026-03-27T00:00:00Z'])).toBe('2026-03-27T00:00:00Z');
    expect(await from(['--cron', '0 * * * *', '--from', '2026-03-27T00:00:00+01:00'])).toBe('2026-03-27T00:00:00+01:00');
    expect(await from(['--cron', '0 * * * *', '--from', 'now'])).toBe(iso(NOW));
    // Berlin is at +01:00 in March before the 29th, at +02:00 after
    expect(await from(['--cron', '0 * * * *', '--timezone', 'Europe/Berlin', '--from', '2026-03-27'])).toBe('2026-03-26T23:00:00.000Z');
    expect(await from(['--cron', '0 * * * *', '--timezone', 'Europe/Berlin', '--from', '2026-03-30T02:30'])).toBe('2026-03-30T00:30:00.000Z');
    // without --timezone (or for --every) a local time is UTC
    expect(await from(['--every', '1h', '--from', '2026-03-30 02:30'])).toBe('2026-03-30T02:30:00.000Z');
  });

  it('refuses two schedules, none, --timezone without --cron, a bad --from, a bad --count', async () => {
    expect(await usage(['preview', '--cron', '* * * * *', '--every', '1h'])).toContain('--cron, --every: give one schedule');
    expect(await usage(['preview', '--count', '3'])).toContain('a schedule is required');
    expect(await usage(['preview', '--every', '1h', '--timezone', 'Europe/Berlin'])).toContain('--timezone goes with --cron');
    expect(await usage(['preview', '--every', '1h', '--from', 'tomorrow'])).toMatch(/--from "tomorrow": give now, a local time in the schedule's zone \(UTC\)/);
    expect(await usage(['preview', '--cron', '0 * * * *', '--timezone', 'Mars/Olympus', '--from', '2026-03-27'])).toContain('the time zone "Mars/Olympus" is not an IANA zone');
    expect(await refused('preview', ['--every', '1h', '--count', 'ten'])).toContain('must be a whole number');
  });

  it('prints UTC, LOCAL, OFFSET and the DST note of each slot', () => {
    const text = previewTable([
      { at: '2026-03-28T01:30:00.000Z', local: '2026-03-28T02:30:00', offset: '+01:00' },
      { at: '2026-03-29T01:30:00.000Z', local: '2026-03-29T03:30:00', offset: '+02:00', note: 'dst_gap' },
      { at: '2026-10-25T00:30:00.000Z', local: '2026-10-25T02:30:00', offset: '+02:00', note: 'dst_repeat' },
    ]);
    expect(text.split('\n')).toEqual([
      'UTC                       LOCAL                OFFSET  NOTE',
      '2026-03-28T01:30:00.000Z  2026-03-28T02:30:00  +01:00',
      '2026-03-29T01:30:00.000Z  2026-03-29T03:30:00  +02:00  dst_gap',
      '2026-10-25T00:30:00.000Z  2026-10-25T02:30:00  +02:00  dst_repeat',
    ]);
    expect(previewTable([])).toBe('no slot');
  });
});

describe('schedctl update --dry-run', () => {
  /** A job view as a scheduler would send it, from a file job's normalised spec. */
  function view(spec: Record<string, unknown>, extra: Partial<JobView> = {}): JobView {
    const [job] = loadJobs(JSON.stringify([{ jobId: 'j', schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' }, target: { type: 'command', command: 'x' }, ...spec }]), 'x.json', NOW);
    return { ...(job!.normalized as object), jobId: 'j', orchestratorId: 'acme', revision: 1, ...extra } as JobView;
  }
  const runs = (hourUtc: number): string[] => Array.from({ length: 5 }, (_, k) => iso(Date.UTC(2030, 0, 10 + k, hourUtc)));

  it('--dry-run is an option of update; the patch is the same as without it', async () => {
    const { args, opts } = await parsed<SpecOptions & { dryRun?: boolean; expectedRevision?: number }>('update', ['j', '--cron', '0 3 * * *', '--dry-run', '--expected-revision', '4']);
    expect(args).toEqual(['j']);
    expect(opts).toMatchObject({ dryRun: true, expectedRevision: 4 });
    expect(updatePatch(opts)).toEqual({ schedule: { kind: 'cron', expression: '0 3 * * *' } });
    expect(patchSchema.parse(updatePatch(opts))).toMatchObject({ schedule: { expression: '0 3 * * *' } });
    expect((await parsed<{ dryRun?: boolean }>('update', ['j', '--name', 'x'])).opts.dryRun).toBeUndefined();
  });

  it('prints each changed field old → new, then the next runs before and after side by side', () => {
    const current = view({});
    const next = view({ schedule: { kind: 'cron', expression: '0 3 * * *', timezone: 'Europe/Berlin' }, misfireGraceMs: '2m' }, { revision: 2 });
    const r: UpdateDryRunResult = { job: next, dryRun: true, nextRunsBefore: runs(1), nextRunsAfter: runs(2) };
    const diff = specDiff(current, next);
    expect(diff).toEqual([
      { path: 'schedule.expression', old: '0 2 * * *', new: '0 3 * * *' },
      { path: 'misfireGraceMs', old: 60_000, new: 120_000 },
    ]);
    expect(dryRunLines('j', diff, r).split('\n')).toEqual([
      'would update j (nothing written):',
      '  schedule.expression: "0 2 * * *" → "0 3 * * *"',
      '  misfireGraceMs: 60000 → 120000',
      '',
      'NEXT RUNS BEFORE          AFTER',
      ...runs(1).map((b, k) => `${b}  ${runs(2)[k]}`),
    ]);
  });

  it('a schedule of another kind, or another target, is shown whole, in words', () => {
    const next = view({ schedule: { kind: 'interval', every: '6h' }, target: { type: 'workflow_start', workflowId: 'wf' } });
    const text = dryRunLines('j', specDiff(view({}), next), { job: next, dryRun: true, nextRunsBefore: runs(1), nextRunsAfter: runs(1).slice(0, 2) });
    expect(text).toContain('  schedule: cron 0 2 * * * (Europe/Berlin) → every 6h\n');
    expect(text).toContain('  target: command x → workflow_start wf\n');
    // fewer runs after: the missing ones are dashes
    expect(text.split('\n').at(-1)).toBe(`${runs(1)[4]}  -`);
  });

  it('a patch that changes nothing says so, and that the next runs stay', () => {
    const same = view({});
    const text = dryRunLines('j', specDiff(same, same), { job: same, dryRun: true, nextRunsBefore: runs(1), nextRunsAfter: runs(1) });
    expect(text).toContain('  no change to the definition\n');
    expect(text.split('\n').at(-1)).toBe('(the next runs do not change)');
    const none = dryRunLines('j', [], { job: same, dryRun: true, nextRunsBefore: [], nextRunsAfter: [] });
    expect(none.split('\n').slice(-2)).toEqual(['NEXT RUNS BEFORE  AFTER', '-                 -']);
  });
});

describe('schedctl explain: --at', () => {
  it("a local time without an offset is read in the job's zone; an instant with an offset as written", () => {
    // winter: Berlin +01:00; summer: +02:00
    expect(instantIn('--at', '2026-12-01T02:00', 'Europe/Berlin', NOW)).toBe('2026-12-01T01:00:00.000Z');
    expect(instantIn('--at', '2026-07-01 02:00:30', 'Europe/Berlin', NOW)).toBe('2026-07-01T00:00:30.000Z');
    expect(instantIn('--at', '2026-12-01', 'America/New_York', NOW)).toBe('2026-12-01T05:00:00.000Z');
    expect(instantIn('--at', '2026-12-01T02:00', 'UTC', NOW)).toBe('2026-12-01T02:00:00.000Z');
    // a wall time skipped by the change to summer time moves past the gap
    expect(instantIn('--at', '2026-03-29T02:30', 'Europe/Berlin', NOW)).toBe('2026-03-29T01:30:00.000Z');
    // a wall time repeated when the clocks go back is its second occurrence (+01:00); an offset picks the first
    expect(instantIn('--at', '2026-10-25T02:30', 'Europe/Berlin', NOW)).toBe('2026-10-25T01:30:00.000Z');
    expect(instantIn('--at', '2026-10-25T02:30:00+02:00', 'Europe/Berlin', NOW)).toBe('2026-10-25T02:30:00+02:00');
    expect(instantIn('--at', '2026-12-01T02:00:00+05:00', 'Europe/Berlin', NOW)).toBe('2026-12-01T02:00:00+05:00');
    expect(instantIn('--at', '2026-12-01T02:00:00Z', 'Europe/Berlin', NOW)).toBe('2026-12-01T02:00:00Z');
    expect(explainBodySchema.safeParse({ jobId: 'j', at: instantIn('--at', '2026-12-01T02:00', 'Europe/Berlin', NOW) }).success).toBe(true);
  });

  it('now, and a duration ago', () => {
    expect(instantIn('--at', 'now', 'Europe/Berlin', NOW, true)).toBe(iso(NOW));
    expect(instantIn('--at', '90m', 'Europe/Berlin', NOW, true)).toBe(iso(NOW - 90 * MIN));
    expect(instantIn('--at', 'PT1H', 'UTC', NOW, true)).toBe(iso(NOW - HOUR));
    expect(() => instantIn('--from', '90m', 'UTC', NOW)).toThrow(UsageError);
  });

  it('refuses what is none of those, and an impossible date', () => {
    expect(() => instantIn('--at', 'yesterday', 'Europe/Berlin', NOW, true)).toThrow(/--at "yesterday": give now, a local time in Europe\/Berlin/);
    expect(() => instantIn('--at', '2026-02-30T02:00', 'UTC', NOW, true)).toThrow(/--at "2026-02-30T02:00": not a valid time/);
  });

  it('which times are local, and the zone of a job', () => {
    for (const t of ['2026-12-01', '2026-12-01T02:00', '2026-12-01 02:00:00', '2026-12-01T02:00:00.250']) expect(isLocalTime(t)).toBe(true);
    for (const t of ['2026-12-01T02:00Z', '2026-12-01T02:00:00+01:00', 'now', '1h', '02:00']) expect(isLocalTime(t)).toBe(false);
    expect(zoneOfSchedule({ kind: 'cron', timezone: 'Europe/Berlin' })).toBe('Europe/Berlin');
    expect(zoneOfSchedule({ kind: 'interval' })).toBe('UTC');
    expect(zoneOfSchedule({ kind: 'once' })).toBe('UTC');
  });

  it('--at (default now) or --last n, not both; a bad value is a usage error before anything connects', async () => {
    expect(explainMode((await parsed<ExplainArgs>('explain', ['j'])).opts)).toEqual({ kind: 'at', at: 'now' });
    expect(explainMode((await parsed<ExplainArgs>('explain', ['j', '--at', '2026-12-01T02:00'])).opts)).toEqual({ kind: 'at', at: '2026-12-01T02:00' });
    expect(explainMode((await parsed<ExplainArgs>('explain', ['j', '--last', '10'])).opts)).toEqual({ kind: 'last', count: 10 });
    expect(await usage(['explain', 'j', '--at', 'now', '--last', '3'])).toContain('--at, --last: give one');
    expect(await usage(['explain', 'j', '--last', '0'])).toContain('--last must be 1 or more');
    expect(await usage(['explain', 'j', '--at', 'soon'])).toContain(`--at "soon": give now, a local time in the job's zone`);
    expect(await usage(['explain', 'no.such'])).toContain('jobId "no.such"');
    expect(await refused('explain', ['j', '--last', 'x'])).toContain('must be a whole number');
    expect(await refused('explain', [])).toContain("missing required argument 'jobId'");
  });

  const event = (id: string, type: SchedulerEvent['type'], at: string, data: Record<string, unknown>, executionId?: string): SchedulerEvent => ({
    id,
    type,
    at,
    orchestratorId: 'acme',
    jobId: 'nightly',
    ...(executionId !== undefined && { executionId }),
    data,
  });

  it('prints the answer as a sentence, then the events it was derived from, one event line each', () => {
    const skipped = event('e2', 'trigger.skipped', '2026-12-01T01:00:00.003Z', { scheduledAt: '2026-12-01T01:00:00.000Z', reason: 'overlap' });
    const r: ExplainResult = {
      slot: { scheduledAt: '2026-12-01T01:00:00.000Z' },
      outcome: 'skipped',
      reason: 'overlap',
      sentence: 'the 2026-12-01 02:00 Europe/Berlin slot was skipped: execution x was still running (overlap policy skip)',
      eventIds: ['e2', 'gone'],
    };
    expect(explainLines(r, [skipped]).split('\n')).toEqual([
      'The 2026-12-01 02:00 Europe/Berlin slot was skipped: execution x was still running (overlap policy skip).',
      `  ${eventLine(skipped)}`,
      '  gone  (no longer in the events stream)',
    ]);
    expect(sentenceOf({ sentence: 'done.' })).toBe('Done.');
    expect(explainLines({ ...r, outcome: 'no_slot', slot: null, sentence: 'no slot', eventIds: [] }, [])).toBe('No slot.');
  });

  it('reads the events of the job without following, in the order of the ids, and stops once all are found', async () => {
    const trail = [1, 2, 3, 4, 5].map((k) => event(`e${k}`, 'transition', iso(NOW + k), {}));
    let read = 0;
    let asked: EventsOptions | undefined;
    const client = {
      events: (opts: EventsOptions) => {
        asked = opts;
        return (async function* () {
          for (const e of trail) {
            read++;
            yield e;
          }
        })();
      },
    } as unknown as Parameters<typeof eventsById>[0];
    expect((await eventsById(client, 'nightly', ['e3', 'e1'])).map((e) => e.id)).toEqual(['e3', 'e1']);
    expect(asked).toEqual({ jobId: 'nightly', follow: false });
    expect(read).toBe(3);
    expect((await eventsById(client, 'nightly', ['e2', 'nope'])).map((e) => e.id)).toEqual(['e2']);
    read = 0;
    expect(await eventsById(client, 'nightly', [])).toEqual([]);
    expect(read).toBe(0);
  });
});

describe('schedctl explain: --last', () => {
  /** A scheduler's explain over an interval job created at `created`: a slot every 10 minutes. */
  function fakeClient(created: number, step = 10 * MIN) {
    const asked: string[] = [];
    const client = {
      explain: async (jobId: string, at: string | Date): Promise<ExplainResult> => {
        const t = typeof at === 'string' ? Date.parse(at) : at.getTime();
        asked.push(iso(t));
        const slot = Math.floor(t / step) * step;
        if (slot < created) return { slot: { scheduledAt: iso(slot) }, outcome: 'before_start', sentence: `${jobId} was created after it`, eventIds: [] };
        return { slot: { scheduledAt: iso(slot) }, outcome: (slot / step) % 2 ? 'skipped' : 'dispatched', sentence: `slot ${iso(slot)}`, eventIds: [] };
      },
    };
    return { client, asked };
  }
  const base = Math.floor(NOW / (10 * MIN)) * 10 * MIN;

  it('asks at now, then 1 ms before each slot it was told about, newest first', async () => {
    const { client, asked } = fakeClient(base - 24 * HOUR);
    const { answers, end } = await explainLast(client, { jobId: 'j', endAt: null }, 3, NOW);
    expect(answers.map((a) => a.slot!.scheduledAt)).toEqual([iso(base), iso(base - 10 * MIN), iso(base - 20 * MIN)]);
    expect(asked).toEqual([iso(NOW), iso(base - 1), iso(base - 10 * MIN - 1)]);
    expect(end).toBeUndefined();
  });

  it('stops at a slot before the job existed (before_start) or no slot, and returns that answer', async () => {
    const { client } = fakeClient(base - 15 * MIN);
    const r = await explainLast(client, { jobId: 'j', endAt: null }, 10, NOW);
    expect(r.answers.map((a) => a.slot!.scheduledAt)).toEqual([iso(base), iso(base - 10 * MIN)]);
    expect(r.end).toMatchObject({ outcome: 'before_start' });
    const none = { explain: async (): Promise<ExplainResult> => ({ slot: null, outcome: 'no_slot', sentence: 'none', eventIds: [] }) };
    expect(await explainLast(none, { jobId: 'j', endAt: null }, 5, NOW)).toEqual({ answers: [], end: { slot: null, outcome: 'no_slot', sentence: 'none', eventIds: [] } });
  });

  it("starts at the job's end once it is past, and hands each answer over as it comes", async () => {
    const { client, asked } = fakeClient(base - 24 * HOUR);
    const seen: string[] = [];
    await explainLast(client, { jobId: 'j', endAt: iso(base - HOUR + 1) }, 2, NOW, (r) => seen.push(r.slot!.scheduledAt));
    expect(asked[0]).toBe(iso(base - HOUR + 1));
    expect(seen).toEqual([iso(base - HOUR), iso(base - HOUR - 10 * MIN)]);
  });

  it('never asks again about a later instant (a reply after `at` ends the list)', async () => {
    let calls = 0;
    const odd = { explain: async (): Promise<ExplainResult> => (calls++, { slot: { scheduledAt: iso(NOW + HOUR) }, outcome: 'not_yet', sentence: 'later', eventIds: [] }) };
    expect((await explainLast(odd, { jobId: 'j', endAt: null }, 5, NOW)).answers).toHaveLength(1);
    expect(calls).toBe(1);
  });

  it("prints one line per slot: its local time in the job's zone, the outcome, the answer; then why it stopped", () => {
    const answers: ExplainResult[] = [
      { slot: { scheduledAt: '2026-12-01T01:00:00.000Z' }, outcome: 'skipped', reason: 'overlap', sentence: 'the 02:00 slot was skipped', eventIds: ['a'] },
      { slot: { scheduledAt: '2026-11-30T01:00:00.000Z' }, outcome: 'dispatched', sentence: 'the 02:00 slot was dispatched', eventIds: ['b'] },
    ];
    const end: ExplainResult = { slot: { scheduledAt: '2026-11-29T01:00:00.000Z' }, outcome: 'before_start', sentence: 'the job was created after it', eventIds: [] };
    expect(explainLastTable(answers, 'Europe/Berlin', end).split('\n')).toEqual([
      'SLOT (Europe/Berlin)        OUTCOME     ANSWER',
      '2026-12-01 02:00:00 +01:00  skipped     The 02:00 slot was skipped.',
      '2026-11-30 02:00:00 +01:00  dispatched  The 02:00 slot was dispatched.',
      'no earlier slot: The job was created after it.',
    ]);
    expect(explainLastTable([], 'UTC', { slot: null, outcome: 'no_slot', sentence: 'none', eventIds: [] })).toBe('no earlier slot: None.');
    expect(localTime('2026-07-01T00:00:00.000Z', 'Europe/Berlin')).toBe('2026-07-01 02:00:00 +02:00');
  });
});
