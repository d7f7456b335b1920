import type { z } from 'zod';
import type { EventType, ExecutionResult, JobState, Trigger } from '../contract/constants.js';
import type { countersSchema } from '../contract/messages.js';
import type { JobSpec } from './spec.js';

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
export type Effect = { kind: 'event'; event: AuditEvent } | { kind: 'dispatch'; executionId: string };

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
  pausedReason: string | null;
  nextRunAt: number | null;
  lastScheduledAt: number | null;
  lastFiredAt: number | null;
  lastResult: { executionId: string; status: ExecutionResult; at: number } | null;
  active: ActiveExecution[];
  bufferedSlot: { scheduledAt: number } | null;
  counters: Counters;
  runNowSeq: number;
  eventSeq: number;
  /** The last few finished execution ids, to tell a duplicate completion from an unknown one. */
  recentDone: string[];
  outbox: Effect[];
  /** The actor step that wrote `outbox` (a later step starts a fresh one). */
  outboxStep: number;
}
