import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { WebSocket } from 'ws';
import { SchedulerClient, sinceToEpochMs } from '../client/client.js';
import { isSchedulerClientError, type SchedulerClientError } from '../client/errors.js';
import type { ExplainResult, JobView } from '../client/types.js';
import { BackfillPolicy, JobState, MisfirePolicy, OverlapPolicy, values } from '../contract/constants.js';
import { ID_PATTERN, PREFIX_PATTERN, isValidId, isValidPrefix, mustMatch } from '../contract/ids.js';
import { connectionOptions, type NatsSettings } from '../transport/connection.js';
import { parseDuration } from '../schedule/duration.js';
import { ConfigError, loadConfig } from '../config.js';
import { VERSION } from '../runtime/version.js';
import { eventsById, explainLast } from './explain.js';
import { ApplyFileError, applyJobs, loadJobs, parseSelector, resultLine, specDiff, type ApplyResult } from './apply.js';
import {
  UsageError,
  backfillOptions,
  createBody,
  durationArg,
  explainMode,
  instantIn,
  intArg,
  isLocalTime,
  jsonArg,
  jsonObjectArg,
  labelArg,
  maxRunsArg,
  needsCurrent,
  previewBody,
  updatePatch,
  zoneOfSchedule,
  type BackfillArgs,
  type ExplainArgs,
  type PreviewArgs,
  type SpecOptions,
} from './args.js';
import { backfillLines, dryRunLines, eventLine, explainLastTable, explainLines, jobDetails, jobTable, previewTable } from './format.js';

/** Exit codes: 0 ok, 1 the scheduler (or the server) refused or failed, 2 a usage error. */
export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM): ends `events --follow`. */
  interrupted: Promise<void>;
  /** All of standard input (`apply -f -`); default: read file descriptor 0. */
  stdin?: () => Promise<string>;
}

/** The global options, with the environment (`Io.env`) filled in where no option was given. */
interface GlobalOptions {
  /** `--server`, else NATS_URL; undefined: the default address (see {@link serverUrl}). */
  server: string | undefined;
  prefix: string;
  orchestrator?: string;
  json?: boolean;
  timeout: number;
}

/** A variable that is set and not empty (as the scheduler's configuration reads them). */
const envValue = (env: Record<string, string | undefined>, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
};

function globalOptions(cmd: Command, env: Record<string, string | undefined>): GlobalOptions {
  const o = cmd.optsWithGlobals<Omit<GlobalOptions, 'prefix'> & { prefix?: string }>();
  const orchestrator = o.orchestrator ?? envValue(env, 'SCHED_ORCHESTRATOR');
  return {
    ...o,
    server: o.server ?? envValue(env, 'NATS_URL'),
    prefix: o.prefix ?? envValue(env, 'SCHED_PREFIX') ?? 'sched',
    ...(orchestrator !== undefined && { orchestrator }),
  };
}

/**
 * The NATS URL: `--server`, else NATS_URL, else where the scheduler listens by default (its
 * embedded server when none answers there): `nats://127.0.0.1:<SCHED_DEFAULT_NATS_PORT>`, 4222 when
 * unset, read with the scheduler's own configuration rules (src/config.ts).
 */
function serverUrl(g: GlobalOptions, env: Record<string, string | undefined>): string {
  if (g.server !== undefined) return g.server;
  try {
    return `nats://127.0.0.1:${loadConfig({ SCHED_DEFAULT_NATS_PORT: env.SCHED_DEFAULT_NATS_PORT }).SCHED_DEFAULT_NATS_PORT}`;
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message.replace(/^invalid configuration: /, ''));
    throw err;
  }
}

/** A connection and a client for one command, closed when it is done. */
class Session {
  private nc: NatsConnection | null = null;

  constructor(
    private readonly g: GlobalOptions,
    private readonly env: Record<string, string | undefined>,
  ) {}

  async client(): Promise<SchedulerClient> {
    const orchestratorId = this.g.orchestrator;
    if (orchestratorId === undefined || orchestratorId === '') {
      throw new UsageError('an orchestrator is required: -o/--orchestrator <id> or SCHED_ORCHESTRATOR');
    }
    if (!isValidId(orchestratorId)) throw new UsageError(`orchestrator "${orchestratorId}" ${mustMatch(ID_PATTERN)}`);
    this.checkPrefix();
    const nc = await this.connect();
    return new SchedulerClient({ nc, prefix: this.g.prefix, orchestratorId, timeoutMs: this.g.timeout });
  }

  /** A connection without an orchestrator (for operator commands). */
  async connection(): Promise<NatsConnection> {
    this.checkPrefix();
    return this.connect();
  }

  private checkPrefix(): void {
    if (!isValidPrefix(this.g.prefix)) throw new UsageError(`prefix "${this.g.prefix}" ${mustMatch(PREFIX_PATTERN)}`);
  }

  private async connect(): Promise<NatsConnection> {
    const server = serverUrl(this.g, this.env);
    // every NATS_* variable the scheduler reads (credentials, TLS files), --server over NATS_URL
    const settings: NatsSettings = { ...this.env, NATS_URL: server };
    let nc: NatsConnection;
    try {
      nc = await connect({ ...connectionOptions(settings, 'schedctl'), timeout: Math.min(this.g.timeout, 5_000) });
    } catch (err) {
      throw new ConnectError(`cannot connect to ${server}: ${(err as Error).message}`);
    }
    this.nc = nc;
    return nc;
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = null;
    if (nc) await nc.close().catch(() => undefined);
  }
}

class ConnectError extends Error {
  override readonly name = 'ConnectError';
}

const SPEC_HELP = `
Durations are milliseconds or 500ms, 30s, 15m, 2h, 1d, PT15M. Instants are ISO-8601 with an
offset (2026-12-01T00:00:00Z). JSON values are given inline or as @file (@- reads stdin).`;

/** The schedule of a job spec: `--cron` (with `--timezone`), `--every` or `--at`. */
function addScheduleOptions(cmd: Command): Command {
  return cmd
    .option('--cron <expression>', 'cron schedule (5 fields, or 6 with seconds first)')
    .option('--timezone <zone>', 'IANA time zone of --cron (default UTC)')
    .addOption(new Option('--every <duration>', 'interval schedule').argParser(durationArg))
    .option('--at <instant>', 'one-time schedule');
}

/** The options of a job spec, for `create` (all of them) and `update` (no --paused, `none` clears). */
function addSpecOptions(cmd: Command, forUpdate: boolean): Command {
  const durations: [string, string][] = [
    ['--misfire-grace <duration>', 'how late a slot may fire normally (misfireGraceMs, default 60s)'],
    ['--max-runtime <duration>', 'time out an execution without completion or heartbeat (maxRuntimeMs, default 1h)'],
    ['--dispatch-timeout <duration>', 'wait for the dispatch reply (dispatchTimeoutMs, default 5s)'],
    ['--retry-backoff <duration>', 'pause between dispatch attempts (dispatchRetry.backoffMs, default 1s)'],
  ];
  addScheduleOptions(cmd)
    .option('--workflow <workflowId>', 'target: start this workflow (workflow_start)')
    .addOption(new Option('--inputs <json>', 'inputs of the workflow (JSON or @file)').argParser(jsonArg))
    .option('--command <command>', 'target: run this command (command)')
    .addOption(new Option('--args <json>', 'args of the command (JSON or @file)').argParser(jsonArg))
    .option('--name <name>', forUpdate ? 'display name ("" clears it)' : 'display name')
    .addOption(new Option('--label <key=value>', 'a label (repeatable; replaces all labels)').argParser(labelArg))
    .option('--start-at <instant>', forUpdate ? 'no slot before this instant (none clears it)' : 'no slot before this instant')
    .option('--end-at <instant>', forUpdate ? 'no slot after this instant (none clears it)' : 'no slot after this instant')
    .addOption(
      new Option(
        '--overlap <policy>',
        'overlap policy: skip (default), buffer_one, buffer_all (every slot waits, in order), cancel_other (ask the running execution to stop, then run), terminate_other (end it at once and run), allow',
      ).choices(values(OverlapPolicy)),
    )
    .option('--allow-overlap', 'same as --overlap allow')
    .option('--no-allow-overlap', 'allowOverlap: false')
    .addOption(new Option('--misfire <policy>', 'misfire policy').choices(values(MisfirePolicy)));
  for (const [flags, text] of durations) cmd.addOption(new Option(flags, text).argParser(durationArg));
  cmd.addOption(new Option('--retry-attempts <n>', 'dispatch attempts in all (dispatchRetry.attempts, default 3)').argParser(intArg));
  cmd
    .addOption(new Option('--jitter <duration>', 'fire each slot up to this much late, the same delay for a slot every time (jitterMs, default 0)').argParser(durationArg))
    .addOption(
      new Option('--max-runs <n|none>', `executions the schedule may start${forUpdate ? ' from now (resets remainingRuns)' : ''}; none: no limit (maxRuns, default none)`).argParser(maxRunsArg),
    )
    .option('--pause-on-failure', 'pause the job when an execution fails, times out or cannot be dispatched (pauseOnFailure)')
    .option('--no-pause-on-failure', 'pauseOnFailure: false (the default)');
  if (!forUpdate) cmd.option('--paused', 'create the job paused');
  return cmd;
}

/** Builds the `schedctl` program. Actions set `exitCode`; nothing calls process.exit. */
export function buildProgram(io: Io, result: { exitCode: number }): Command {
  const program = new Command('schedctl');
  program
    .description('Manage the jobs of an orchestrator on a NATS scheduler (SPEC: subjects P.<o>.schedule.<op>).')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(run with --help for usage)')
    .version(VERSION, '-V, --version', 'print the version of schedctl')
    .addOption(
      new Option(
        '--server <url>',
        'NATS server URL(s), comma separated (env: NATS_URL; default: nats://127.0.0.1:$SCHED_DEFAULT_NATS_PORT, port 4222 when unset, where the scheduler\'s embedded server listens)',
      ),
    )
    .addOption(new Option('--prefix <prefix>', 'subject prefix of the scheduler (env: SCHED_PREFIX; default: sched)'))
    .addOption(new Option('-o, --orchestrator <id>', 'orchestrator the jobs belong to (env: SCHED_ORCHESTRATOR)'))
    .addOption(new Option('--timeout <duration>', 'request timeout').default(10_000, '10s').argParser(durationMs))
    .option('--json', 'print raw JSON (the scheduler\'s replies; events as one JSON object per line)')
    .addHelpText('after', `
Credentials and TLS come from the scheduler's variables: NATS_USER/NATS_PASS, NATS_TOKEN, NATS_CREDS,
NATS_CA/NATS_CERT/NATS_KEY.
Exit codes: 0 ok, 1 error from the scheduler ("error <code>: <message>"), 2 usage.`);

  /** Runs an action with a session; maps errors to exit codes. */
  const action =
    <A extends unknown[]>(fn: (s: Session, g: GlobalOptions, ...args: A) => Promise<void | number>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const g = globalOptions(cmd, io.env);
      const session = new Session(g, io.env);
      try {
        // an action returns an exit code when it reports its own failures (apply)
        result.exitCode = (await fn(session, g, ...(args.slice(0, -1) as A))) ?? EXIT_OK;
      } catch (err) {
        result.exitCode = report(err, g, io);
      } finally {
        await session.close();
      }
    };

  const print = (g: GlobalOptions, reply: object, human: () => string): void => {
    io.out(`${g.json ? JSON.stringify({ ok: true, ...reply }) : human()}\n`);
  };

  addSpecOptions(
    program
      .command('create')
      .description('create a job: a schedule (--cron, --every or --at) and a target (--workflow or --command)')
      .argument('[jobId]', 'job id (generated when left out)')
      .addOption(new Option('--spec <json>', 'a whole job spec (JSON or @file); options override its fields').argParser(jsonObjectArg)),
    false,
  )
    .addHelpText('after', SPEC_HELP)
    .action(
      action(async (s, g, jobId: string | undefined, o: SpecOptions & { spec?: Record<string, unknown> }) => {
        const body = createBody(jobId, o);
        const job = await (await s.client()).create(body);
        print(g, { job }, () => jobDetails(job));
      }),
    );

  program
    .command('list')
    .description('list the jobs: job, state, schedule, next run, last result')
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(values(JobState)))
    .addOption(new Option('--label <key=value>', 'only jobs with this label (repeatable)').argParser(labelArg))
    .addOption(new Option('--limit <n>', 'jobs per page (default 100, max 1000)').argParser(intArg))
    .option('--cursor <cursor>', 'continue after this cursor (from a previous page)')
    .option('--all', 'follow the cursor through every page')
    .action(
      action(async (s, g, o: { state?: JobState; label?: Record<string, string>; limit?: number; cursor?: string; all?: boolean }) => {
        const client = await s.client();
        const query = {
          ...(o.state !== undefined && { state: o.state }),
          ...(o.label !== undefined && { labels: o.label }),
          ...(o.limit !== undefined && { limit: o.limit }),
        };
        if (o.all) {
          const jobs: JobView[] = [];
          for await (const j of client.listAll(query)) jobs.push(j);
          print(g, { jobs }, () => (jobs.length ? jobTable(jobs) : 'no jobs'));
          return;
        }
        const page = await client.list(o.cursor === undefined ? query : { ...query, cursor: o.cursor });
        print(g, page, () =>
          (page.jobs.length ? jobTable(page.jobs) : 'no jobs') + (page.nextCursor ? `\nmore: --cursor ${page.nextCursor} (or --all)` : ''),
        );
      }),
    );

  program
    .command('show')
    .description('show everything about a job, with its next runs and active executions')
    .argument('<jobId>')
    .action(
      action(async (s, g, jobId: string) => {
        const job = await (await s.client()).show(jobId);
        print(g, { job }, () => jobDetails(job));
      }),
    );

  addSpecOptions(
    program
      .command('update')
      .description('change a job: give only what changes (a new schedule counts from now)')
      .argument('<jobId>')
      .addOption(new Option('--patch <json>', 'a patch (JSON or @file); options override its fields').argParser(jsonObjectArg))
      .addOption(new Option('--expected-revision <n>', 'refuse (conflict) unless the job is at this revision').argParser(intArg))
      .option('--dry-run', 'change nothing: print the fields that would change (field: old → new) and the next runs before and after'),
    true,
  )
    .addHelpText('after', SPEC_HELP)
    .action(
      action(async (s, g, jobId: string, o: SpecOptions & { patch?: Record<string, unknown>; expectedRevision?: number; dryRun?: boolean }) => {
        const client = await s.client();
        // a dry run compares with the job as it is now
        const current = needsCurrent(o) || o.dryRun ? await client.show(jobId) : undefined;
        const patch = updatePatch(o, current);
        const opts = o.expectedRevision === undefined ? {} : { expectedRevision: o.expectedRevision };
        if (o.dryRun) {
          const r = await client.updateDryRun(jobId, patch, opts);
          print(g, r, () => dryRunLines(jobId, specDiff(current!, r.job), r));
          return;
        }
        const job = await client.update(jobId, patch, opts);
        print(g, { job }, () => jobDetails(job));
      }),
    );

  program
    .command('pause')
    .description('pause a job (idempotent); active executions go on')
    .argument('<jobId>')
    .option('--reason <text>', 'why (shown by show)')
    .action(
      action(async (s, g, jobId: string, o: { reason?: string }) => {
        const job = await (await s.client()).pause(jobId, o.reason === undefined ? {} : { reason: o.reason });
        print(g, { job }, () => jobDetails(job));
      }),
    );

  program
    .command('resume')
    .description('resume a job from the first slot after now')
    .argument('<jobId>')
    .action(
      action(async (s, g, jobId: string) => {
        const job = await (await s.client()).resume(jobId);
        print(g, { job }, () => jobDetails(job));
      }),
    );

  program
    .command('delete')
    .description('delete a job')
    .argument('<jobId>')
    .action(
      action(async (s, g, jobId: string) => {
        await (await s.client()).delete(jobId);
        print(g, {}, () => `deleted ${jobId}`);
      }),
    );

  program
    .command('apply')
    .description('make the jobs of a file so: create the missing, update those that differ, leave the rest')
    .requiredOption('-f, --file <file>', 'YAML or JSON: a list of job specs or {jobs: [...]}, each with a jobId (- reads stdin)')
    .option('--dry-run', 'change nothing: print what would change, field by field (old → new)')
    .option('--prune', 'also delete the jobs with the --selector labels that the file does not name')
    .option('--selector <key=value,...>', 'the labels a job must all have for --prune to delete it')
    .addHelpText('after', APPLY_HELP)
    .action(
      action(async (s, g, o: { file: string; dryRun?: boolean; prune?: boolean; selector?: string }) => {
        if (o.prune && o.selector === undefined) {
          throw new UsageError('--prune needs --selector key=value[,key=value]: it deletes only jobs with those labels');
        }
        if (!o.prune && o.selector !== undefined) throw new UsageError('--selector goes with --prune');
        const prune = o.selector === undefined ? undefined : parseSelector(o.selector);
        const source = o.file === '-' ? 'stdin' : o.file;
        let text: string;
        try {
          text = o.file === '-' ? await (io.stdin ?? (async () => readFileSync(0, 'utf8')))() : readFileSync(o.file, 'utf8');
        } catch (err) {
          throw new UsageError(`cannot read ${source}: ${(err as Error).message}`);
        }
        let jobs;
        try {
          jobs = loadJobs(text, source, Date.now());
        } catch (err) {
          if (err instanceof ApplyFileError && g.json) {
            const details = err.problems.map((p) => ({ path: p.at, message: p.message }));
            io.out(`${JSON.stringify({ ok: false, error: { code: 'invalid_request', message: `${source}: nothing applied`, details } })}\n`);
          }
          throw err;
        }
        const client = await s.client();
        const dryRun = o.dryRun ?? false;
        const results: ApplyResult[] = await applyJobs(client, jobs, { dryRun, ...(prune !== undefined && { prune }) }, (r) => {
          if (r.action === 'error') io.err(`${resultLine(r, dryRun)}\n`);
          else if (!g.json) io.out(`${resultLine(r, dryRun)}\n`);
        });
        const failed = results.some((r) => r.action === 'error');
        if (g.json) io.out(`${JSON.stringify({ ok: !failed, dryRun, results })}\n`);
        return failed ? EXIT_ERROR : EXIT_OK;
      }),
    );

  program
    .command('run-now')
    .description('dispatch one execution now (the overlap policy applies unless --ignore-overlap)')
    .argument('<jobId>')
    .addOption(new Option('--inputs <json>', 'inputs for this execution (JSON or @file)').argParser(jsonArg))
    .option('--ignore-overlap', 'dispatch even if an execution is active')
    .action(
      action(async (s, g, jobId: string, o: { inputs?: unknown; ignoreOverlap?: boolean }) => {
        const r = await (await s.client()).runNow(jobId, {
          ...(o.inputs !== undefined && { inputs: o.inputs }),
          ...(o.ignoreOverlap && { ignoreOverlap: true }),
        });
        print(g, r, () => r.executionId);
      }),
    );

  program
    .command('backfill')
    .description("run the job's slots in [--from, --to) now (trigger backfill): one after another, or all at once with --overlap allow")
    .argument('<jobId>')
    .requiredOption('--from <instant>', 'first instant (inclusive): ISO-8601 with an offset, a duration ago (7d, 12h) or now')
    .requiredOption('--to <instant>', 'last instant (exclusive), as --from')
    .addOption(new Option('--overlap <policy>', 'buffer_all: one after another, in slot order (default); allow: all at once').choices(values(BackfillPolicy)))
    .option('--dry-run', 'dispatch nothing: print the slots it would run (the first 1000) and their count')
    .addHelpText('after', `
Works on paused jobs; does not move the next run and does not count against --max-runs. More than
SCHED_MAX_BACKFILL slots (default 10000) is refused (limit_exceeded).
Prints the backfill id and the number of slots; with --dry-run each slot on a line, then the count.`)
    .action(
      action(async (s, g, jobId: string, o: BackfillArgs) => {
        const opts = backfillOptions(o, Date.now());
        const r = await (await s.client()).backfill(jobId, opts);
        print(g, r, () => backfillLines(jobId, r, opts.dryRun === true));
      }),
    );

  addScheduleOptions(
    program
      .command('preview')
      .description("list the slots a schedule would have, with their wall time and DST notes (no job needed, nothing stored)"),
  )
    .option('--start-at <instant>', 'no slot before this instant (startAt)')
    .option('--end-at <instant>', 'no slot after this instant (endAt)')
    .addOption(new Option('--jitter <duration>', 'the jitter of the job (jitterMs)').argParser(durationArg))
    .option('--from <time>', "the first slot at or after this: now (default), a local time in the schedule's zone (2026-03-27T00:00) or an instant with an offset")
    .addOption(new Option('--count <n>', 'how many slots (default 10, at most 1000)').argParser(intArg))
    .addHelpText('after', `
Prints UTC, LOCAL (the wall time in the schedule's zone), OFFSET and NOTE: dst_gap (the local time
did not exist and the slot moved past the gap) or dst_repeat (a repeated local hour).
  schedctl -o acme preview --cron '30 2 * * *' --timezone Europe/Berlin --from 2026-03-27 --count 5`)
    .action(
      action(async (s, g, o: PreviewArgs) => {
        const body = previewBody(o, Date.now());
        const r = await (await s.client()).preview(body);
        print(g, r, () => previewTable(r.runs));
      }),
    );

  program
    .command('explain')
    .description("say what happened to a job's slot, from its audit trail, with the events it was derived from")
    .argument('<jobId>')
    .option('--at <time>', "the slot at or just before this: now (default), a local time in the job's zone (2026-12-01T02:00), an instant with an offset, or a duration ago (1h)")
    .addOption(new Option('--last <n>', 'explain the last n slots, newest first, one line each').argParser(intArg))
    .addHelpText('after', `
A local time is read in the job's zone: its cron timezone, else UTC. --at prints the answer, then
the events it was derived from; --last prints one line per slot (its local time, the outcome,
the answer). With --json, the scheduler's reply (one per line with --last).`)
    .action(
      action(async (s, g, jobId: string, o: ExplainArgs) => {
        if (!isValidId(jobId)) throw new UsageError(`jobId "${jobId}" ${mustMatch(ID_PATTERN)}`);
        const mode = explainMode(o);
        const now = Date.now();
        const line = (r: ExplainResult): void => io.out(`${JSON.stringify({ ok: true, ...r })}\n`);
        if (mode.kind === 'at') {
          // a local time needs the job's zone; anything else is checked before connecting
          const at = isLocalTime(mode.at) ? null : instantIn('--at', mode.at, 'UTC', now, true, "the job's zone");
          const client = await s.client();
          const r = await client.explain(jobId, at ?? instantIn('--at', mode.at, zoneOfSchedule((await client.show(jobId)).schedule), now, true));
          if (g.json) line(r);
          else io.out(`${explainLines(r, await eventsById(client, jobId, r.eventIds))}\n`);
          return;
        }
        const client = await s.client();
        const job = await client.show(jobId);
        const { answers, end } = await explainLast(client, job, mode.count, now, g.json ? line : undefined);
        if (g.json) {
          if (end !== undefined) line(end);
          return;
        }
        io.out(`${explainLastTable(answers, zoneOfSchedule(job.schedule), end)}\n`);
      }),
    );

  program
    .command('events')
    .description('audit events of the orchestrator, or of one job, from the durable events stream')
    .argument('[jobId]', 'only this job')
    .option('--since <time>', 'from this instant (ISO-8601) or this long ago (15m, 2h, 1d); default: all kept')
    .option('-f, --follow', 'keep waiting for new events (Ctrl-C ends)')
    .action(
      action(async (s, g, jobId: string | undefined, o: { since?: string; follow?: boolean }) => {
        if (jobId !== undefined && !isValidId(jobId)) throw new UsageError(`jobId "${jobId}" ${mustMatch(ID_PATTERN)}`);
        if (o.since !== undefined && sinceToEpochMs(o.since, Date.now()) === null) {
          throw new UsageError(`--since "${o.since}": give an ISO-8601 instant with an offset or a duration (15m, 2h, 1d)`);
        }
        const client = await s.client();
        const stream = client.events({
          ...(jobId !== undefined && { jobId }),
          ...(o.since !== undefined && { since: o.since }),
          follow: o.follow ?? false,
        });
        void io.interrupted.then(() => stream.close());
        for await (const e of stream) io.out(`${g.json ? JSON.stringify(e) : eventLine(e)}\n`);
      }),
    );

  program
    .command('machine')
    .description('the job state machine: its definition as JSON, or a Mermaid diagram')
    .option('--mermaid', 'print a Mermaid stateDiagram-v2')
    .option('--job <jobId>', 'mark the current state of this job (fetched with show; needs -o)')
    .action(
      action(async (s, g, o: { mermaid?: boolean; job?: string }) => {
        const job = o.job === undefined ? undefined : await (await s.client()).show(o.job);
        // loaded here only: the other commands do without XState
        const [{ jobMachine }, { toMermaid }] = await Promise.all([import('../machines/jobMachine.js'), import('./mermaid.js')]);
        if (o.mermaid) {
          io.out(
            `${toMermaid(jobMachine, job ? { current: job.state, currentNote: `job ${job.jobId} (${job.orchestratorId}) is here` } : {})}\n`,
          );
          return;
        }
        const definition = jobMachine.toJSON();
        io.out(`${JSON.stringify(job ? { jobId: job.jobId, orchestratorId: job.orchestratorId, state: job.state, machine: definition } : definition, null, g.json ? undefined : 2)}\n`);
      }),
    );

  program
    .command('replicas')
    .description('the live scheduler replicas and the orchestrators each owns (from the P_leases bucket)')
    .action(
      action(async (s, g) => {
        const nc = await s.connection();
        const { Kvm } = await import('@nats-io/kv');
        const kv = await new Kvm(nc).open(`${g.prefix}_leases`, { bindOnly: true }).catch(() => {
          throw new ConnectError(`no lease bucket ${g.prefix}_leases: is a scheduler with prefix "${g.prefix}" running?`);
        });
        const owners = new Map<string, string[]>();
        // the listing follows the bucket while it is read: a lease renewed meanwhile comes again
        const keys = new Set<string>();
        for await (const key of await kv.keys()) keys.add(key);
        for (const key of keys) {
          if (key.startsWith('_replicas.')) {
            const id = key.slice('_replicas.'.length);
            if (!owners.has(id)) owners.set(id, []);
            continue;
          }
          const e = await kv.get(key);
          if (!e || e.operation !== 'PUT') continue;
          const owner = (e.json<{ owner: string }>()).owner;
          owners.set(owner, [...(owners.get(owner) ?? []), key]);
        }
        const rows = [...owners].map(([replicaId, orchestrators]) => ({ replicaId, orchestrators: orchestrators.sort() }));
        if (g.json) {
          io.out(`${JSON.stringify({ ok: true, replicas: rows })}\n`);
          return;
        }
        io.out('REPLICA          ORCHESTRATORS\n');
        for (const r of rows) io.out(`${r.replicaId.padEnd(16)} ${r.orchestrators.join(' ') || '-'}\n`);
      }),
    );

  program
    .command('inspect')
    .description('print the job machines\' transitions live, from a scheduler started with SCHED_INSPECT_PORT')
    .option('--url <ws-url>', 'the inspection endpoint', 'ws://127.0.0.1:8081')
    .option('--job <jobId>', 'only this job')
    .action(
      action(async (_s, g, o: { url: string; job?: string }) => {
        const last = new Map<string, string>();
        const onEvent = (e: unknown): void => {
          const ev = e as { type: string; sessionId?: string; snapshot?: { value?: unknown; context?: { orchestratorId?: string; jobId?: string } }; event?: { type?: string } };
          if ((ev.type !== '@xstate.snapshot' && ev.type !== '@xstate.actor') || !ev.snapshot?.context?.jobId) return;
          const { orchestratorId, jobId } = ev.snapshot.context;
          if (o.job !== undefined && jobId !== o.job) return;
          const value = JSON.stringify(ev.snapshot.value);
          const key = `${orchestratorId}.${jobId}`;
          if (last.get(key) === value) return;
          last.set(key, value);
          io.out(
            g.json
              ? `${JSON.stringify({ at: new Date().toISOString(), orchestratorId, jobId, state: ev.snapshot.value, event: ev.event?.type ?? null })}\n`
              : `${new Date().toISOString()} ${key} ${ev.type === '@xstate.actor' ? 'is' : '->'} ${String(ev.snapshot.value)}${ev.event?.type ? ` (${ev.event.type})` : ''}\n`,
          );
        };
        await inspectStream(o.url, g.timeout, io.interrupted, onEvent);
      }),
    );

  return program;
}

const APPLY_HELP = `
Each job is the body of create (SPEC §4) with a required jobId; durations and instants as for create.
A job is compared with the scheduler's view of it after normalising the file's spec the same way
(durations in ms, timezone explicit, defaults filled), so a field left out means its default. Only
spec fields count. paused is compared only when the file gives it: re-applying does not resume a
job paused with schedctl pause (write paused: false for that).
Prints one line per job: created <jobId>, updated <jobId> (<fields>), unchanged <jobId>,
deleted <jobId> (--prune); with --dry-run: would create, would update <jobId>: <field> <old> → <new>,
would delete. A job the scheduler refuses is "error <jobId>: <code>: <message>" on stderr; the
others go on, and the exit code is 1. A file that does not parse, a job without jobId, a duplicate
jobId or an invalid spec applies nothing (exit 2).

Example jobs.yaml:
  jobs:
    - jobId: nightly
      labels: { team: billing }
      schedule: { kind: cron, expression: "0 2 * * *", timezone: Europe/Berlin }
      target: { type: workflow_start, workflowId: wf-report }
  schedctl -o acme apply -f jobs.yaml --dry-run
  schedctl -o acme apply -f jobs.yaml --prune --selector team=billing`;

/**
 * Reads the inspection WebSocket until `interrupted`, handing each JSON message to `onEvent`. A
 * connection that cannot be opened, or that closes, is a {@link ConnectError} (one line, exit 1).
 */
async function inspectStream(url: string, timeoutMs: number, interrupted: Promise<void>, onEvent: (e: unknown) => void): Promise<void> {
  const hint = 'is the scheduler running with SCHED_INSPECT_PORT set?';
  let ws: WebSocket;
  try {
    ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
  } catch (err) {
    throw new UsageError(`--url "${url}": ${(err as Error).message} (give ws://host:port)`);
  }
  let stopping = false;
  const ended = new Promise<void>((resolve, reject) => {
    let open = false;
    ws.on('open', () => {
      open = true;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let e: unknown;
      try {
        e = JSON.parse(String(data));
      } catch {
        return; // not an inspection event
      }
      onEvent(e);
    });
    // 'error' is followed by 'close'; without a listener it would be thrown as an unhandled event
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (stopping) return;
      const why = err.code ?? err.message;
      reject(new ConnectError(open ? `the inspection connection to ${url} failed: ${why}` : `cannot connect to ${url}: ${why}; ${hint}`));
    });
    ws.on('close', (code) => {
      if (stopping) resolve();
      else reject(new ConnectError(open ? `the inspection connection to ${url} closed (${code}); is the scheduler still running?` : `cannot connect to ${url}; ${hint}`));
    });
  });
  try {
    await Promise.race([interrupted, ended]);
  } finally {
    stopping = true;
    ws.terminate();
  }
}

function durationMs(value: string): number {
  try {
    const ms = parseDuration(/^\d+$/.test(value) ? Number(value) : value);
    if (ms <= 0) throw new Error('must be positive');
    return ms;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Prints an error and returns its exit code. */
function report(err: unknown, g: GlobalOptions, io: Io): number {
  if (err instanceof UsageError) {
    io.err(`error: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (isSchedulerClientError(err)) {
    printSchedulerError(err, g, io);
    return EXIT_ERROR;
  }
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof ConnectError ? 'unavailable' : 'internal';
  if (g.json) io.out(`${JSON.stringify({ ok: false, error: { code, message } })}\n`);
  io.err(`error ${code}: ${message}\n`);
  return EXIT_ERROR;
}

function printSchedulerError(err: SchedulerClientError, g: GlobalOptions, io: Io): void {
  if (g.json) {
    const error = err.details === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, details: err.details };
    io.out(`${JSON.stringify({ ok: false, error })}\n`);
  }
  const lines = [`error ${err.code}: ${err.message}`];
  if (err.code === 'invalid_request' && Array.isArray(err.details)) {
    for (const d of err.details as { path?: unknown; message?: unknown }[]) lines.push(`  ${String(d.path) || '(body)'}: ${String(d.message)}`);
  }
  io.err(`${lines.join('\n')}\n`);
}

/** Parses `argv` (as `process.argv`), runs the command, resolves with the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  const result = { exitCode: EXIT_OK };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    throw err;
  }
  return result.exitCode;
}
