import type { JobState } from '../contract/constants.js';
import type { Target } from '../contract/schemas.js';
import type { JobRecord } from './record.js';
import { scheduleOf, type JobSpec } from './spec.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export type WireSchedule =
  | { kind: 'cron'; expression: string; timezone: string }
  | { kind: 'interval'; every: number }
  | { kind: 'once'; at: string };

/** The job view of SPEC §4, as create, show, update, pause, resume and list reply it. */
export interface JobView {
  orchestratorId: string;
  jobId: string;
  name: string | null;
  labels: Record<string, string>;
  schedule: WireSchedule;
  startAt: string | null;
  endAt: string | null;
  target: Target;
  allowOverlap: boolean;
  overlapPolicy: JobSpec['overlapPolicy'];
  misfirePolicy: JobSpec['misfirePolicy'];
  misfireGraceMs: number;
  maxRuntimeMs: number;
  dispatchTimeoutMs: number;
  dispatchRetry: { attempts: number; backoffMs: number };
  paused: boolean;
  pausedReason: string | null;
  state: JobState;
  nextRunAt: string | null;
  nextRuns?: string[];
  lastScheduledAt: string | null;
  lastFiredAt: string | null;
  lastResult: { executionId: string; status: string; at: string } | null;
  activeExecutions: {
    executionId: string;
    scheduledAt: string;
    trigger: string;
    state: 'dispatched' | 'running';
    dispatchedAt: string;
    deadlineAt: string;
  }[];
  bufferedSlot: { scheduledAt: string } | null;
  counters: JobRecord['counters'];
  revision: number;
  createdAt: string;
  updatedAt: string;
}

/**
 * The job view. While paused, `nextRunAt` shows the slot a resume at `now` would give (the
 * first after now); otherwise the stored next slot.
 */
export function toView(r: JobRecord, now: number, withNextRuns = false): JobView {
  const s = r.spec;
  const schedule = scheduleOf(s, r.anchorAt);
  const nextRunAt = r.spec.paused ? schedule.nextAfter(now) : r.nextRunAt;
  const view: JobView = {
    orchestratorId: r.orchestratorId,
    jobId: r.jobId,
    name: s.name,
    labels: s.labels,
    schedule: s.schedule.kind === 'once' ? { kind: 'once', at: new Date(s.schedule.at).toISOString() } : s.schedule,
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
    pausedReason: r.pausedReason,
    state: r.state,
    nextRunAt: iso(nextRunAt),
    lastScheduledAt: iso(r.lastScheduledAt),
    lastFiredAt: iso(r.lastFiredAt),
    lastResult: r.lastResult && { ...r.lastResult, at: new Date(r.lastResult.at).toISOString() },
    activeExecutions: r.active.map((a) => ({
      executionId: a.executionId,
      scheduledAt: new Date(a.scheduledAt).toISOString(),
      trigger: a.trigger,
      state: a.state,
      dispatchedAt: new Date(a.dispatchedAt).toISOString(),
      deadlineAt: new Date(a.deadlineAt).toISOString(),
    })),
    bufferedSlot: r.bufferedSlot && { scheduledAt: new Date(r.bufferedSlot.scheduledAt).toISOString() },
    counters: r.counters,
    revision: r.revision,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
  if (withNextRuns) {
    const from = nextRunAt === null ? null : nextRunAt - 1;
    view.nextRuns = from === null ? [] : schedule.upcoming(from, 5).map((t) => new Date(t).toISOString());
  }
  return view;
}
