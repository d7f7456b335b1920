import type { JobView } from '../contract/messages.js';
import type { JobRecord } from './record.js';
import { scheduleOf } from './spec.js';

export type { JobView } from '../contract/messages.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const isoOf = (ms: number): string => new Date(ms).toISOString();

/**
 * The job view (SPEC §4, its type the output of `jobViewSchema`). While paused, `nextRunAt` shows
 * the slot a resume at `now` would give (the first after now); otherwise the stored next slot.
 */
export function toView(r: JobRecord, now: number, withNextRuns = false): JobView {
  const s = r.spec;
  const schedule = scheduleOf(s, r.anchorAt);
  const exhausted = r.remainingRuns === 0;
  const nextRunAt = exhausted ? null : r.spec.paused ? schedule.nextAfter(now) : r.nextRunAt;
  const oldest = r.buffered[0];
  const view: JobView = {
    orchestratorId: r.orchestratorId,
    jobId: r.jobId,
    name: s.name,
    labels: s.labels,
    schedule: s.schedule.kind === 'once' ? { kind: 'once', at: isoOf(s.schedule.at) } : s.schedule,
    startAt: iso(s.startAt),
    endAt: iso(s.endAt),
    target: s.target,
    allowOverlap: s.allowOverlap,
    overlapPolicy: s.overlapPolicy,
    misfirePolicy: s.misfirePolicy,
    misfireGraceMs: s.misfireGraceMs,
    maxRuntimeMs: s.maxRuntimeMs,
    dispatchTimeoutMs: s.dispatchTimeoutMs,
    dispatchRetry: s.dispatchRetry,
    paused: s.paused,
    jitterMs: s.jitterMs,
    maxRuns: s.maxRuns,
    pauseOnFailure: s.pauseOnFailure,
    pausedReason: r.pausedReason,
    state: r.state,
    nextRunAt: iso(nextRunAt),
    lastScheduledAt: iso(r.lastScheduledAt),
    lastFiredAt: iso(r.lastFiredAt),
    lastResult: r.lastResult && { ...r.lastResult, at: isoOf(r.lastResult.at) },
    activeExecutions: r.active.map((a) => ({
      executionId: a.executionId,
      scheduledAt: isoOf(a.scheduledAt),
      trigger: a.trigger,
      state: a.state,
      dispatchedAt: isoOf(a.dispatchedAt),
      deadlineAt: isoOf(a.deadlineAt),
      ...(a.cancelRequested && { cancelRequested: true }),
    })),
    bufferedSlot: oldest === undefined ? null : { scheduledAt: isoOf(oldest) },
    bufferedSlots: r.buffered.length,
    remainingRuns: r.remainingRuns,
    backfills: r.backfills.map((b) => ({
      backfillId: b.id,
      from: isoOf(b.from),
      to: isoOf(b.to),
      overlapPolicy: b.policy,
      count: b.count,
      dispatched: b.dispatched,
    })),
    counters: r.counters,
    revision: r.revision,
    createdAt: isoOf(r.createdAt),
    updatedAt: isoOf(r.updatedAt),
  };
  if (withNextRuns) {
    const from = nextRunAt === null ? null : nextRunAt - 1;
    view.nextRuns = from === null ? [] : schedule.upcoming(from, 5).map(isoOf);
  }
  return view;
}
