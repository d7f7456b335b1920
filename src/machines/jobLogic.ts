import { createHash } from 'node:crypto';
import type { BackfillPolicy, DispatchFailure, EventType, ExecutionResult, JobState, Trigger, CompletionStatus } from '../contract/constants.js';
import { backfillExecutionId, runNowExecutionId, slotExecutionId } from '../contract/ids.js';
import type { ActiveExecution, AuditEvent, Backfill, Effect, JobRecord } from '../core/record.js';
import { compileSchedule, type Schedule } from '../schedule/index.js';
import { MAX_INSTANT } from '../contract/schemas.js';
import type { Patch, Target } from '../contract/schemas.js';
import type { DispatchRequest } from '../contract/messages.js';
import { SchedulerError } from '../contract/errors.js';
import { applyPatch, scheduleOf, type JobSpec, type SpecLimits } from '../core/spec.js';

/**
 * The decisions of a job, as pure functions of (record, event): no I/O, no clock (every event
 * carries `now`), no randomness. Each returns the same record object when nothing changed, so
 * the actor can tell a no-op from a change that must be written.
 *
 * Effects (audit events, dispatches) are appended to `record.outbox` for the current step; a new
 * step (`step` differs from `record.outboxStep`) starts a fresh outbox.
 */

/** Finished execution ids remembered to tell a duplicate completion from an unknown one. */
const RECENT_DONE = 32;
/** Slots that may wait under `buffer_all` unless the server says otherwise (`SCHED_MAX_BUFFERED`). */
export const DEFAULT_MAX_BUFFERED = 1000;
/** Slots a backfill may have unless the server says otherwise (`SCHED_MAX_BACKFILL`). */
export const DEFAULT_MAX_BACKFILL = 10_000;
/** Executions of one backfill under `allow` active at once; the rest wait their turn, in order. */
export const BACKFILL_ALLOW_CONCURRENCY = 100;
/** Slots a backfill reply (and its dry run) lists. */
const BACKFILL_LISTED = 1000;

export type Ctx = JobRecord;

const iso = (ms: number): string => new Date(ms).toISOString();

function withEffect(r: Ctx, step: number, effect: Effect): Ctx {
  const outbox = r.outboxStep === step ? [...r.outbox, effect] : [effect];
  return { ...r, outbox, outboxStep: step };
}

/** Appends an audit event; its id is the incarnation and a per-job sequence (stable on replay). */
export function emitEvent(
  r: Ctx,
  step: number,
  now: number,
  type: EventType,
  data: Record<string, unknown>,
  executionId?: string,
): Ctx {
  const eventSeq = r.eventSeq + 1;
  const event: AuditEvent = {
    id: `${r.incarnation}-e${eventSeq.toString(36)}`,
    type,
    at: iso(now),
    orchestratorId: r.orchestratorId,
    jobId: r.jobId,
    ...(executionId !== undefined && { executionId }),
    data,
  };
  return withEffect({ ...r, eventSeq }, step, { kind: 'event', event });
}

/** The state the job should be in, from its record. */
export function derivedState(r: JobRecord): Exclude<JobState, 'due'> {
  if (r.spec.paused) return 'paused';
  if (r.active.some((a) => a.state === 'running')) return 'running';
  if (r.active.length > 0) return 'dispatched';
  return 'idle';
}

/**
 * Records a state change of the machine on entry into `to` (SPEC §7). Entering the transient `due`
 * only remembers where the job came from; entering a resting state records the whole change of
 * the step, `{from, to, event, via?}` (`via: ["due"]` when it passed through `due`), once: inside
 * the step's last lifecycle event as `data.transition` when the step has one (the same input
 * caused both), else as a `transition` event of its own. So a trigger costs one event, not three.
 */
export function enterState(r: Ctx, step: number, now: number, to: JobState, cause: string): Ctx {
  if (to === 'due') return { ...r, state: 'due', dueFrom: r.state === 'due' ? (r.dueFrom ?? 'idle') : r.state };
  const viaDue = r.state === 'due';
  const from = viaDue ? (r.dueFrom ?? 'idle') : r.state;
  const { dueFrom: _d, ...rest } = r;
  // `dueFrom: undefined`, not just left out: XState's assign merges the result into the context,
  // so a key left out would keep its value (and be stored with the record)
  const base: Ctx = viaDue ? { ...rest, state: r.state, dueFrom: undefined } : r;
  if (from === to && !viaDue) return r;
  const transition = { from, to, event: cause, ...(viaDue && { via: ['due'] }) };
  const outbox = base.outboxStep === step ? base.outbox : [];
  let last = -1;
  for (let i = outbox.length - 1; i >= 0; i--) {
    const e = outbox[i]!;
    if (e.kind === 'event' && e.event.type !== 'transition') {
      last = i;
      break;
    }
  }
  if (last < 0) return { ...emitEvent(base, step, now, 'transition', transition), state: to };
  const carrier = outbox[last] as Extract<Effect, { kind: 'event' }>;
  const carried: Effect = { kind: 'event', event: { ...carrier.event, data: { ...carrier.event.data, transition } } };
  return { ...base, outbox: outbox.map((e, i) => (i === last ? carried : e)), state: to };
}

/**
 * The jitter of a slot (SPEC §10): in `[0, jitterMs)`, a function of the job incarnation and the
 * slot alone, so every replica and every restart computes the same instant.
 */
export function jitterOf(incarnation: string, jitterMs: number, scheduledAt: number): number {
  if (jitterMs <= 0) return 0;
  const h = createHash('sha256').update(`${incarnation}/${scheduledAt}`).digest();
  return Math.floor((h.readUInt32BE(0) / 0x1_0000_0000) * jitterMs);
}

/** When a slot fires: `scheduledAt` plus its jitter. */
export const firesAt = (r: JobRecord, scheduledAt: number): number => scheduledAt + jitterOf(r.incarnation, r.spec.jitterMs, scheduledAt);

export const isSlotDue = (r: JobRecord, now: number): boolean =>
  !r.spec.paused && r.nextRunAt !== null && now >= firesAt(r, r.nextRunAt);

/**
 * Whether the slots due at `now` are a misfire (SPEC §6): a second slot due too, or the one due
 * fired later than `misfireGraceMs` after its instant (`firesAt`, the slot plus its jitter).
 * False when nothing is due.
 */
export const isMisfire = (r: JobRecord, now: number): boolean => dueAt(r, now).kind === 'misfire';

/**
 * What is due at `now`, computed once per firing: nothing; the slot `nextRunAt` on time, with the
 * slot after it (`next`: with a jitter it may have passed already, and comes next at its own
 * `firesAt`); or a misfire (see `isMisfire`).
 */
export type Due = { kind: 'none' } | { kind: 'on_time'; slot: number; next: number | null } | { kind: 'misfire'; first: number };
const NOTHING_DUE: Due = { kind: 'none' };
export function dueAt(r: JobRecord, now: number): Due {
  const first = r.nextRunAt;
  if (first === null || r.spec.paused) return NOTHING_DUE;
  const at = firesAt(r, first);
  if (now < at) return NOTHING_DUE;
  if (now - at > r.spec.misfireGraceMs) return { kind: 'misfire', first };
  const next = scheduleOf(r.spec, r.anchorAt).nextAfter(first);
  return next !== null && firesAt(r, next) <= now ? { kind: 'misfire', first } : { kind: 'on_time', slot: first, next };
}

/** Whether the slots due at `now` are a misfire that the policy skips (`skip_missed`: nothing fires). */
export const skipsMissedSlots = (r: JobRecord, now: number): boolean => r.spec.misfirePolicy === 'skip_missed' && isMisfire(r, now);

/**
 * What the overlap policy does with a slot that fires now (SPEC §6, §10): `dispatch` when nothing
 * is active or the policy is `allow`; `buffer` under `buffer_one` with no slot waiting yet and
 * under `buffer_all` with fewer than `maxBuffered` waiting (else `buffer_full`); `cancel` (a cancel
 * request, the slot waits) under `cancel_other` with no slot waiting yet; `terminate` under
 * `terminate_other`; else `skip`. Every active execution counts, backfills' too.
 */
export type OverlapDecision = 'dispatch' | 'buffer' | 'skip' | 'buffer_full' | 'cancel' | 'terminate';
export function overlapDecision(r: JobRecord, maxBuffered = DEFAULT_MAX_BUFFERED): OverlapDecision {
  if (r.active.length === 0) return 'dispatch';
  switch (r.spec.overlapPolicy) {
    case 'allow':
      return 'dispatch';
    case 'buffer_one':
      return r.buffered.length === 0 ? 'buffer' : 'skip';
    case 'buffer_all':
      return r.buffered.length < maxBuffered ? 'buffer' : 'buffer_full';
    case 'cancel_other':
      return r.buffered.length === 0 ? 'cancel' : 'skip';
    case 'terminate_other':
      return 'terminate';
    case 'skip':
      return 'skip';
  }
}

/** An execution past its deadline (no completion, no heartbeat): `expireDeadlines` times it out. */
export const isPastDeadline = (a: ActiveExecution, now: number): boolean => a.deadlineAt <= now;

/**
 * What is left of the job's work once the executions that `ends` picks have ended: `running` (an
 * execution still runs), `dispatched` (only dispatched ones are left, or none but the buffered
 * slot, which is then dispatched unless the job is `paused`) or `nothing`.
 */
export function leftAfter(r: JobRecord, ends: (a: ActiveExecution) => boolean, paused = r.spec.paused): 'running' | 'dispatched' | 'nothing' {
  const left = r.active.filter((a) => !ends(a));
  if (left.some((a) => a.state === 'running')) return 'running';
  if (left.length > 0 || (r.buffered.length > 0 && !paused)) return 'dispatched';
  return 'nothing';
}

/** The state a paused job goes to when it resumes (RESUME, or an update that unpauses it). */
export function resumedState(r: JobRecord): 'idle' | 'dispatched' | 'running' {
  const left = leftAfter(r, () => false, false);
  return left === 'nothing' ? 'idle' : left;
}

/** Whether `executionId` is active and still waiting for its dispatch reply. */
export const isDispatched = (r: JobRecord, executionId: string): boolean =>
  r.active.some((a) => a.executionId === executionId && a.state === 'dispatched');

/** An update as the command asks it (SPEC §8 `update`): the patch, the revision it expects, the spec limits. */
export interface UpdateRequest {
  patch: Patch;
  expectedRevision?: number | undefined;
  limits: SpecLimits;
}

/**
 * What an update does to this record at `now`: refused with `conflict` when the record's revision
 * is not the one expected (checked first), with `invalid_request` when the patched spec is
 * invalid; else the patched spec and the fields it changes (none: a no-op, nothing written).
 */
export type UpdateDecision =
  | { kind: 'refused'; refusal: Refusal }
  | { kind: 'patch'; spec: JobSpec; changed: string[]; scheduleChanged: boolean };

export function decideUpdate(r: JobRecord, now: number, req: UpdateRequest): UpdateDecision {
  if (req.expectedRevision !== undefined && r.revision !== req.expectedRevision) {
    return {
      kind: 'refused',
      refusal: { ok: false, code: 'conflict', message: `revision is ${r.revision}, not ${req.expectedRevision}`, details: { revision: r.revision } },
    };
  }
  try {
    const res = applyPatch(r.spec, req.patch, req.limits, now);
    return { kind: 'patch', spec: res.spec, changed: res.changed, scheduleChanged: res.scheduleChanged };
  } catch (err) {
    // a patch the contract refuses (invalid_request, or limit_exceeded for inputs over the quota)
    if (!(err instanceof SchedulerError) || (err.code !== 'invalid_request' && err.code !== 'limit_exceeded')) throw err;
    return { kind: 'refused', refusal: { ok: false, code: err.code, message: err.message, ...(err.details !== undefined && { details: err.details }) } };
  }
}

/** Whether the job is paused after an update decided so (refused or changing nothing: as it is). */
export const pausedAfterUpdate = (r: JobRecord, d: UpdateDecision): boolean =>
  d.kind === 'patch' && d.changed.length > 0 ? d.spec.paused : r.spec.paused;

/** The earliest instant at which the job needs a TICK: next slot's `firesAt` (unless paused) or a deadline. */
export function nextWakeAt(r: JobRecord): number | null {
  let t = r.spec.paused || r.nextRunAt === null ? null : firesAt(r, r.nextRunAt);
  for (const a of r.active) if (t === null || a.deadlineAt < t) t = a.deadlineAt;
  return t;
}

function dispatch(
  r: Ctx,
  step: number,
  now: number,
  scheduledAt: number,
  trigger: Trigger,
  executionId: string,
  extra: { inputs?: unknown; backfillId?: string } = {},
): Ctx {
  if (r.active.some((a) => a.executionId === executionId)) return r;
  const jittered = r.spec.jitterMs > 0 && trigger !== 'run_now' && trigger !== 'backfill';
  const exec: ActiveExecution = {
    executionId,
    scheduledAt,
    trigger,
    state: 'dispatched',
    dispatchedAt: now,
    deadlineAt: now + r.spec.maxRuntimeMs,
    attempt: 1,
    ...(extra.inputs !== undefined && { inputs: extra.inputs }),
    ...(jittered && { firesAt: firesAt(r, scheduledAt) }),
    ...(extra.backfillId !== undefined && { backfillId: extra.backfillId }),
  };
  let next: Ctx = {
    ...r,
    active: [...r.active, exec],
    lastFiredAt: now,
    counters: { ...r.counters, dispatched: r.counters.dispatched + 1 },
  };
  next = emitEvent(
    next,
    step,
    now,
    'trigger.dispatched',
    { scheduledAt: iso(scheduledAt), trigger, attempt: 1, ...(exec.firesAt !== undefined && { firesAt: iso(exec.firesAt) }) },
    executionId,
  );
  return withEffect(next, step, { kind: 'dispatch', executionId });
}

/**
 * A slot that came due: dispatched, buffered, skipped, or (cancel_other, terminate_other) the
 * active executions asked to stop, as `decision` says. A slot that will start (all but a skip)
 * uses one of the job's remaining runs (`maxRuns`); the last one exhausts the schedule.
 */
function fireSlot(r: Ctx, step: number, now: number, scheduledAt: number, trigger: Trigger, decision: OverlapDecision): Ctx {
  const executionId = slotExecutionId(r.incarnation, scheduledAt);
  if (decision === 'skip' || decision === 'buffer_full') {
    const full = decision === 'buffer_full';
    const counters = full
      ? { ...r.counters, skippedBufferFull: r.counters.skippedBufferFull + 1 }
      : { ...r.counters, skippedOverlap: r.counters.skippedOverlap + 1 };
    const data = { scheduledAt: iso(scheduledAt), trigger, reason: full ? 'buffer_full' : 'overlap', activeExecutions: r.active.map((a) => a.executionId) };
    return emitEvent({ ...r, counters }, step, now, 'trigger.skipped', data, executionId);
  }
  let next = useRun(r, step, now);
  if (decision === 'buffer') {
    next = { ...next, buffered: [...next.buffered, scheduledAt] };
    return emitEvent(next, step, now, 'trigger.buffered', { scheduledAt: iso(scheduledAt), trigger }, executionId);
  }
  if (decision === 'cancel') {
    for (const a of next.active) if (!a.cancelRequested) next = requestCancel(next, step, now, a, scheduledAt, 'cancel_other');
    return { ...next, buffered: [...next.buffered, scheduledAt] };
  }
  if (decision === 'terminate') {
    for (const a of next.active) next = terminate(next, step, now, a, scheduledAt);
  }
  return dispatch(next, step, now, scheduledAt, trigger, executionId);
}

/** One of the remaining runs is used (SPEC §10 `maxRuns`): at 0 no slot is left and `job.exhausted` is published. */
function useRun(r: Ctx, step: number, now: number): Ctx {
  if (r.remainingRuns === null) return r;
  const remainingRuns = Math.max(0, r.remainingRuns - 1);
  const next: Ctx = { ...r, remainingRuns };
  if (remainingRuns > 0) return next;
  return emitEvent({ ...next, nextRunAt: null }, step, now, 'job.exhausted', {
    maxRuns: r.spec.maxRuns ?? 0,
    lastScheduledAt: r.lastScheduledAt === null ? null : iso(r.lastScheduledAt),
  });
}

/** The next slot after `t`, unless the schedule is exhausted (`remainingRuns` 0). */
const nextSlot = (r: JobRecord, schedule: Schedule, t: number): number | null => (r.remainingRuns === 0 ? null : schedule.nextAfter(t));

/** A cancel request for `a` (SPEC §10): audited, sent (a `cancel` effect), remembered on the execution. */
function requestCancel(r: Ctx, step: number, now: number, a: ActiveExecution, forSlot: number, policy: 'cancel_other' | 'terminate_other'): Ctx {
  const next: Ctx = { ...r, active: r.active.map((x) => (x.executionId === a.executionId ? { ...x, cancelRequested: true as const } : x)) };
  const audited = emitEvent(next, step, now, 'execution.cancel_requested', { scheduledAt: iso(a.scheduledAt), reason: 'overlap', forSlot: iso(forSlot), policy }, a.executionId);
  return withEffect(audited, step, { kind: 'cancel', executionId: a.executionId });
}

/** `terminate_other`: the cancel request, and the execution ended at once as `terminated`. */
function terminate(r: Ctx, step: number, now: number, a: ActiveExecution, forSlot: number): Ctx {
  let next = requestCancel(r, step, now, a, forSlot, 'terminate_other');
  next = emitEvent(next, step, now, 'execution.terminated', { scheduledAt: iso(a.scheduledAt), trigger: a.trigger, forSlot: iso(forSlot) }, a.executionId);
  next = { ...next, terminated: [...next.terminated, a.executionId].slice(-RECENT_DONE) };
  return finish(next, step, now, a.executionId, 'terminated');
}

/**
 * Fires what is due at `now`. Exactly one slot due within `misfireGraceMs` fires normally; more
 * than one slot due, or one later than the grace, is a misfire: the slots are counted (O(1) for
 * intervals), the misfire policy dispatches one execution for the latest or none, and the next
 * slot is the first strictly after `now`. A stall or a downtime therefore never causes a burst.
 * The slot that fires gets `overlap` (by default what the overlap policy decides for this record).
 */
export function fireDue(r: Ctx, step: number, now: number, overlap: OverlapDecision = overlapDecision(r)): Ctx {
  const due = dueAt(r, now);
  if (due.kind === 'none') return r;
  if (due.kind === 'on_time') {
    const next: Ctx = { ...r, nextRunAt: r.remainingRuns === 0 ? null : due.next, lastScheduledAt: due.slot };
    return fireSlot(next, step, now, due.slot, 'schedule', overlap);
  }
  const first = due.first;
  const schedule = scheduleOf(r.spec, r.anchorAt);
  const range = schedule.slotsBetween(first, now);
  const last = range.last ?? first;
  let next: Ctx = { ...r, nextRunAt: nextSlot(r, schedule, now), lastScheduledAt: last };
  const missedCount = Math.max(range.count, 1);
  const data = {
    missedCount,
    firstMissedAt: iso(range.first ?? first),
    lastMissedAt: iso(last),
    ...(!range.exact && { missedCountExact: false }),
  };
  next = { ...next, counters: { ...next.counters, missed: next.counters.missed + missedCount } };
  if (r.spec.misfirePolicy === 'skip_missed') {
    return emitEvent(next, step, now, 'misfire.skipped', data);
  }
  next = emitEvent(next, step, now, 'misfire.fired_once', data, slotExecutionId(r.incarnation, last));
  return fireSlot(next, step, now, last, 'misfire_recovery', overlap);
}

/** The counter each end of an execution adds to. */
const COUNTER_OF = {
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  terminated: 'terminated',
  timed_out: 'timedOut',
  dispatch_failed: 'dispatchFailed',
} as const satisfies Record<ExecutionResult, keyof JobRecord['counters']>;

/** The ends that pause a job with `pauseOnFailure` (SPEC §10). */
export const isFailure = (status: ExecutionResult): boolean => status === 'failed' || status === 'timed_out' || status === 'dispatch_failed';

/**
 * Releases the guard of an execution that ended: counted, remembered, the job paused when
 * `pauseOnFailure` says so, then the waiting slot dispatched if it may and the backfills moved on.
 */
function finish(r: Ctx, step: number, now: number, executionId: string, status: ExecutionResult): Ctx {
  const key = COUNTER_OF[status];
  const recentDone = [...r.recentDone, executionId].slice(-RECENT_DONE);
  let next: Ctx = {
    ...r,
    active: r.active.filter((a) => a.executionId !== executionId),
    counters: { ...r.counters, [key]: r.counters[key] + 1 },
    recentDone,
    lastResult: { executionId, status, at: now },
  };
  if (r.spec.pauseOnFailure && isFailure(status) && !r.spec.paused) next = pause(next, step, now, 'failure', executionId);
  next = releaseBuffered(next, step, now);
  return advanceBackfills(next, step, now);
}

/** Dispatches the oldest waiting slot when nothing is active and the job is not paused. */
export function releaseBuffered(r: Ctx, step: number, now: number): Ctx {
  const scheduledAt = r.buffered[0];
  if (scheduledAt === undefined || r.active.length > 0 || r.spec.paused) return r;
  return dispatch({ ...r, buffered: r.buffered.slice(1) }, step, now, scheduledAt, 'buffered', slotExecutionId(r.incarnation, scheduledAt));
}

/** Executions whose deadline passed without completion or heartbeat are `timed_out`. */
export function expireDeadlines(r: Ctx, step: number, now: number): Ctx {
  let next = r;
  for (const a of r.active) {
    if (!isPastDeadline(a, now)) continue;
    next = emitEvent(next, step, now, 'execution.timed_out', { scheduledAt: iso(a.scheduledAt), deadlineAt: iso(a.deadlineAt), state: a.state }, a.executionId);
    next = finish(next, step, now, a.executionId, 'timed_out');
  }
  return next;
}

/**
 * What a command replies with, decided with the record it changes: `ok` (with what the reply
 * carries) or a refusal with its error code, message and details (SPEC §8). The job actor hands
 * it to the supervisor, which turns it into the reply; nothing outside decides it again.
 */
export type Refusal = { ok: false; code: 'overlap' | 'conflict' | 'invalid_request' | 'limit_exceeded'; message: string; details?: unknown };
/** What a backfill replies (SPEC §10): the slots' count, the first 1000 of them, and its id unless a dry run. */
export interface BackfillReply {
  count: number;
  scheduledAt: string[];
  backfillId?: string;
}
export type Outcome = { ok: true; executionId?: string; backfill?: BackfillReply } | Refusal;

/** A decision of a command: the record after it and the outcome its reply carries. */
export interface Decided {
  record: Ctx;
  outcome: Outcome;
}

/**
 * Whether `run_now` is refused for overlap (SPEC §6): an execution is active, the overlap policy
 * is not `allow` and the request does not say `ignoreOverlap`.
 */
export const runNowOverlaps = (r: JobRecord, ignoreOverlap: boolean): boolean =>
  !ignoreOverlap && r.active.length > 0 && r.spec.overlapPolicy !== 'allow';

/**
 * `run_now`: dispatched at once as `runNowExecutionId(incarnation, runNowSeq + 1)`, whose id the
 * outcome carries; refused with `overlap` (the active executions as details) when it would overlap.
 */
export function runNow(r: Ctx, step: number, now: number, inputs: unknown, ignoreOverlap: boolean): Decided {
  if (runNowOverlaps(r, ignoreOverlap)) {
    return {
      record: r,
      outcome: {
        ok: false,
        code: 'overlap',
        message: `job "${r.jobId}" has an active execution and its overlap policy is "${r.spec.overlapPolicy}"`,
        details: { activeExecutions: r.active.map((a) => a.executionId) },
      },
    };
  }
  const seq = r.runNowSeq + 1;
  const executionId = runNowExecutionId(r.incarnation, seq);
  return { record: dispatch({ ...r, runNowSeq: seq }, step, now, now, 'run_now', executionId, { inputs }), outcome: { ok: true, executionId } };
}

/**
 * The action an execution's dispatch carries: the job's target, with `run_now` inputs (when the
 * execution has any) replacing the target's own for this execution only: `inputs` of a
 * `workflow_start`, `args` of a `command`.
 */
export function dispatchAction(target: Target, inputs: unknown): Target {
  if (inputs === undefined) return target;
  return target.type === 'workflow_start' ? { ...target, inputs } : { ...target, args: inputs };
}

/** The body of the dispatch request (SPEC §5) for an active execution of `r`; null when it is not active. */
export function dispatchRequest(r: JobRecord, executionId: string): DispatchRequest | null {
  const a = r.active.find((x) => x.executionId === executionId);
  if (!a) return null;
  return {
    executionId,
    orchestratorId: r.orchestratorId,
    jobId: r.jobId,
    scheduledAt: iso(a.scheduledAt),
    firedAt: iso(a.dispatchedAt),
    trigger: a.trigger,
    attempt: a.attempt,
    ...(a.firesAt !== undefined && { firesAt: iso(a.firesAt) }),
    action: dispatchAction(r.spec.target, a.inputs),
  };
}

/** A retry came due (DISPATCH_ATTEMPT): the execution's next attempt is audited and sent (a dispatch effect). */
export function dispatchAttempt(r: Ctx, step: number, now: number, executionId: string, attempt: number): Ctx {
  const a = r.active.find((x) => x.executionId === executionId);
  if (!a || a.state !== 'dispatched' || attempt <= a.attempt) return r;
  const next = { ...r, active: r.active.map((x) => (x === a ? { ...x, attempt } : x)) };
  const audited = emitEvent(next, step, now, 'trigger.dispatched', { scheduledAt: iso(a.scheduledAt), trigger: a.trigger, attempt }, executionId);
  return withEffect(audited, step, { kind: 'dispatch', executionId });
}

/** The next attempt of a dispatch that failed, and the instant it is due. */
export interface DispatchRetry {
  executionId: string;
  attempt: number;
  at: number;
}

/**
 * The retry policy (SPEC §5, `dispatchRetry`): an attempt that got no reply (`timeout`) or found no
 * responders is tried again `backoffMs` later, up to `attempts` attempts in all; a refusal
 * (`rejected`) is never retried. Null when the dispatch fails for good (or the execution is not
 * waiting for a dispatch reply).
 */
export function dispatchRetry(r: JobRecord, now: number, executionId: string, reason: DispatchFailure): DispatchRetry | null {
  const a = r.active.find((x) => x.executionId === executionId);
  if (!a || a.state !== 'dispatched' || reason === 'rejected' || a.attempt >= r.spec.dispatchRetry.attempts) return null;
  return { executionId, attempt: a.attempt + 1, at: now + r.spec.dispatchRetry.backoffMs };
}

/**
 * One attempt failed (DISPATCH_FAILED): retried as `dispatchRetry` says (the record unchanged, the
 * retry is a timer for the actor), else the dispatch failed for good (`dispatchFailed`).
 */
export function attemptFailed(
  r: Ctx,
  step: number,
  now: number,
  executionId: string,
  reason: DispatchFailure,
  detail?: string,
): { record: Ctx; retry: DispatchRetry | null } {
  const retry = dispatchRetry(r, now, executionId, reason);
  return retry !== null ? { record: r, retry } : { record: dispatchFailed(r, step, now, executionId, reason, detail), retry: null };
}

export function dispatchAccepted(r: Ctx, step: number, now: number, executionId: string): Ctx {
  const a = r.active.find((x) => x.executionId === executionId);
  if (!a || a.state !== 'dispatched') return r;
  const running: ActiveExecution = { ...a, state: 'running', deadlineAt: now + r.spec.maxRuntimeMs };
  const next = { ...r, active: r.active.map((x) => (x === a ? running : x)) };
  return emitEvent(next, step, now, 'execution.started', { scheduledAt: iso(a.scheduledAt), trigger: a.trigger, attempt: a.attempt }, executionId);
}

/** The dispatch failed for good: `trigger.failed` with the attempts made, the guard released. */
export function dispatchFailed(r: Ctx, step: number, now: number, executionId: string, reason: DispatchFailure, detail?: string): Ctx {
  const a = r.active.find((x) => x.executionId === executionId);
  if (!a || a.state !== 'dispatched') return r;
  const next = emitEvent(r, step, now, 'trigger.failed', {
    scheduledAt: iso(a.scheduledAt),
    trigger: a.trigger,
    attempts: a.attempt,
    reason,
    ...(detail !== undefined && { detail }),
  }, executionId);
  return finish(next, step, now, executionId, 'dispatch_failed');
}

export function completed(
  r: Ctx,
  step: number,
  now: number,
  c: { executionId: string; status: CompletionStatus; error?: unknown; output?: unknown },
): Ctx {
  const a = r.active.find((x) => x.executionId === c.executionId);
  if (!a) {
    const reason = r.terminated.includes(c.executionId) ? 'terminated' : r.recentDone.includes(c.executionId) ? 'duplicate' : 'unknown_execution';
    return emitEvent(r, step, now, 'execution.completion_rejected', { reason, status: c.status }, c.executionId);
  }
  // The completion can overtake the accept reply (they travel different paths): the execution
  // evidently started, and the audit trail says so in order.
  const started = a.state === 'dispatched' ? dispatchAccepted(r, step, now, c.executionId) : r;
  const next = emitEvent(started, step, now, 'execution.completed', {
    status: c.status,
    scheduledAt: iso(a.scheduledAt),
    trigger: a.trigger,
    ...(c.error !== undefined && { error: c.error }),
    ...(c.output !== undefined && { output: c.output }),
  }, c.executionId);
  return finish(next, step, now, c.executionId, c.status);
}

/** A heartbeat pushes the deadline out by `maxRuntimeMs`; on a dispatched execution it also means accepted. */
export function heartbeat(r: Ctx, step: number, now: number, executionId: string): Ctx {
  const a = r.active.find((x) => x.executionId === executionId);
  if (!a) return r;
  if (a.state === 'dispatched') return dispatchAccepted(r, step, now, executionId);
  const deadlineAt = now + r.spec.maxRuntimeMs;
  return { ...r, active: r.active.map((x) => (x === a ? { ...x, deadlineAt } : x)) };
}

/** Pause (the command, or `pauseOnFailure` with reason `failure` and the execution that failed). */
export function pause(r: Ctx, step: number, now: number, reason: string | null, executionId?: string): Ctx {
  if (r.spec.paused) return r;
  const next: Ctx = { ...r, spec: { ...r.spec, paused: true }, pausedReason: reason, revision: r.revision + 1, updatedAt: now };
  return emitEvent(next, step, now, 'job.paused', { reason, revision: next.revision }, executionId);
}

/** Resume: the next slot is the first after now; slots passed while paused are not misfires. */
export function resume(r: Ctx, step: number, now: number): Ctx {
  if (!r.spec.paused) return r;
  const spec: JobSpec = { ...r.spec, paused: false };
  let next: Ctx = {
    ...r,
    spec,
    pausedReason: null,
    nextRunAt: nextSlot(r, scheduleOf(spec, r.anchorAt), now),
    revision: r.revision + 1,
    updatedAt: now,
  };
  next = emitEvent(next, step, now, 'job.resumed', { revision: next.revision, nextRunAt: next.nextRunAt === null ? null : iso(next.nextRunAt) });
  return releaseBuffered(next, step, now);
}

/**
 * `update`: decided by `decideUpdate`; a refusal leaves the record as it is and is the outcome,
 * else the patch is applied (`applyUpdate`) and the outcome is ok (the reply is the record).
 */
export function update(r: Ctx, step: number, now: number, req: UpdateRequest): Decided {
  const d = decideUpdate(r, now, req);
  if (d.kind === 'refused') return { record: r, outcome: d.refusal };
  return { record: applyUpdate(r, step, now, d.spec, d.changed, d.scheduleChanged), outcome: { ok: true } };
}

/** A patch applied: a new schedule counts from now (interval anchor = now); active executions are untouched. */
export function applyUpdate(r: Ctx, step: number, now: number, spec: JobSpec, changed: string[], scheduleChanged: boolean): Ctx {
  if (changed.length === 0) return r;
  const anchorAt = scheduleChanged ? now : r.anchorAt;
  const wasPaused = r.spec.paused;
  const unpauses = wasPaused && !spec.paused;
  // an update of maxRuns sets remainingRuns to it (SPEC §10); an exhausted job gets its slots back
  const runsChanged = changed.includes('maxRuns');
  const remainingRuns = runsChanged ? spec.maxRuns : r.remainingRuns;
  const unexhausts = runsChanged && r.remainingRuns === 0 && remainingRuns !== 0;
  let nextRunAt = remainingRuns === 0 ? null : r.nextRunAt;
  if ((scheduleChanged || unpauses || unexhausts) && remainingRuns !== 0) nextRunAt = scheduleOf(spec, anchorAt).nextAfter(now);
  let next: Ctx = {
    ...r,
    spec,
    anchorAt,
    remainingRuns,
    nextRunAt,
    pausedReason: spec.paused ? r.pausedReason : null,
    revision: r.revision + 1,
    updatedAt: now,
  };
  next = emitEvent(next, step, now, 'job.updated', { changed, revision: next.revision });
  if (runsChanged && remainingRuns === 0 && r.remainingRuns !== 0) {
    next = emitEvent({ ...next, nextRunAt: null }, step, now, 'job.exhausted', { maxRuns: 0, lastScheduledAt: r.lastScheduledAt === null ? null : iso(r.lastScheduledAt) });
  }
  return unpauses ? releaseBuffered(next, step, now) : next;
}

/** How long after its `faults`-th fault a job that keeps faulting is retried: 1 s, doubling, at most 60 s. */
export const faultRetryMs = (faults: number): number => Math.min(60_000, 1_000 * 2 ** Math.min(Math.max(faults, 1) - 1, 6));

/**
 * The machine threw on `cause` (its `faults`-th fault): the job goes on from `r`, its last written
 * record, with `job.faulted` in the outbox, and is woken again at `retryAt` at the earliest (a
 * machine that keeps throwing is retried with backoff, never in a tight loop). The actor restarts
 * the machine from `record`, writes it, publishes its events and arms the timer: nothing else.
 */
export function faulted(r: Ctx, step: number, now: number, error: unknown, cause: string, faults: number): { record: Ctx; retryAt: number } {
  const message = error instanceof Error ? error.message : String(error);
  return {
    record: emitEvent(r, step, now, 'job.faulted', { error: message, event: cause, faults }),
    retryAt: now + faultRetryMs(faults),
  };
}

export function deleted(r: Ctx, step: number, now: number): Ctx {
  return emitEvent(r, step, now, 'job.deleted', { revision: r.revision, activeExecutions: r.active.map((a) => a.executionId) });
}

/** A new record for `create`; `job.created` is in its outbox. */
export function newRecord(args: {
  orchestratorId: string;
  spec: JobSpec;
  incarnation: string;
  now: number;
  step: number;
}): Ctx {
  const { orchestratorId, spec, incarnation, now, step } = args;
  const schedule = scheduleOf(spec, now);
  const first =
    spec.maxRuns === 0 ? null : spec.schedule.kind === 'once' ? schedule.nextAfter(Math.min(spec.schedule.at, now) - 1) : schedule.nextAfter(now - 1);
  const r: Ctx = {
    v: 1,
    orchestratorId,
    jobId: spec.jobId,
    incarnation,
    spec,
    anchorAt: now,
    revision: 1,
    createdAt: now,
    updatedAt: now,
    state: spec.paused ? 'paused' : 'idle',
    pausedReason: null,
    nextRunAt: first,
    lastScheduledAt: null,
    lastFiredAt: null,
    lastResult: null,
    active: [],
    buffered: [],
    remainingRuns: spec.maxRuns,
    counters: { dispatched: 0, succeeded: 0, failed: 0, cancelled: 0, terminated: 0, timedOut: 0, dispatchFailed: 0, skippedOverlap: 0, skippedBufferFull: 0, missed: 0 },
    runNowSeq: 0,
    backfillSeq: 0,
    backfills: [],
    terminated: [],
    eventSeq: 0,
    recentDone: [],
    outbox: [],
    outboxStep: -1,
  };
  return emitEvent(r, step, now, 'job.created', { revision: 1, nextRunAt: first === null ? null : iso(first) });
}

// ---------------------------------------------------------------------------------------------
// Backfill (SPEC §10)
// ---------------------------------------------------------------------------------------------

/** A backfill as the command asks it: `[from, to)`, its policy, a dry run, the server's slot limit. */
export interface BackfillRequest {
  from: number;
  to: number;
  overlapPolicy?: BackfillPolicy | undefined;
  dryRun?: boolean | undefined;
  maxSlots: number;
}

const backfillSchedules = new WeakMap<Backfill['schedule'], Schedule>();

/**
 * The schedule a backfill from `from` follows: the job's as it is now. An interval without
 * `startAt` has the slots anchor + k·every, k ≥ 1 (none before the job existed); a backfill
 * extends that lattice into the past, so its slots are those the job would have had.
 */
function backfillSnapshot(r: JobRecord, from: number): Backfill['schedule'] {
  const { schedule, startAt, endAt } = r.spec;
  if (schedule.kind !== 'interval' || startAt !== null) return { schedule, startAt, endAt, anchorAt: r.anchorAt };
  const lattice = r.anchorAt + schedule.every * Math.floor((from - r.anchorAt) / schedule.every);
  return { schedule, startAt: lattice, endAt, anchorAt: r.anchorAt };
}

/** The compiled schedule of a backfill's snapshot (memoised per snapshot object). */
function backfillSchedule(snapshot: Backfill['schedule']): Schedule {
  let s = backfillSchedules.get(snapshot);
  if (!s) {
    const { schedule, startAt, endAt, anchorAt } = snapshot;
    s = compileSchedule(schedule, { startAt, endAt: Math.min(endAt ?? MAX_INSTANT, MAX_INSTANT), anchor: anchorAt });
    backfillSchedules.set(snapshot, s);
  }
  return s;
}

/** The slots of `schedule` in `[from, to)`, at most `limit` of them (and whether there are more). */
export function slotsIn(schedule: Schedule, from: number, to: number, limit: number): { slots: number[]; more: boolean } {
  const slots: number[] = [];
  let t = schedule.nextAfter(from - 1);
  while (t !== null && t < to) {
    if (slots.length === limit) return { slots, more: true };
    slots.push(t);
    t = schedule.nextAfter(t);
  }
  return { slots, more: false };
}

/**
 * `backfill`: the job's slots in `[from, to)` under its schedule as it is now, refused with
 * `limit_exceeded` beyond `maxSlots`. A dry run changes nothing; otherwise the backfill is stored
 * (`backfill.started`) and its first executions dispatched as its policy allows. Works on paused
 * jobs; neither `nextRunAt` nor `remainingRuns` moves.
 */
export function backfill(r: Ctx, step: number, now: number, req: BackfillRequest): Decided {
  const snapshot = backfillSnapshot(r, req.from);
  const { slots, more } = slotsIn(backfillSchedule(snapshot), req.from, req.to, req.maxSlots);
  if (more) {
    return {
      record: r,
      outcome: {
        ok: false,
        code: 'limit_exceeded',
        message: `the backfill has more than ${req.maxSlots} slots (SCHED_MAX_BACKFILL)`,
        details: [{ path: 'to', message: `at most ${req.maxSlots} slots` }],
      },
    };
  }
  const listed = slots.slice(0, BACKFILL_LISTED).map(iso);
  if (req.dryRun) return { record: r, outcome: { ok: true, backfill: { count: slots.length, scheduledAt: listed } } };
  const seq = r.backfillSeq + 1;
  const b: Backfill = {
    id: seq.toString(36),
    from: req.from,
    to: req.to,
    policy: req.overlapPolicy ?? 'buffer_all',
    count: slots.length,
    dispatched: 0,
    cursor: req.from - 1,
    schedule: snapshot,
  };
  let next: Ctx = { ...r, backfillSeq: seq, backfills: [...r.backfills, b] };
  next = emitEvent(next, step, now, 'backfill.started', { backfillId: b.id, from: iso(b.from), to: iso(b.to), count: b.count, overlapPolicy: b.policy });
  next = advanceBackfills(next, step, now);
  return { record: next, outcome: { ok: true, backfill: { count: slots.length, scheduledAt: listed, backfillId: b.id } } };
}

/**
 * Moves the backfills on, oldest first: the first one dispatches its next slots (`buffer_all`: one
 * when nothing of the job is active; `allow`: up to `BACKFILL_ALLOW_CONCURRENCY` of its own at
 * once); one whose slots are all dispatched and ended is `backfill.completed` and the next starts.
 */
export function advanceBackfills(r: Ctx, step: number, now: number): Ctx {
  let next = r;
  for (;;) {
    const b = next.backfills[0];
    if (b === undefined) return next;
    const own = next.active.filter((a) => a.backfillId === b.id).length;
    let room = b.policy === 'allow' ? BACKFILL_ALLOW_CONCURRENCY - own : next.active.length === 0 ? 1 : 0;
    let cur = b;
    while (room > 0 && cur.dispatched < cur.count) {
      const t = backfillSchedule(cur.schedule).nextAfter(cur.cursor);
      if (t === null || t >= cur.to) {
        cur = { ...cur, dispatched: cur.count };
        break;
      }
      cur = { ...cur, cursor: t, dispatched: cur.dispatched + 1 };
      next = dispatch(next, step, now, t, 'backfill', backfillExecutionId(next.incarnation, b.id, t), { backfillId: b.id });
      room--;
    }
    if (cur !== b) next = { ...next, backfills: [cur, ...next.backfills.slice(1)] };
    if (cur.dispatched < cur.count || next.active.some((a) => a.backfillId === b.id)) return next;
    next = { ...next, backfills: next.backfills.slice(1) };
    next = emitEvent(next, step, now, 'backfill.completed', { backfillId: b.id, count: b.count });
  }
}

/** Whether a backfill would dispatch once nothing is active (what is left after an execution ends). */
export const backfillWaiting = (r: JobRecord): boolean => r.backfills.some((b) => b.dispatched < b.count);
