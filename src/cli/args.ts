import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { DateTime } from 'luxon';
import { sinceToEpochMs } from '../client/client.js';
import type { BackfillOptions, CreateJobInput, JobPatch, JobView, PreviewInput } from '../client/types.js';
import { parseInstant } from '../contract/ids.js';

/** A mistake in the command line (exit code 2), found after commander parsed it. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `--inputs '{"a":1}'`, `--inputs @file.json`, `--inputs @-` (stdin). */
export function jsonArg(value: string): unknown {
  let text = value;
  if (value.startsWith('@')) {
    const path = value.slice(1);
    try {
      text = readFileSync(path === '-' ? 0 : path, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`cannot read ${path === '-' ? 'stdin' : path}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(`not JSON${value.startsWith('@') ? ` (in ${value.slice(1)})` : ''}; give JSON or @file`);
  }
}

/** Like {@link jsonArg}, but must be an object. */
export function jsonObjectArg(value: string): Record<string, unknown> {
  const v = jsonArg(value);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError('must be a JSON object');
  return v as Record<string, unknown>;
}

/** `--label team=billing`, repeatable. */
export function labelArg(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('use key=value');
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
}

export function intArg(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

/**
 * `--max-runs 10`; `none` is no limit (kept as `'none'`: commander turns a parser's null into '';
 * the spec gets null, see `policiesFrom`).
 */
export function maxRunsArg(value: string): number | 'none' {
  if (value === 'none') return 'none';
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number, or none for no limit');
  return Number(value);
}

/** Durations go to the scheduler as given (`30s`, `PT15M`); plain digits are milliseconds. */
export function durationArg(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** Options shared by `create` and `update` that make up a job spec. */
export interface SpecOptions {
  cron?: string;
  timezone?: string;
  every?: number | string;
  at?: string;
  workflow?: string;
  inputs?: unknown;
  command?: string;
  args?: unknown;
  name?: string;
  label?: Record<string, string>;
  startAt?: string;
  endAt?: string;
  overlap?: string;
  allowOverlap?: boolean;
  misfire?: string;
  misfireGrace?: number | string;
  maxRuntime?: number | string;
  dispatchTimeout?: number | string;
  retryAttempts?: number;
  retryBackoff?: number | string;
  paused?: boolean;
  /** SPEC §10: `--jitter <duration>` (jitterMs). */
  jitter?: number | string;
  /** SPEC §10: `--max-runs <n|none>` (maxRuns; none: no limit, sent as null). */
  maxRuns?: number | 'none';
  /** SPEC §10: `--pause-on-failure` / `--no-pause-on-failure`. */
  pauseOnFailure?: boolean;
}

type Schedule = CreateJobInput['schedule'];
type TargetInput = CreateJobInput['target'];

/** `none` clears an optional instant in an update. */
const instantOrNull = (v: string): string | null => (v === 'none' ? null : v);

function scheduleFrom(o: SpecOptions, current: JobView['schedule'] | undefined): Schedule | undefined {
  const given = [o.cron !== undefined && '--cron', o.every !== undefined && '--every', o.at !== undefined && '--at'].filter(Boolean);
  if (given.length > 1) throw new UsageError(`${given.join(', ')}: give one schedule`);
  if (o.cron !== undefined) return { kind: 'cron', expression: o.cron, ...(o.timezone !== undefined && { timezone: o.timezone }) };
  if (o.every !== undefined) {
    if (o.timezone !== undefined) throw new UsageError('--timezone goes with --cron');
    return { kind: 'interval', every: o.every };
  }
  if (o.at !== undefined) {
    if (o.timezone !== undefined) throw new UsageError('--timezone goes with --cron');
    return { kind: 'once', at: o.at };
  }
  if (o.timezone !== undefined) {
    if (current?.kind !== 'cron') throw new UsageError('--timezone goes with --cron');
    return { kind: 'cron', expression: current.expression, timezone: o.timezone };
  }
  return undefined;
}

function targetFrom(o: SpecOptions, current: JobView['target'] | undefined): TargetInput | undefined {
  if (o.workflow !== undefined && o.command !== undefined) throw new UsageError('--workflow, --command: give one target');
  if (o.workflow !== undefined) {
    if (o.args !== undefined) throw new UsageError('--args goes with --command (a workflow takes --inputs)');
    return { type: 'workflow_start', workflowId: o.workflow, ...(o.inputs !== undefined && { inputs: o.inputs }) };
  }
  if (o.command !== undefined) {
    if (o.inputs !== undefined) throw new UsageError('--inputs goes with --workflow (a command takes --args)');
    return { type: 'command', command: o.command, ...(o.args !== undefined && { args: o.args }) };
  }
  if (o.inputs !== undefined) {
    if (current?.type !== 'workflow_start') throw new UsageError('--inputs goes with --workflow');
    return { type: 'workflow_start', workflowId: current.workflowId, inputs: o.inputs };
  }
  if (o.args !== undefined) {
    if (current?.type !== 'command') throw new UsageError('--args goes with --command');
    return { type: 'command', command: current.command, args: o.args };
  }
  return undefined;
}

/** The policy fields of a spec, from the options that were given. */
function policiesFrom(o: SpecOptions): JobPatch {
  const p: JobPatch = {};
  if (o.name !== undefined) p.name = o.name === '' ? null : o.name;
  if (o.label !== undefined) p.labels = o.label;
  if (o.startAt !== undefined) p.startAt = instantOrNull(o.startAt);
  if (o.endAt !== undefined) p.endAt = instantOrNull(o.endAt);
  if (o.overlap !== undefined) p.overlapPolicy = o.overlap as NonNullable<JobPatch['overlapPolicy']>;
  if (o.allowOverlap !== undefined) p.allowOverlap = o.allowOverlap;
  if (o.misfire !== undefined) p.misfirePolicy = o.misfire as NonNullable<JobPatch['misfirePolicy']>;
  if (o.misfireGrace !== undefined) p.misfireGraceMs = o.misfireGrace;
  if (o.maxRuntime !== undefined) p.maxRuntimeMs = o.maxRuntime;
  if (o.dispatchTimeout !== undefined) p.dispatchTimeoutMs = o.dispatchTimeout;
  if (o.retryAttempts !== undefined || o.retryBackoff !== undefined) {
    p.dispatchRetry = {
      ...(o.retryAttempts !== undefined && { attempts: o.retryAttempts }),
      ...(o.retryBackoff !== undefined && { backoffMs: o.retryBackoff }),
    };
  }
  if (o.paused !== undefined) p.paused = o.paused;
  if (o.jitter !== undefined) p.jitterMs = o.jitter;
  if (o.maxRuns !== undefined) p.maxRuns = o.maxRuns === 'none' ? null : o.maxRuns;
  if (o.pauseOnFailure !== undefined) p.pauseOnFailure = o.pauseOnFailure;
  return p;
}

/** The body of `create`: `--spec` (if any), then each option over it. */
export function createBody(jobId: string | undefined, o: SpecOptions & { spec?: Record<string, unknown> }): CreateJobInput {
  const base = (o.spec ?? {}) as Partial<CreateJobInput>;
  const schedule = scheduleFrom(o, undefined) ?? base.schedule;
  const target = targetFrom(o, undefined) ?? base.target;
  if (schedule === undefined) throw new UsageError('a schedule is required: --cron <expression>, --every <duration> or --at <instant>');
  if (target === undefined) throw new UsageError('a target is required: --workflow <id> or --command <command>');
  const p = policiesFrom(o);
  if (base.dispatchRetry && p.dispatchRetry) p.dispatchRetry = { ...base.dispatchRetry, ...p.dispatchRetry };
  return { ...base, ...(jobId !== undefined && { jobId }), ...p, schedule, target } as CreateJobInput;
}

/** Whether an update needs the job's current schedule or target to fill in what was left out. */
export const needsCurrent = (o: SpecOptions): boolean =>
  (o.timezone !== undefined && o.cron === undefined) ||
  (o.inputs !== undefined && o.workflow === undefined) ||
  (o.args !== undefined && o.command === undefined);

/** The patch of `update`: `--patch` (if any), then each option over it. */
export function updatePatch(o: SpecOptions & { patch?: Record<string, unknown> }, current?: JobView): JobPatch {
  const base = (o.patch ?? {}) as JobPatch;
  const schedule = scheduleFrom(o, current?.schedule);
  const target = targetFrom(o, current?.target);
  const p: JobPatch = { ...base, ...policiesFrom(o) };
  if (schedule !== undefined) p.schedule = schedule;
  if (target !== undefined) p.target = target;
  if (Object.keys(p).length === 0) throw new UsageError('nothing to change: give at least one option (see schedctl update --help)');
  return p;
}

/** The options of `schedctl backfill`. */
export interface BackfillArgs {
  from: string;
  to: string;
  overlap?: string;
  dryRun?: boolean;
}

/**
 * `--from`/`--to` as the instants sent: an ISO-8601 instant with an offset (sent as written), or
 * a duration meaning that long before `now` (`7d`, `PT12H`), or `now`.
 */
function instantArg(flag: string, value: string, now: number): string {
  if (value === 'now') return new Date(now).toISOString();
  if (parseInstant(value) !== null) return value;
  const ms = sinceToEpochMs(value, now);
  if (ms === null) throw new UsageError(`${flag} "${value}": give an ISO-8601 instant with an offset (2026-11-01T00:00:00Z), a duration ago (7d, 12h) or now`);
  return new Date(ms).toISOString();
}

/** The options of `backfill` from the command line: `[--from, --to)`, `--overlap`, `--dry-run`. */
export function backfillOptions(o: BackfillArgs, now: number): BackfillOptions {
  const from = instantArg('--from', o.from, now);
  const to = instantArg('--to', o.to, now);
  if ((parseInstant(from) ?? 0) >= (parseInstant(to) ?? 0)) throw new UsageError(`--from ${o.from} must be before --to ${o.to}: the slots in [from, to) are run`);
  return {
    from,
    to,
    ...(o.overlap !== undefined && { overlapPolicy: o.overlap as NonNullable<BackfillOptions['overlapPolicy']> }),
    ...(o.dryRun && { dryRun: true }),
  };
}

/** The options of `schedctl preview`: a schedule as for create, its bounds, `--from`, `--count`. */
export interface PreviewArgs extends Pick<SpecOptions, 'cron' | 'timezone' | 'every' | 'at' | 'startAt' | 'endAt' | 'jitter'> {
  from?: string;
  count?: number;
}

/** A wall time without an offset: `2026-12-01`, `2026-12-01T02:00`, `2026-12-01 02:00:30.5`. */
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)?$/;

/** The time zone a job's slots are read in (SPEC §11): a cron job's zone, else UTC. */
export const zoneOfSchedule = (s: { kind: string; timezone?: string }): string => (s.kind === 'cron' && s.timezone ? s.timezone : 'UTC');

/** Whether `value` is a wall time without an offset, which must be read in a zone. */
export const isLocalTime = (value: string): boolean => LOCAL_TIME.test(value);

/**
 * An instant given on the command line, as sent: `now`; an ISO-8601 instant with an offset (sent
 * as written); a wall time without an offset (`2026-12-01T02:00`, `2026-12-01 02:00`,
 * `2026-12-01`) read in `zone` (a time skipped by a DST change moves forward past the gap, as the
 * scheduler moves such slots; a repeated one is read as its second occurrence, after the clocks went
 * back: give an offset for the first); with `ago`, a duration
 * meaning that long before `now` (`1h`, `PT30M`).
 */
export function instantIn(flag: string, value: string, zone: string, now: number, ago = false, zoneName = zone): string {
  if (value === 'now') return new Date(now).toISOString();
  if (parseInstant(value) !== null) return value;
  if (LOCAL_TIME.test(value)) {
    const t = DateTime.fromISO(value.replace(' ', 'T'), { zone });
    if (!t.isValid) {
      const why = t.invalidReason === 'unsupported zone' ? `the time zone "${zone}" is not an IANA zone` : `not a valid time (${t.invalidExplanation ?? t.invalidReason ?? 'invalid'})`;
      throw new UsageError(`${flag} "${value}": ${why}`);
    }
    return t.toUTC().toISO()!;
  }
  if (ago) {
    const ms = sinceToEpochMs(value, now);
    if (ms !== null) return new Date(ms).toISOString();
  }
  throw new UsageError(
    `${flag} "${value}": give now, a local time in ${zoneName} (2026-12-01T02:00), an ISO-8601 instant with an offset (2026-12-01T01:00:00Z)${ago ? ' or a duration ago (1h, 2d)' : ''}`,
  );
}

/** The body of `preview`: the schedule (one of --cron, --every, --at), its bounds, --from (in the schedule's zone), --count. */
export function previewBody(o: PreviewArgs, now: number): PreviewInput {
  const schedule = scheduleFrom(o, undefined);
  if (schedule === undefined) throw new UsageError('a schedule is required: --cron <expression>, --every <duration> or --at <instant>');
  const zone = schedule.kind === 'cron' ? (schedule.timezone ?? 'UTC') : 'UTC';
  return {
    schedule,
    ...(o.startAt !== undefined && { startAt: o.startAt }),
    ...(o.endAt !== undefined && { endAt: o.endAt }),
    ...(o.jitter !== undefined && { jitterMs: o.jitter }),
    ...(o.from !== undefined && { from: instantIn('--from', o.from, zone, now, false, `the schedule's zone (${zone})`) }),
    ...(o.count !== undefined && { count: o.count }),
  };
}

/** The options of `schedctl explain`. */
export interface ExplainArgs {
  at?: string;
  last?: number;
}

/** Which slots `explain` asks about: one at or just before `--at` (default now), or the `--last` n. */
export function explainMode(o: ExplainArgs): { kind: 'at'; at: string } | { kind: 'last'; count: number } {
  if (o.at !== undefined && o.last !== undefined) throw new UsageError('--at, --last: give one');
  if (o.last !== undefined) {
    if (o.last < 1) throw new UsageError('--last must be 1 or more');
    return { kind: 'last', count: o.last };
  }
  return { kind: 'at', at: o.at ?? 'now' };
}
