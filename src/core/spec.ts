import type { z } from 'zod';
import { compileSchedule, isValidTimezone, ScheduleError, type Schedule, type ScheduleSpec } from '../schedule/index.js';
import type { MisfirePolicy, OverlapPolicy } from '../contract/constants.js';
import { invalidRequest, SchedulerError, type IssueDetail } from '../contract/errors.js';
import { MAX_INSTANT, type CreateBody, type Patch, type Target, type scheduleInputSchema } from '../contract/schemas.js';

/**
 * A job's schedule, normalised: durations in ms, instants in epoch ms, timezone explicit. The very
 * type the schedule compiler takes, so it is passed to `compileSchedule` as it is.
 */
export type NormalizedSchedule = ScheduleSpec;

/** A job spec with every default applied (SPEC §4). Instants are epoch ms. */
export interface JobSpec {
  jobId: string;
  name: string | null;
  labels: Record<string, string>;
  schedule: NormalizedSchedule;
  startAt: number | null;
  endAt: number | null;
  target: Target;
  allowOverlap: boolean;
  overlapPolicy: OverlapPolicy;
  misfirePolicy: MisfirePolicy;
  misfireGraceMs: number;
  maxRuntimeMs: number;
  dispatchTimeoutMs: number;
  dispatchRetry: { attempts: number; backoffMs: number };
  paused: boolean;
  /** SPEC §10: slots fire up to this much after `scheduledAt` (deterministically per slot). */
  jitterMs: number;
  /** SPEC §10: executions the schedule may start in all (null: no limit); `remainingRuns` counts down. */
  maxRuns: number | null;
  /** SPEC §10: a failed, timed out or undeliverable execution pauses the job. */
  pauseOnFailure: boolean;
}

export interface SpecLimits {
  minIntervalMs: number;
  maxInputBytes: number;
}

export const SPEC_DEFAULTS = {
  name: null,
  labels: {},
  startAt: null,
  endAt: null,
  overlapPolicy: 'skip',
  misfirePolicy: 'fire_once_on_recovery',
  misfireGraceMs: 60_000,
  maxRuntimeMs: 3_600_000,
  dispatchTimeoutMs: 5_000,
  dispatchRetry: { attempts: 3, backoffMs: 1_000 },
  paused: false,
  jitterMs: 0,
  maxRuns: null,
  pauseOnFailure: false,
} as const;

type ScheduleInput = z.infer<typeof scheduleInputSchema>;

function normalizeSchedule(s: ScheduleInput): NormalizedSchedule {
  switch (s.kind) {
    case 'cron':
      return { kind: 'cron', expression: s.expression.trim(), timezone: s.timezone ?? 'UTC' };
    case 'interval':
      return { kind: 'interval', every: s.every };
    case 'once':
      return { kind: 'once', at: s.at };
  }
}

const compiled = new WeakMap<JobSpec, Map<number, Schedule>>();

/** The compiled schedule of a spec (memoised per spec object and anchor). */
export function scheduleOf(spec: JobSpec, anchorAt: number): Schedule {
  let byAnchor = compiled.get(spec);
  if (!byAnchor) {
    byAnchor = new Map();
    compiled.set(spec, byAnchor);
  }
  let s = byAnchor.get(anchorAt);
  if (!s) {
    // No slot after year 9999: the wire format of instants stops there (SPEC §2).
    const endAt = Math.min(spec.endAt ?? MAX_INSTANT, MAX_INSTANT);
    s = compileSchedule(spec.schedule, { startAt: spec.startAt, endAt, anchor: anchorAt });
    if (byAnchor.size > 4) byAnchor.clear();
    byAnchor.set(anchorAt, s);
  }
  return s;
}

/** Resolves `allowOverlap` against `overlapPolicy` (SPEC §4), given which of them the input set. */
function resolveOverlap(
  given: { allowOverlap?: boolean | undefined; overlapPolicy?: OverlapPolicy | undefined },
  base: { allowOverlap: boolean; overlapPolicy: OverlapPolicy },
  issues: IssueDetail[],
): { allowOverlap: boolean; overlapPolicy: OverlapPolicy } {
  const { allowOverlap, overlapPolicy } = given;
  if (allowOverlap !== undefined && overlapPolicy !== undefined) {
    if (allowOverlap !== (overlapPolicy === 'allow')) {
      issues.push({
        path: 'allowOverlap',
        message: `allowOverlap ${allowOverlap} contradicts overlapPolicy "${overlapPolicy}"`,
      });
    }
    return { allowOverlap, overlapPolicy };
  }
  if (allowOverlap !== undefined) {
    const policy = allowOverlap ? 'allow' : base.overlapPolicy === 'allow' ? 'skip' : base.overlapPolicy;
    return { allowOverlap, overlapPolicy: policy };
  }
  if (overlapPolicy !== undefined) return { allowOverlap: overlapPolicy === 'allow', overlapPolicy };
  return { allowOverlap: base.allowOverlap, overlapPolicy: base.overlapPolicy };
}

function jsonBytes(v: unknown): number {
  return v === undefined ? 0 : Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');
}

/** Checks a payload of arbitrary JSON against the input size quota (`limit_exceeded`). */
export function checkInputSize(v: unknown, path: string, limits: SpecLimits): void {
  const size = jsonBytes(v);
  if (size > limits.maxInputBytes) {
    throw new SchedulerError('limit_exceeded', `${path} is ${size} bytes, more than the limit of ${limits.maxInputBytes}`, {
      details: [{ path, message: `at most ${limits.maxInputBytes} bytes` }],
    });
  }
}

function validate(spec: JobSpec, issues: IssueDetail[], limits: SpecLimits, anchorAt: number): JobSpec {
  if (spec.schedule.kind === 'interval' && spec.schedule.every < limits.minIntervalMs) {
    issues.push({ path: 'schedule.every', message: `must be at least ${limits.minIntervalMs} ms` });
  }
  if (spec.schedule.kind === 'cron' && !isValidTimezone(spec.schedule.timezone)) {
    issues.push({ path: 'schedule.timezone', message: `unknown IANA time zone "${spec.schedule.timezone}"` });
  }
  if (spec.schedule.kind === 'interval' && spec.jitterMs > spec.schedule.every) {
    issues.push({ path: 'jitterMs', message: `must be at most the interval (${spec.schedule.every} ms)` });
  }
  if (spec.startAt !== null && spec.endAt !== null && spec.endAt < spec.startAt) {
    issues.push({ path: 'endAt', message: 'must not be before startAt' });
  }
  if (issues.length === 0) {
    try {
      scheduleOf(spec, anchorAt);
    } catch (err) {
      if (!(err instanceof ScheduleError)) throw err;
      issues.push({ path: spec.schedule.kind === 'cron' ? 'schedule.expression' : 'schedule', message: err.message });
    }
  }
  if (issues.length > 0) throw invalidRequest('invalid job spec', issues);
  const target = spec.target;
  checkInputSize(target.type === 'workflow_start' ? target.inputs : target.args, target.type === 'workflow_start' ? 'target.inputs' : 'target.args', limits);
  return spec;
}

/**
 * A spec stored before SPEC §10 lacks its fields: they get their defaults (records are read
 * through `upgradeRecord`).
 */
export function upgradeSpec(spec: JobSpec): JobSpec {
  if (spec.jitterMs !== undefined && spec.maxRuns !== undefined && spec.pauseOnFailure !== undefined) return spec;
  return {
    ...spec,
    jitterMs: spec.jitterMs ?? SPEC_DEFAULTS.jitterMs,
    maxRuns: spec.maxRuns ?? SPEC_DEFAULTS.maxRuns,
    pauseOnFailure: spec.pauseOnFailure ?? SPEC_DEFAULTS.pauseOnFailure,
  };
}

/** Builds a normalised spec from a validated `create` body. */
export function normalizeSpec(body: CreateBody, jobId: string, limits: SpecLimits, anchorAt: number): JobSpec {
  const issues: IssueDetail[] = [];
  const overlap = resolveOverlap(body, { allowOverlap: false, overlapPolicy: SPEC_DEFAULTS.overlapPolicy }, issues);
  const spec: JobSpec = {
    jobId,
    name: body.name ?? SPEC_DEFAULTS.name,
    labels: body.labels ?? {},
    schedule: normalizeSchedule(body.schedule),
    startAt: body.startAt ?? null,
    endAt: body.endAt ?? null,
    target: body.target,
    ...overlap,
    misfirePolicy: body.misfirePolicy ?? SPEC_DEFAULTS.misfirePolicy,
    misfireGraceMs: body.misfireGraceMs ?? SPEC_DEFAULTS.misfireGraceMs,
    maxRuntimeMs: body.maxRuntimeMs ?? SPEC_DEFAULTS.maxRuntimeMs,
    dispatchTimeoutMs: body.dispatchTimeoutMs ?? SPEC_DEFAULTS.dispatchTimeoutMs,
    dispatchRetry: {
      attempts: body.dispatchRetry?.attempts ?? SPEC_DEFAULTS.dispatchRetry.attempts,
      backoffMs: body.dispatchRetry?.backoffMs ?? SPEC_DEFAULTS.dispatchRetry.backoffMs,
    },
    paused: body.paused ?? false,
    jitterMs: body.jitterMs ?? SPEC_DEFAULTS.jitterMs,
    maxRuns: body.maxRuns ?? SPEC_DEFAULTS.maxRuns,
    pauseOnFailure: body.pauseOnFailure ?? SPEC_DEFAULTS.pauseOnFailure,
  };
  return validate(spec, issues, limits, anchorAt);
}

/** Fields whose change makes the schedule count again from now (SPEC §4 update). */
const SCHEDULE_FIELDS = new Set(['schedule', 'startAt', 'endAt']);

export interface PatchResult {
  spec: JobSpec;
  changed: string[];
  scheduleChanged: boolean;
}

/** Applies an `update` patch; `changed` lists the fields whose value differs. */
export function applyPatch(spec: JobSpec, patch: Patch, limits: SpecLimits, anchorAt: number): PatchResult {
  const issues: IssueDetail[] = [];
  const overlap = resolveOverlap(patch, spec, issues);
  const next: JobSpec = {
    ...spec,
    ...(patch.name !== undefined && { name: patch.name }),
    ...(patch.labels !== undefined && { labels: patch.labels }),
    ...(patch.schedule !== undefined && { schedule: normalizeSchedule(patch.schedule) }),
    ...(patch.startAt !== undefined && { startAt: patch.startAt }),
    ...(patch.endAt !== undefined && { endAt: patch.endAt }),
    ...(patch.target !== undefined && { target: patch.target }),
    ...overlap,
    ...(patch.misfirePolicy !== undefined && { misfirePolicy: patch.misfirePolicy }),
    ...(patch.misfireGraceMs !== undefined && { misfireGraceMs: patch.misfireGraceMs }),
    ...(patch.maxRuntimeMs !== undefined && { maxRuntimeMs: patch.maxRuntimeMs }),
    ...(patch.dispatchTimeoutMs !== undefined && { dispatchTimeoutMs: patch.dispatchTimeoutMs }),
    ...(patch.dispatchRetry !== undefined && {
      dispatchRetry: {
        attempts: patch.dispatchRetry.attempts ?? spec.dispatchRetry.attempts,
        backoffMs: patch.dispatchRetry.backoffMs ?? spec.dispatchRetry.backoffMs,
      },
    }),
    ...(patch.paused !== undefined && { paused: patch.paused }),
    ...(patch.jitterMs !== undefined && { jitterMs: patch.jitterMs }),
    ...(patch.maxRuns !== undefined && { maxRuns: patch.maxRuns }),
    ...(patch.pauseOnFailure !== undefined && { pauseOnFailure: patch.pauseOnFailure }),
  };
  const changed = (Object.keys(next) as (keyof JobSpec)[]).filter(
    (k) => JSON.stringify(next[k]) !== JSON.stringify(spec[k]),
  );
  const scheduleChanged = changed.some((k) => SCHEDULE_FIELDS.has(k));
  validate(next, issues, limits, anchorAt);
  return { spec: changed.length === 0 ? spec : next, changed, scheduleChanged };
}
