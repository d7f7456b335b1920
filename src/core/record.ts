import type { z } from 'zod';
import type { BackfillPolicy, EventType, ExecutionResult, JobState, Trigger } from '../contract/constants.js';
import type { countersSchema } from '../contract/messages.js';
import { upgradeSpec, type JobSpec, type NormalizedSchedule } from './spec.js';

/** An execution from dispatch until completion, dispatch failure or timeout (the overlap guard). */
export interface ActiveExecution {
  executionId: string;
  scheduledAt: number;
  trigger: Trigger;
  state: 'dispatched' | 'running';
  dispatchedAt: number;
  /** No completion and no heartbeat by then: `timed_out`. */
  deadlineAt: number;
  attempt: number;
  /** `run_now` inputs that replace the target's inputs/args for this execution only. */
  inputs?: unknown;
  /** `scheduledAt` plus the job's jitter (SPEC §10), when it has one. */
  firesAt?: number;
  /** A cancel request was sent for it (`cancel_other`): the waiting slot fires when it ends. */
  cancelRequested?: true;
  /** The backfill it belongs to (`trigger: backfill`). */
  backfillId?: string;
}

/**
 * A backfill in progress (SPEC §10): the slots of `schedule` in `[from, to)`, taken in order after
 * `cursor` (the last slot dispatched, `from - 1` at first). The schedule is a snapshot taken at the
 * request, so a later update of the job changes neither the slots nor their count.
 */
export interface Backfill {
  id: string;
  from: number;
  to: number;
  policy: BackfillPolicy;
  count: number;
  dispatched: number;
  cursor: number;
  schedule: { schedule: NormalizedSchedule; startAt: number | null; endAt: number | null; anchorAt: number };
}

/** What happened to a job's executions so far (the view's `counters`): the output of `countersSchema`. */
export type Counters = z.output<typeof countersSchema>;

/** An audit event (SPEC §7) as it goes on the wire. */
export interface AuditEvent {
  id: string;
  type: EventType;
  at: string;
  orchestratorId: string;
  jobId: string;
  executionId?: string;
  data: Record<string, unknown>;
}

/**
 * What a transition asks the outside world to do, written into the record with the state that
 * caused it (a transactional outbox): after a crash between the write and the effect, the effect
 * is replayed from the stored record.
 */
export type Effect =
  | { kind: 'event'; event: AuditEvent }
  | { kind: 'dispatch'; executionId: string }
  /** A cancel request to `P.<o>.dispatch.cancel` (SPEC §10); replayed after a crash, harmless twice. */
  | { kind: 'cancel'; executionId: string };

/**
 * Everything about one job that must survive a restart: one JSON value in the KV bucket `P_jobs`
 * under the key `<orchestratorId>.<jobId>`. Instants are epoch ms.
 */
export interface JobRecord {
  v: 1;
  orchestratorId: string;
  jobId: string;
  /** Random per create: a job deleted and created again is a new incarnation with new execution ids. */
  incarnation: string;
  spec: JobSpec;
  /** Interval anchor: creation time, or the time the schedule was last changed. */
  anchorAt: number;
  revision: number;
  createdAt: number;
  updatedAt: number;
  state: JobState;
  /** While in the transient `due` (never stored): the state the step started in, for its transition. */
  dueFrom?: JobState;
  pausedReason: string | null;
  nextRunAt: number | null;
  lastScheduledAt: number | null;
  lastFiredAt: number | null;
  lastResult: { executionId: string; status: ExecutionResult; at: number } | null;
  active: ActiveExecution[];
  /** Slots waiting for the active execution to end, oldest first (buffer_one, buffer_all, cancel_other). */
  buffered: number[];
  /** Runs the schedule may still start (`maxRuns`); null: no limit. */
  remainingRuns: number | null;
  counters: Counters;
  runNowSeq: number;
  /** Backfills started so far (the id of the next is one more). */
  backfillSeq: number;
  backfills: Backfill[];
  /** The last few executions ended as `terminated`: a late completion of one is rejected as such. */
  terminated: string[];
  eventSeq: number;
  /** The last few finished execution ids, to tell a duplicate completion from an unknown one. */
  recentDone: string[];
  outbox: Effect[];
  /** The actor step that wrote `outbox` (a later step starts a fresh one). */
  outboxStep: number;
}

/**
 * A record as stored by any version: one stored before SPEC §10 (a `bufferedSlot`, no backfills,
 * remaining runs or policy fields) gets the fields that version did not have. Every read of the
 * store goes through it.
 */
export function upgradeRecord(stored: JobRecord): JobRecord {
  const r = stored as JobRecord & { bufferedSlot?: { scheduledAt: number } | null };
  if (r.buffered !== undefined && r.backfills !== undefined && r.spec.jitterMs !== undefined) return r;
  const { bufferedSlot, ...rest } = r;
  return {
    ...rest,
    spec: upgradeSpec(r.spec),
    buffered: r.buffered ?? (bufferedSlot ? [bufferedSlot.scheduledAt] : []),
    remainingRuns: r.remainingRuns ?? null,
    backfillSeq: r.backfillSeq ?? 0,
    backfills: r.backfills ?? [],
    terminated: r.terminated ?? [],
    counters: { ...r.counters, terminated: r.counters.terminated ?? 0, skippedBufferFull: r.counters.skippedBufferFull ?? 0 },
  };
}
