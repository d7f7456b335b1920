import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { compare, loadJobs } from '../../src/cli/apply.js';
import { UsageError, backfillOptions, createBody, updatePatch, type BackfillArgs, type SpecOptions } from '../../src/cli/args.js';
import { backfillLines, jobDetails } from '../../src/cli/format.js';
import { EXIT_USAGE, buildProgram, run, type Io } from '../../src/cli/program.js';
import type { JobView } from '../../src/client/types.js';
import { backfillBodySchema, createBodySchema, patchSchema } from '../../src/contract/schemas.js';

/**
 * schedctl's options for SPEC §10: --jitter, --max-runs, --pause-on-failure, the new --overlap
 * policies, and the backfill command. The real commander program parses the arguments; the
 * action is replaced by one that captures what the command would send, so nothing connects.
 */

const NOW = Date.now();
const HOUR = 3_600_000;
/** An hour boundary some days before now: instants derived from the clock at test time. */
const base = Math.floor(NOW / HOUR) * HOUR - 72 * HOUR;
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

/** What commander refuses: the message it writes (and it throws a CommanderError). */
async function refused(command: string, argv: string[]): Promise<string> {
  const o = io();
  const program = buildProgram(o, { exitCode: 0 });
  program.commands.find((c) => c.name() === command)!.action(() => expect.fail('the action must not run'));
  await expect(program.parseAsync(['node', 'schedctl', command, ...argv])).rejects.toBeInstanceOf(CommanderError);
  return o.stderr();
}

const schedule = ['--every', '1h', '--command', 'sync'];

describe('schedctl create/update: --jitter, --max-runs, --pause-on-failure, --overlap', () => {
  it('create: every new option into the body, which the create schema accepts', async () => {
    const { args, opts } = await parsed<SpecOptions>('create', ['j', ...schedule, '--jitter', '30s', '--max-runs', '5', '--pause-on-failure', '--overlap', 'buffer_all']);
    const body = createBody(args[0] as string, opts);
    expect(body).toMatchObject({ jobId: 'j', jitterMs: '30s', maxRuns: 5, pauseOnFailure: true, overlapPolicy: 'buffer_all' });
    expect(createBodySchema.parse(body)).toMatchObject({ jitterMs: 30_000, maxRuns: 5, pauseOnFailure: true, overlapPolicy: 'buffer_all' });
  });

  it('create: left out, none of them is sent (the scheduler defaults apply); plain digits are ms', async () => {
    const none = createBody('j', (await parsed<SpecOptions>('create', ['j', ...schedule])).opts);
    expect(Object.keys(none).filter((k) => ['jitterMs', 'maxRuns', 'pauseOnFailure', 'overlapPolicy'].includes(k))).toEqual([]);
    const ms = createBody('j', (await parsed<SpecOptions>('create', ['j', ...schedule, '--jitter', '1500', '--no-pause-on-failure'])).opts);
    expect(ms).toMatchObject({ jitterMs: 1500, pauseOnFailure: false });
  });

  it.each(['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow'])('--overlap %s is accepted', async (policy) => {
    const { opts } = await parsed<SpecOptions>('update', ['j', '--overlap', policy]);
    expect(updatePatch(opts)).toEqual({ overlapPolicy: policy });
    expect(patchSchema.parse(updatePatch(opts)).overlapPolicy).toBe(policy);
  });

  it('--overlap refuses other words, listing the policies', async () => {
    const err = await refused('create', ['j', ...schedule, '--overlap', 'cancel']);
    expect(err).toContain("option '--overlap <policy>' argument 'cancel' is invalid");
    for (const p of ['buffer_all', 'cancel_other', 'terminate_other']) expect(err).toContain(p);
  });

  it('update: --max-runs none clears the limit, --no-pause-on-failure turns it off, --jitter 0 removes the jitter', async () => {
    const { opts } = await parsed<SpecOptions>('update', ['j', '--max-runs', 'none', '--no-pause-on-failure', '--jitter', '0']);
    const patch = updatePatch(opts);
    expect(patch).toEqual({ maxRuns: null, pauseOnFailure: false, jitterMs: 0 });
    expect(patchSchema.parse(patch)).toEqual({ maxRuns: null, pauseOnFailure: false, jitterMs: 0 });
    expect(updatePatch((await parsed<SpecOptions>('update', ['j', '--max-runs', '0', '--pause-on-failure'])).opts)).toEqual({ maxRuns: 0, pauseOnFailure: true });
  });

  it('--max-runs takes a whole number or none', async () => {
    for (const bad of ['-1', '2.5', 'many', '']) {
      expect(await refused('update', ['j', '--max-runs', bad])).toContain('must be a whole number, or none for no limit');
    }
  });

  it('--pause-on-failure and --no-pause-on-failure: the last one wins, as for --allow-overlap', async () => {
    expect(updatePatch((await parsed<SpecOptions>('update', ['j', '--pause-on-failure', '--no-pause-on-failure'])).opts)).toEqual({ pauseOnFailure: false });
    expect(updatePatch((await parsed<SpecOptions>('update', ['j', '--no-pause-on-failure', '--pause-on-failure'])).opts)).toEqual({ pauseOnFailure: true });
  });

  it('--spec / --patch fields are overridden by the options', async () => {
    const { args, opts } = await parsed<SpecOptions & { spec?: Record<string, unknown> }>('create', [
      'j',
      '--spec',
      JSON.stringify({ schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x' }, maxRuns: 3, jitterMs: '1m' }),
      '--max-runs',
      '7',
    ]);
    expect(createBody(args[0] as string, opts)).toMatchObject({ maxRuns: 7, jitterMs: '1m' });
  });
});

describe('schedctl backfill', () => {
  it('--from/--to (ISO-8601), --overlap allow, --dry-run: the options of client.backfill, valid for the schema', async () => {
    const { args, opts } = await parsed<BackfillArgs>('backfill', ['nightly', '--from', iso(base), '--to', iso(base + 5 * HOUR), '--overlap', 'allow', '--dry-run']);
    expect(args).toEqual(['nightly']);
    const o = backfillOptions(opts, NOW);
    expect(o).toEqual({ from: iso(base), to: iso(base + 5 * HOUR), overlapPolicy: 'allow', dryRun: true });
    expect(backfillBodySchema.parse({ jobId: 'nightly', ...o })).toEqual({ jobId: 'nightly', from: base, to: base + 5 * HOUR, overlapPolicy: 'allow', dryRun: true });
  });

  it('without --overlap and --dry-run neither is sent (the scheduler runs buffer_all); an instant with an offset is sent as written', async () => {
    const from = '2026-03-01T10:00:00+01:00';
    const { opts } = await parsed<BackfillArgs>('backfill', ['j', '--from', from, '--to', iso(Date.parse(from) + HOUR)]);
    expect(backfillOptions(opts, NOW)).toEqual({ from, to: iso(Date.parse(from) + HOUR) });
  });

  it('a duration ago and now, from the clock given', async () => {
    const { opts } = await parsed<BackfillArgs>('backfill', ['j', '--from', '2d', '--to', 'now']);
    expect(backfillOptions(opts, base)).toEqual({ from: iso(base - 48 * HOUR), to: iso(base) });
    expect(backfillOptions({ from: 'PT90M', to: '30m' }, base)).toEqual({ from: iso(base - 90 * 60_000), to: iso(base - 30 * 60_000) });
  });

  it('usage errors: --from not before --to, a word that is neither an instant nor a duration', () => {
    expect(() => backfillOptions({ from: iso(base), to: iso(base) }, NOW)).toThrow(UsageError);
    expect(() => backfillOptions({ from: iso(base + HOUR), to: iso(base) }, NOW)).toThrow(/must be before --to/);
    expect(() => backfillOptions({ from: 'yesterday', to: 'now' }, NOW)).toThrow(/--from "yesterday"/);
    expect(() => backfillOptions({ from: '2026-03-01T10:00:00', to: 'now' }, NOW)).toThrow(/with an offset/); // no offset: ambiguous
  });

  it('--from and --to are required; --overlap is buffer_all or allow', async () => {
    expect(await refused('backfill', ['j', '--from', iso(base)])).toContain("required option '--to <instant>' not specified");
    expect(await refused('backfill', ['j', '--to', iso(base)])).toContain("required option '--from <instant>' not specified");
    const err = await refused('backfill', ['j', '--from', iso(base), '--to', iso(base + HOUR), '--overlap', 'skip']);
    expect(err).toContain("argument 'skip' is invalid. Allowed choices are buffer_all, allow");
    expect(await refused('backfill', ['--from', iso(base), '--to', iso(base + HOUR)])).toContain("missing required argument 'jobId'");
  });

  it('run(): a usage error is exit 2 before anything connects', async () => {
    const o = io();
    // an address where nothing listens: reached only if the command tried to connect
    const code = await run(['node', 'schedctl', '--server', 'nats://127.0.0.1:1', '-o', 'acme', 'backfill', 'j', '--from', iso(base + HOUR), '--to', iso(base)], o);
    expect(code).toBe(EXIT_USAGE);
    expect(o.stderr()).toMatch(/^error: --from .* must be before --to/);
    expect(o.stderr()).not.toContain('cannot connect');
  });

  it('prints the slots of a dry run one per line with their count, and the backfill id of a real one', () => {
    const slots = [0, 1, 2].map((k) => iso(base + k * HOUR));
    expect(backfillLines('nightly', { count: 3, scheduledAt: slots }, true)).toBe([...slots, 'would backfill 3 slots of nightly'].join('\n'));
    expect(backfillLines('nightly', { count: 1500, scheduledAt: slots }, true).split('\n').at(-1)).toBe('would backfill 1500 slots of nightly (the first 3 listed)');
    expect(backfillLines('nightly', { count: 0, scheduledAt: [] }, true)).toBe('would backfill 0 slots of nightly');
    expect(backfillLines('nightly', { count: 3, scheduledAt: slots, backfillId: '2' }, false)).toBe('backfill 2 of nightly: 3 slots');
    expect(backfillLines('nightly', { count: 1, scheduledAt: slots.slice(0, 1), backfillId: 'a' }, false)).toBe('backfill a of nightly: 1 slot');
  });
});

describe('schedctl show: the policies and their state', () => {
  /** A job view as a scheduler would send it, from a file job's normalised spec. */
  function view(spec: Record<string, unknown>, extra: Partial<JobView> = {}): JobView {
    const [job] = loadJobs(JSON.stringify([{ jobId: 'j', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x' }, ...spec }]), 'x.json', NOW);
    return {
      ...(job!.normalized as object),
      jobId: 'j',
      orchestratorId: 'acme',
      pausedReason: null,
      state: 'running',
      nextRunAt: null,
      lastScheduledAt: null,
      lastFiredAt: null,
      lastResult: null,
      activeExecutions: [],
      bufferedSlot: null,
      bufferedSlots: 0,
      remainingRuns: null,
      backfills: [],
      counters: { dispatched: 9, succeeded: 4, failed: 0, cancelled: 1, terminated: 2, timedOut: 0, dispatchFailed: 0, skippedOverlap: 0, skippedBufferFull: 3, missed: 0 },
      revision: 1,
      createdAt: iso(base),
      updatedAt: iso(base),
      ...extra,
    } as JobView;
  }
  const line = (text: string, key: string): string[] => {
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.startsWith(`${key}  `));
    if (i < 0) throw new Error(`no line "${key}" in:\n${text}`);
    const out = [lines[i]!.slice(key.length).trim()];
    for (let k = i + 1; k < lines.length && /^\s/.test(lines[k]!); k++) out.push(lines[k]!.trim());
    return out;
  };

  it('jitter, max runs with the remaining runs, pause on failure, buffered slots, backfills, the terminated counter', () => {
    const text = jobDetails(
      view(
        { jitterMs: '90s', maxRuns: 10, pauseOnFailure: true, overlapPolicy: 'terminate_other' },
        {
          remainingRuns: 4,
          bufferedSlots: 3,
          bufferedSlot: { scheduledAt: iso(base) },
          backfills: [
            { backfillId: '1', from: iso(base), to: iso(base + 24 * HOUR), overlapPolicy: 'buffer_all', count: 24, dispatched: 5 },
            { backfillId: '2', from: iso(base), to: iso(base + 2 * HOUR), overlapPolicy: 'allow', count: 2, dispatched: 0 },
          ],
          activeExecutions: [
            { executionId: 'e1', scheduledAt: iso(base), trigger: 'backfill', state: 'running', dispatchedAt: iso(base), deadlineAt: iso(base + HOUR), cancelRequested: true },
          ],
        },
      ),
    );
    expect(line(text, 'overlap')).toEqual(['terminate_other']);
    expect(line(text, 'jitter')).toEqual(['up to 90s']);
    expect(line(text, 'max runs')).toEqual(['10 (4 remaining)']);
    expect(line(text, 'pause on failure')).toEqual(['yes']);
    expect(line(text, 'buffered')).toEqual([`3 slots, oldest ${iso(base)}`]);
    expect(line(text, 'backfills')).toEqual([
      `1 5/24 dispatched, [${iso(base)}, ${iso(base + 24 * HOUR)}) buffer_all`,
      `2 0/2 dispatched, [${iso(base)}, ${iso(base + 2 * HOUR)}) allow`,
    ]);
    expect(line(text, 'active')[0]).toMatch(/^e1 running backfill .* \(cancel requested\)$/);
    expect(line(text, 'counters')[0]).toContain('terminated 2');
    expect(line(text, 'counters')[0]).toContain('skippedBufferFull 3');
  });

  it('the defaults: no jitter, no limit, no pause on failure, nothing buffered, no backfill', () => {
    const text = jobDetails(view({}));
    expect(line(text, 'jitter')).toEqual(['none']);
    expect(line(text, 'max runs')).toEqual(['no limit']);
    expect(line(text, 'pause on failure')).toEqual(['no']);
    expect(line(text, 'buffered')).toEqual(['-']);
    expect(line(text, 'backfills')).toEqual(['-']);
  });
});

describe('schedctl apply: the policy fields are spec fields', () => {
  const file = (extra: Record<string, unknown>): string =>
    JSON.stringify([{ jobId: 'j', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x' }, ...extra }]);

  it('normalised like the scheduler does (jitter in ms) and compared; a changed maxRuns is patched', () => {
    const [have] = loadJobs(file({ jitterMs: '30s', maxRuns: 5, pauseOnFailure: true }), 'a.json', NOW);
    expect(have!.normalized).toMatchObject({ jitterMs: 30_000, maxRuns: 5, pauseOnFailure: true });
    const current = { ...have!.normalized, jobId: 'j', remainingRuns: 2 } as unknown as JobView;

    const [same] = loadJobs(file({ jitterMs: 30_000, maxRuns: 5, pauseOnFailure: true }), 'a.json', NOW);
    // written differently, same values: unchanged (remainingRuns is state, not spec)
    expect(compare(same!, current).changed).toEqual([]);

    const [changed] = loadJobs(file({ jitterMs: '30s', maxRuns: null }), 'a.json', NOW);
    const c = compare(changed!, current);
    expect(c.changed).toEqual(['maxRuns', 'pauseOnFailure']);
    expect(c.patch).toEqual({ maxRuns: null, pauseOnFailure: false });
    expect(c.diff).toEqual([
      { path: 'maxRuns', old: 5, new: null },
      { path: 'pauseOnFailure', old: true, new: false },
    ]);
  });

  it('the new overlap policies and an invalid jitter are checked before anything is sent', () => {
    const [j] = loadJobs(file({ overlapPolicy: 'cancel_other' }), 'a.json', NOW);
    expect(j!.normalized.overlapPolicy).toBe('cancel_other');
    // at most the period of an interval (SPEC §10)
    expect(() => loadJobs(file({ jitterMs: '2h' }), 'a.json', NOW)).toThrow(/jitterMs/);
    expect(() => loadJobs(file({ maxRuns: -1 }), 'a.json', NOW)).toThrow(/maxRuns/);
  });
});
