import { DateTime } from 'luxon';
import type { ExecutionResult, ExplainOutcome } from '../contract/constants.js';
import type { ExplainResult } from '../contract/messages.js';
import type { AuditEvent, JobRecord } from './record.js';
import { scheduleOf } from './spec.js';

/**
 * `explain` (SPEC §11): what happened to a job's slot at or just before an instant, derived from
 * its audit trail alone: pure, over the events the caller read (`explainReads` says which).
 */

/** The events that say whether a job was paused, exhausted or existing at an instant (read whole). */
export const HISTORY_TYPES = ['job.created', 'job.updated', 'job.paused', 'job.resumed', 'job.exhausted'] as const;
/** The events that say what happened to a slot (read from the slot's instant on). */
export const SLOT_TYPES = [
  'trigger.dispatched',
  'trigger.skipped',
  'trigger.buffered',
  'trigger.failed',
  'misfire.fired_once',
  'misfire.skipped',
  'execution.completed',
  'execution.timed_out',
  'execution.terminated',
  'execution.cancel_requested',
] as const;

const iso = (ms: number): string => new Date(ms).toISOString();
const zoneOf = (r: JobRecord): string => (r.spec.schedule.kind === 'cron' ? r.spec.schedule.timezone : 'UTC');

/** A slot as people read it: its wall time in the job's zone (`2026-12-01 02:00 Europe/Berlin`). */
export function localSlot(r: JobRecord, ms: number): string {
  const zone = zoneOf(r);
  return `${DateTime.fromMillis(ms, { zone }).toFormat('yyyy-MM-dd HH:mm')} ${zone}`;
}

/** The slot of the job's current schedule at or just before `at` (null: none). */
export function slotAtOrBefore(r: JobRecord, at: number): number | null {
  return scheduleOf(r.spec, r.anchorAt).slotsBetween(0, at).last;
}

/** Which slot `explain` is about, and whether the trail must be read for it. */
export type ExplainPlan = { read: false; answer: ExplainResult } | { read: true; slot: number };

/** The answers that need no trail (SPEC §11: before_start, after_end, no_slot, not_yet). */
export function explainPlan(r: JobRecord, at: number, now: number): ExplainPlan {
  const { startAt, endAt } = r.spec;
  const none = (outcome: ExplainOutcome, sentence: string, slot: number | null = null): ExplainPlan => ({
    read: false,
    answer: { slot: slot === null ? null : { scheduledAt: iso(slot) }, outcome, sentence, eventIds: [] },
  });
  if (startAt !== null && at < startAt) return none('before_start', `the job starts at ${localSlot(r, startAt)}: no slot before that`);
  if (endAt !== null && at > endAt) return none('after_end', `the job's schedule ended at ${localSlot(r, endAt)}`);
  const slot = slotAtOrBefore(r, at);
  if (slot === null) return none('no_slot', `the schedule has no slot at or before ${localSlot(r, at)}`);
  if (slot > now) return none('not_yet', `the ${localSlot(r, slot)} slot is still to come`, slot);
  if (slot < r.createdAt && !(r.spec.schedule.kind === 'once' && slot >= r.createdAt - 1)) {
    return none('before_start', `the job was created at ${localSlot(r, r.createdAt)}, after the ${localSlot(r, slot)} slot`, slot);
  }
  return { read: true, slot };
}

/** The end of an execution, `lastResult`-shaped, from its event (null: not an end). */
export function endOf(e: AuditEvent): { status: ExecutionResult; at: string } | null {
  switch (e.type) {
    case 'execution.completed':
      return { status: e.data.status as ExecutionResult, at: e.at };
    case 'execution.timed_out':
      return { status: 'timed_out', at: e.at };
    case 'trigger.failed':
      return { status: 'dispatch_failed', at: e.at };
    case 'execution.terminated':
      return { status: 'terminated', at: e.at };
    default:
      return null;
  }
}

/** The slot an execution id of a schedule slot names (`<incarnation>-s<base 36>`), for sentences. */
function slotOfExecution(executionId: string): number | null {
  const m = /-s([0-9a-z]+)$/.exec(executionId);
  return m ? parseInt(m[1]!, 36) : null;
}

/**
 * What happened to `slot`, from the job's `history` (HISTORY_TYPES, whole) and `events`
 * (SLOT_TYPES, from the slot's instant on, in stream order).
 */
export function explainSlot(r: JobRecord, slot: number, allHistory: readonly AuditEvent[], allEvents: readonly AuditEvent[]): ExplainResult {
  // a job deleted and created again shares its subjects with the earlier incarnation: only this one's events count
  const own = (e: AuditEvent): boolean => e.id.startsWith(`${r.incarnation}-`);
  const history = allHistory.filter(own);
  const events = allEvents.filter(own);
  const S = iso(slot);
  const where = `the ${localSlot(r, slot)} slot`;
  const base = { slot: { scheduledAt: S } };
  const answer = (outcome: ExplainOutcome, sentence: string, used: AuditEvent[], extra: Partial<ExplainResult> = {}): ExplainResult => ({
    ...base,
    outcome,
    ...extra,
    sentence,
    eventIds: used.map((e) => e.id),
  });

  // dispatched (on time, buffered, or as the misfire recovery), and how it ended
  const dispatched = events.find(
    (e) => e.type === 'trigger.dispatched' && e.data.scheduledAt === S && e.data.attempt === 1 && e.data.trigger !== 'run_now' && e.data.trigger !== 'backfill',
  );
  if (dispatched?.executionId !== undefined) {
    const id = dispatched.executionId;
    const ended = events.find((e) => e.executionId === id && endOf(e) !== null);
    const used = [dispatched, ...(ended ? [ended] : [])];
    const how = dispatched.data.trigger === 'misfire_recovery' ? 'after a misfire, as the latest missed slot' : dispatched.data.trigger === 'buffered' ? 'after waiting for the execution before it' : 'on time';
    const firedAt = `at ${localSlot(r, Date.parse(dispatched.at))}`;
    if (!ended) return answer('dispatched', `${where} was dispatched ${how} ${firedAt} as execution ${id}, which has not ended yet`, used, { executionId: id });
    const end = endOf(ended)!;
    return answer('dispatched', `${where} was dispatched ${how} ${firedAt} as execution ${id}, which ended ${end.status}`, used, {
      executionId: id,
      result: { executionId: id, status: end.status, at: end.at },
    });
  }
  const skipped = events.find((e) => e.type === 'trigger.skipped' && e.data.scheduledAt === S);
  if (skipped) {
    const reason = String(skipped.data.reason);
    if (reason === 'buffer_full') {
      return answer('skipped', `${where} was skipped: SCHED_MAX_BUFFERED slots were already waiting (overlap policy buffer_all)`, [skipped], { reason });
    }
    const others = (skipped.data.activeExecutions as string[] | undefined) ?? [];
    const running = others.map((x) => {
      const s = slotOfExecution(x);
      return s === null ? `execution ${x}` : `execution ${x} from ${DateTime.fromMillis(s, { zone: zoneOf(r) }).toFormat('HH:mm')}`;
    });
    const who = running.length > 0 ? `${running.join(', ')} was still running` : 'an execution was still active';
    return answer('skipped', `${where} was skipped: ${who} (overlap policy ${r.spec.overlapPolicy === 'cancel_other' ? 'cancel_other, a slot already waiting' : r.spec.overlapPolicy})`, [skipped], { reason });
  }
  const cancelled = events.find((e) => e.type === 'execution.cancel_requested' && e.data.forSlot === S && e.data.policy === 'cancel_other');
  if (cancelled) {
    return answer('cancelled_other', `${where} asked execution ${cancelled.executionId ?? '?'} to stop (overlap policy cancel_other) and waits for it to end`, [cancelled], {
      ...(cancelled.executionId !== undefined && { executionId: cancelled.executionId }),
    });
  }
  const buffered = events.find((e) => e.type === 'trigger.buffered' && e.data.scheduledAt === S);
  if (buffered) return answer('buffered', `${where} is waiting for the active execution to end (overlap policy ${r.spec.overlapPolicy})`, [buffered]);
  const misfire = events.find(
    (e) => (e.type === 'misfire.skipped' || e.type === 'misfire.fired_once') && String(e.data.firstMissedAt) <= S && S <= String(e.data.lastMissedAt),
  );
  if (misfire) {
    const n = Number(misfire.data.missedCount);
    const policy = misfire.type === 'misfire.skipped' ? 'skip_missed: none was run' : `fire_once_on_recovery: only the latest, ${localSlot(r, Date.parse(String(misfire.data.lastMissedAt)))}, was run`;
    return answer('missed', `${where} was missed: ${n} slot${n === 1 ? '' : 's'} had passed when the scheduler could fire them (at ${localSlot(r, Date.parse(misfire.at))}; misfire policy ${policy})`, [misfire], {
      reason: misfire.type,
    });
  }

  // nothing about the slot itself: the job's state at that instant
  const before = history.filter((e) => Date.parse(e.at) <= slot);
  const lastPause = [...before].reverse().find((e) => e.type === 'job.paused' || e.type === 'job.resumed');
  if (lastPause?.type === 'job.paused') {
    const reason = lastPause.data.reason === null || lastPause.data.reason === undefined ? null : String(lastPause.data.reason);
    return answer('paused', `${where} did not fire: the job was paused at ${localSlot(r, Date.parse(lastPause.at))}${reason === null ? '' : ` (reason: ${reason})`}`, [lastPause], {
      ...(reason !== null && { reason }),
    });
  }
  const exhausted = [...before].reverse().find((e) => e.type === 'job.exhausted' || (e.type === 'job.updated' && (e.data.changed as string[] | undefined)?.includes('maxRuns')));
  if (exhausted?.type === 'job.exhausted') {
    return answer('exhausted', `${where} did not fire: the job had used its last run (maxRuns ${String(exhausted.data.maxRuns)}) at ${localSlot(r, Date.parse(exhausted.at))}`, [exhausted]);
  }
  const created = history.find((e) => e.type === 'job.created');
  const oldest = [...history, ...events].reduce<number | null>((m, e) => (m === null ? Date.parse(e.at) : Math.min(m, Date.parse(e.at))), null);
  if (created === undefined && (oldest === null || oldest > slot)) {
    return answer('unknown', `${where} is older than the audit trail keeps (SCHED_EVENTS_MAX_AGE): nothing is known about it`, []);
  }
  return answer('unknown', `the audit trail has no event about ${where}`, created ? [created] : []);
}
