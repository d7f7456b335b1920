import type { DispatchFailure, EventType, JobState, Trigger, CompletionStatus } from '../contract/constants.js';
import { runNowExecutionId, slotExecutionId } from '../contract/ids.js';
import type { ActiveExecution, AuditEvent, Effect, JobRecord } from '../core/record.js';
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

/** Records a state change of the machine (`transition` event) on entry into `to`. */
export function enterState(r: Ctx, step: number, now: number, to: JobState, cause: string): Ctx {
  if (r.state === to) return r;
  const next = emitEvent(r, step, now, 'transition', { from: r.state, to, event: cause });
  return { ...next, state: to };
}

export const isSlotDue = (r: JobRecord, now: number): boolean =>
  !r.spec.paused && r.nextRunAt !== null && now >= r.nextRunAt;

/**
 * Whether the slots due at `now` are a misfire (SPEC §6): more than one slot due, or the one due
 * later than `misfireGraceMs`. False when nothing is due.
 */
export function isMisfire(r: JobRecord, now: number): boolean {
  const first = r.nextRunAt;
  if (first === null || now < first) return false;
  if (now - first > r.spec.misfireGraceMs) return true;
  return scheduleOf(r.spec, r.anchorAt).slotsBetween(first, now).count > 1;
}

/** Whether the slots due at `now` are a misfire that the policy skips (`skip_missed`: nothing fires). */
export const skipsMissedSlots = (r: JobRecord, now: number): boolean => r.spec.misfirePolicy === 'skip_missed' && isMisfire(r, now);

/**
 * What the overlap policy does with a slot that fires now (SPEC §6): `dispatch` when nothing is
 * active or the policy is `allow`; `buffer` under `buffer_one` with no slot waiting yet; else `skip`.
 */
export type OverlapDecision = 'dispatch' | 'buffer' | 'skip';
export function overlapDecision(r: JobRecord): OverlapDecision {
  if (r.active.length === 0 || r.spec.overlapPolicy === 'allow') return 'dispatch';
  if (r.spec.overlapPolicy === 'buffer_one' && r.bufferedSlot === null) return 'buffer';
  return 'skip';
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
  if (left.length > 0 || (r.bufferedSlot !== null && !paused)) return 'dispatched';
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

/** The earliest instant at which the job needs a TICK: next slot (unless paused) or a deadline. */
export function nextWakeAt(r: JobRecord): number | null {
  let t = r.spec.paused ? null : r.nextRunAt;
  for (const a of r.active) if (t === null || a.deadlineAt < t) t = a.deadlineAt;
  return t;
}

function dispatch(r: Ctx, step: number, now: number, scheduledAt: number, trigger: Trigger, executionId: string, inputs?: unknown): Ctx {
  if (r.active.some((a) => a.executionId === executionId)) return r;
  const exec: ActiveExecution = {
    executionId,
    scheduledAt,
    trigger,
    state: 'dispatched',
    dispatchedAt: now,
    deadlineAt: now + r.spec.maxRuntimeMs,
    attempt: 1,
    ...(inputs !== undefined && { inputs }),
  };
  let next: Ctx = {
    ...r,
    active: [...r.active, exec],
    lastFiredAt: now,
    counters: { ...r.counters, dispatched: r.counters.dispatched + 1 },
  };
  next = emitEvent(next, step, now, 'trigger.dispatched', { scheduledAt: iso(scheduledAt), trigger, attempt: 1 }, executionId);
  return withEffect(next, step, { kind: 'dispatch', executionId });
}

/** A slot that came due: dispatched, or skipped/buffered as `decision` says. */
function fireSlot(r: Ctx, step: number, now: number, scheduledAt: number, trigger: Trigger, decision: OverlapDecision): Ctx {
  const executionId = slotExecutionId(r.incarnation, scheduledAt);
  if (decision === 'buffer') {
    const next = { ...r, bufferedSlot: { scheduledAt } };
    return emitEvent(next, step, now, 'trigger.buffered', { scheduledAt: iso(scheduledAt), trigger }, executionId);
  }
  if (decision === 'skip') {
    const next = { ...r, counters: { ...r.counters, skippedOverlap: r.counters.skippedOverlap + 1 } };
    return emitEvent(next, step, now, 'trigger.skipped', { scheduledAt: iso(scheduledAt), trigger, reason: 'overlap' }, executionId);
  }
  return dispatch(r, step, now, scheduledAt, trigger, executionId);
}

/**
 * Fires what is due at `now`. Exactly one slot due within `misfireGraceMs` fires normally; more
 * than one slot due, or one later than the grace, is a misfire: the slots are counted (O(1) for
 * intervals), the misfire policy dispatches one execution for the latest or none, and the next
 * slot is the first strictly after `now`. A stall or a downtime therefore never causes a burst.
 * The slot that fires gets `overlap` (by default what the overlap policy decides for this record).
 */
export function fireDue(r: Ctx, step: number, now: number, overlap: OverlapDecision = overlapDecision(r)): Ctx {
  const first = r.nextRunAt;
  if (first === null || now < first || r.spec.paused) return r;
  const schedule = scheduleOf(r.spec, r.anchorAt);
  const range = schedule.slotsBetween(first, now);
  const last = range.last ?? first;
  let next: Ctx = { ...r, nextRunAt: schedule.nextAfter(now), lastScheduledAt: last };
  if (range.count <= 1 && now - first <= r.spec.misfireGraceMs) {
    return fireSlot(next, step, now, first, 'schedule', overlap);
  }
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

/** Releases the guard of an execution that ended and dispatches the buffered slot if it may. */
function finish(
  r: Ctx,
  step: number,
  now: number,
  executionId: string,
  status: 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'dispatch_failed',
): Ctx {
  const counters = { ...r.counters };
  if (status === 'succeeded') counters.succeeded++;
  else if (status === 'failed') counters.failed++;
  else if (status === 'cancelled') counters.cancelled++;
  else if (status === 'timed_out') counters.timedOut++;
  else counters.dispatchFailed++;
  const recentDone = [...r.recentDone, executionId].slice(-RECENT_DONE);
  let next: Ctx = {
    ...r,
    active: r.active.filter((a) => a.executionId !== executionId),
    counters,
    recentDone,
    lastResult: { executionId, status, at: now },
  };
  next = releaseBuffered(next, step, now);
  return next;
}

/** Dispatches the buffered slot when nothing is active and the job is not paused. */
export function releaseBuffered(r: Ctx, step: number, now: number): Ctx {
  if (r.bufferedSlot === null || r.active.length > 0 || r.spec.paused) return r;
  const { scheduledAt } = r.bufferedSlot;
  return dispatch({ ...r, bufferedSlot: null }, step, now, scheduledAt, 'buffered', slotExecutionId(r.incarnation, scheduledAt));
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
export type Outcome = { ok: true; executionId?: string } | Refusal;

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
  return { record: dispatch({ ...r, runNowSeq: seq }, step, now, now, 'run_now', executionId, inputs), outcome: { ok: true, executionId } };
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
    const reason = r.recentDone.includes(c.executionId) ? 'duplicate' : 'unknown_execution';
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

export function pause(r: Ctx, step: number, now: number, reason: string | null): Ctx {
  if (r.spec.paused) return r;
  const next: Ctx = { ...r, spec: { ...r.spec, paused: true }, pausedReason: reason, revision: r.revision + 1, updatedAt: now };
  return emitEvent(next, step, now, 'job.paused', { reason, revision: next.revision });
}

/** Resume: the next slot is the first after now; slots passed while paused are not misfires. */
export function resume(r: Ctx, step: number, now: number): Ctx {
  if (!r.spec.paused) return r;
  const spec: JobSpec = { ...r.spec, paused: false };
  let next: Ctx = {
    ...r,
    spec,
    pausedReason: null,
    nextRunAt: scheduleOf(spec, r.anchorAt).nextAfter(now),
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
  let nextRunAt = r.nextRunAt;
  if (scheduleChanged || unpauses) nextRunAt = scheduleOf(spec, anchorAt).nextAfter(now);
  let next: Ctx = {
    ...r,
    spec,
    anchorAt,
    nextRunAt,
    pausedReason: spec.paused ? r.pausedReason : null,
    revision: r.revision + 1,
    updatedAt: now,
  };
  next = emitEvent(next, step, now, 'job.updated', { changed, revision: next.revision });
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
  const first = spec.schedule.kind === 'once' ? schedule.nextAfter(Math.min(spec.schedule.at, now) - 1) : schedule.nextAfter(now - 1);
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
    bufferedSlot: null,
    counters: { dispatched: 0, succeeded: 0, failed: 0, cancelled: 0, timedOut: 0, dispatchFailed: 0, skippedOverlap: 0, missed: 0 },
    runNowSeq: 0,
    eventSeq: 0,
    recentDone: [],
    outbox: [],
    outboxStep: -1,
  };
  return emitEvent(r, step, now, 'job.created', { revision: 1, nextRunAt: first === null ? null : iso(first) });
}
