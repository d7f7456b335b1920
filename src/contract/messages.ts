import { z } from 'zod';
import { BackfillPolicy, CompletionStatus, DispatchFailure, EventType, ExecutionResult, ExplainOutcome, JobState, MisfirePolicy, OverlapPolicy, Operation, SkipReason, Trigger, values } from './constants.js';
import { ErrorCode } from './errors.js';
import { WIRE_INSTANT_PATTERN } from './ids.js';
import {
  commandSchemas,
  completionSchema,
  dispatchReplySchema,
  executionIdSchema,
  heartbeatSchema,
  idSchema,
  targetSchema,
} from './schemas.js';

/**
 * zod schemas of the messages the scheduler sends (SPEC §4, §5, §7): replies, dispatch requests
 * and audit events. Request bodies are in `schemas.ts`. Together they are the whole wire
 * contract; `scripts/gen-protocol.ts` turns them into JSON Schema and AsyncAPI documents.
 *
 * Objects here are open (unknown members are allowed and ignored): a reader must accept members
 * added later. Request bodies, by contrast, are strict.
 */

export { completionSchema, dispatchReplySchema, heartbeatSchema };

/** An instant as the scheduler writes it: ISO-8601 UTC with milliseconds. */
export const wireInstantSchema = z
  .string()
  .regex(WIRE_INSTANT_PATTERN)
  .meta({ format: 'date-time', description: 'ISO-8601 UTC instant with milliseconds (2026-11-27T09:00:00.000Z)' });

const ms = z.number().min(0).meta({ description: 'milliseconds' });
const count = z.number().int().min(0);

/** A schedule as the job view shows it: normalised (timezone explicit, durations in ms). */
export const wireScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('cron'), expression: z.string(), timezone: z.string().meta({ description: 'IANA time zone' }) }),
  z.object({ kind: z.literal('interval'), every: ms }),
  z.object({ kind: z.literal('once'), at: wireInstantSchema }),
]);

export const countersSchema = z.object({
  dispatched: count,
  succeeded: count,
  failed: count,
  cancelled: count,
  terminated: count.meta({ description: 'ended by the scheduler under terminate_other' }),
  timedOut: count,
  dispatchFailed: count,
  skippedOverlap: count,
  skippedBufferFull: count.meta({ description: 'slots skipped because SCHED_MAX_BUFFERED slots were already waiting (buffer_all)' }),
  missed: count,
});

/** A backfill in progress (SPEC §10), as the job view shows it. */
export const backfillProgressSchema = z.object({
  backfillId: z.string(),
  from: wireInstantSchema,
  to: wireInstantSchema,
  overlapPolicy: z.enum(values(BackfillPolicy)),
  count: count.meta({ description: 'slots in the backfill' }),
  dispatched: count.meta({ description: 'slots dispatched so far' }),
});

export const activeExecutionSchema = z.object({
  executionId: executionIdSchema,
  scheduledAt: wireInstantSchema,
  trigger: z.enum(values(Trigger)),
  state: z.enum(['dispatched', 'running']),
  dispatchedAt: wireInstantSchema,
  deadlineAt: wireInstantSchema.meta({ description: 'timed out at this instant unless a completion or heartbeat comes first' }),
  cancelRequested: z.boolean().optional().meta({ description: 'a cancel request was sent (cancel_other): the next slot waits for this execution to end' }),
});

/** The job view (SPEC §4), in the replies of create, show, update, pause, resume and list. */
export const jobViewSchema = z
  .object({
    orchestratorId: idSchema,
    jobId: idSchema,
    name: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    schedule: wireScheduleSchema,
    startAt: wireInstantSchema.nullable(),
    endAt: wireInstantSchema.nullable(),
    target: targetSchema,
    allowOverlap: z.boolean(),
    overlapPolicy: z.enum(values(OverlapPolicy)),
    misfirePolicy: z.enum(values(MisfirePolicy)),
    misfireGraceMs: ms,
    maxRuntimeMs: ms,
    dispatchTimeoutMs: ms,
    dispatchRetry: z.object({ attempts: z.number().int().min(1), backoffMs: ms }),
    paused: z.boolean(),
    jitterMs: ms,
    maxRuns: count.nullable(),
    pauseOnFailure: z.boolean(),
    pausedReason: z.string().nullable(),
    state: z.enum(values(JobState)),
    nextRunAt: wireInstantSchema.nullable().meta({ description: 'the next slot; null when no slot is left' }),
    nextRuns: z.array(wireInstantSchema).max(5).optional().meta({ description: 'show only: the next 5 slots' }),
    lastScheduledAt: wireInstantSchema.nullable(),
    lastFiredAt: wireInstantSchema.nullable(),
    lastResult: z
      .object({ executionId: executionIdSchema, status: z.enum(values(ExecutionResult)), at: wireInstantSchema })
      .nullable(),
    activeExecutions: z.array(activeExecutionSchema),
    bufferedSlot: z.object({ scheduledAt: wireInstantSchema }).nullable().meta({ description: 'the oldest slot waiting (buffer_one, buffer_all, cancel_other)' }),
    bufferedSlots: count.meta({ description: 'how many slots wait' }),
    remainingRuns: count.nullable().meta({ description: 'runs the schedule may still start (maxRuns); null: no limit' }),
    backfills: z.array(backfillProgressSchema),
    counters: countersSchema,
    revision: z.number().int().min(1).meta({ description: 'changes to the definition: 1 at create, +1 per update, pause or resume that changed something' }),
    createdAt: wireInstantSchema,
    updatedAt: wireInstantSchema,
  })
  .meta({ title: 'JobView' });

// ---------------------------------------------------------------------------------------------
// Command replies (SPEC §4)
// ---------------------------------------------------------------------------------------------

/** One problem of an `invalid_request` (`details` is a list of these). */
export const issueDetailSchema = z.object({ path: z.string(), message: z.string() });

export const wireErrorSchema = z.object({
  code: z.enum(Object.keys(ErrorCode) as [keyof typeof ErrorCode, ...(keyof typeof ErrorCode)[]]),
  message: z.string(),
  details: z.unknown().optional().meta({
    description:
      'invalid_request and limit_exceeded (a quota): [{path, message}]; limit_exceeded by the command rate limit: {limit: "commands per second", retryAfterMs} (retry after that many ms); conflict: {revision}; overlap: {activeExecutions}; internal: {correlationId}',
  }),
});

/** `{ok: false, error}`: every failed command (with the headers of `commandErrorHeadersSchema`). */
export const errorReplySchema = z
  .object({ ok: z.literal(false), error: wireErrorSchema })
  .meta({ title: 'ErrorReply' });

/** The NATS micro error headers of a failed command. */
export const commandErrorHeadersSchema = z
  .object({
    'Nats-Service-Error': z.string().meta({ description: 'the error message' }),
    'Nats-Service-Error-Code': z
      .enum([...new Set(Object.values(ErrorCode).map(String))] as [string, ...string[]])
      .meta({ description: 'the number of the error code (400, 404, 409, 429, 500, 503)' }),
  })
  .meta({ title: 'CommandErrorHeaders' });

const ok = <S extends z.core.$ZodLooseShape>(shape: S) => z.object({ ok: z.literal(true), ...shape });

export const jobReplySchema = ok({ job: jobViewSchema });
export const showReplySchema = ok({ job: jobViewSchema.extend({ nextRuns: z.array(wireInstantSchema).max(5) }) });
export const listReplySchema = ok({
  jobs: z.array(jobViewSchema),
  nextCursor: z.string().optional().meta({ description: 'present when more jobs match: pass it as `cursor`' }),
});
export const deleteReplySchema = ok({});
export const runNowReplySchema = ok({ executionId: executionIdSchema });
/** `update` with `dryRun`: the job as it would be, and the next 5 slots before and after (nothing written). */
export const updateDryRunReplySchema = ok({
  job: jobViewSchema,
  dryRun: z.literal(true),
  nextRunsBefore: z.array(wireInstantSchema).max(5),
  nextRunsAfter: z.array(wireInstantSchema).max(5),
});

/** One slot of `preview` (SPEC §11). */
export const previewRunSchema = z.object({
  at: wireInstantSchema.meta({ description: 'the slot (UTC)' }),
  local: z.string().meta({ description: "the wall time in the schedule's zone, 2026-03-29T03:00:00" }),
  offset: z.string().meta({ description: 'the UTC offset at that instant, +02:00' }),
  note: z.enum(['dst_gap', 'dst_repeat']).optional().meta({ description: 'dst_gap: the local time did not exist and the slot moved; dst_repeat: a repeated local hour' }),
});
export const previewReplySchema = ok({ runs: z.array(previewRunSchema).max(1000) });

/** `explain` (SPEC §11): derived from the audit trail, with the ids of the events read. */
export const explainReplySchema = ok({
  slot: z.object({ scheduledAt: wireInstantSchema }).nullable(),
  outcome: z.enum(values(ExplainOutcome)),
  executionId: executionIdSchema.optional(),
  result: z.object({ executionId: executionIdSchema, status: z.enum(values(ExecutionResult)), at: wireInstantSchema }).optional(),
  reason: z.string().optional().meta({ description: 'skipped: overlap or buffer_full; missed: the misfire event type; paused: the pause reason' }),
  sentence: z.string().meta({ description: 'the answer in one sentence' }),
  eventIds: z.array(z.string()),
});

export const backfillReplySchema = ok({
  count: count.meta({ description: 'the slots in [from, to)' }),
  scheduledAt: z.array(wireInstantSchema).max(1000).meta({ description: 'the slots (the first 1000)' }),
  backfillId: z.string().optional().meta({ description: 'absent on a dry run' }),
});

/** The request body schema of each operation (the same objects the scheduler validates with). */
export const commandRequestSchemas = commandSchemas;

/** The success reply of each operation; a failure is `errorReplySchema` for all of them. */
export const commandReplySchemas = {
  create: jobReplySchema,
  list: listReplySchema,
  show: showReplySchema,
  update: z.union([jobReplySchema, updateDryRunReplySchema]),
  pause: jobReplySchema,
  resume: jobReplySchema,
  delete: deleteReplySchema,
  run_now: runNowReplySchema,
  backfill: backfillReplySchema,
  preview: previewReplySchema,
  explain: explainReplySchema,
} as const satisfies Record<Operation, z.ZodType>;

// ---------------------------------------------------------------------------------------------
// Dispatch and completion (SPEC §5)
// ---------------------------------------------------------------------------------------------

/** The body of a dispatch request to `P.<o>.dispatch.<action.type>`. */
export const dispatchRequestSchema = z
  .object({
    executionId: executionIdSchema.meta({ description: 'the same for a repeated dispatch of the same slot' }),
    orchestratorId: idSchema,
    jobId: idSchema,
    scheduledAt: wireInstantSchema,
    firedAt: wireInstantSchema,
    trigger: z.enum(values(Trigger)),
    attempt: z.number().int().min(1),
    firesAt: wireInstantSchema.optional().meta({ description: 'scheduledAt plus the jitter (jobs with jitterMs > 0)' }),
    action: targetSchema.meta({ description: "the job's target; run_now inputs replace its inputs/args" }),
  })
  .meta({ title: 'DispatchRequest' });

/** The request to `P.<o>.dispatch.cancel` (SPEC §10): stop this execution. The reply, if any, is ignored. */
export const cancelRequestSchema = z
  .object({ executionId: executionIdSchema, jobId: idSchema, reason: z.literal('overlap') })
  .meta({ title: 'CancelRequest' });

/** JetStream's acknowledgement: the reply to a completion or heartbeat published as a request. */
export const pubAckSchema = z
  .object({
    stream: z.string(),
    seq: z.number().int(),
    domain: z.string().optional(),
    duplicate: z.boolean().optional(),
  })
  .meta({ title: 'PubAck' });

// ---------------------------------------------------------------------------------------------
// The types of these messages: the output of their schemas, so a change of a schema changes its
// type. The client (src/client/types.ts) re-exports them; nothing writes them out again.
// ---------------------------------------------------------------------------------------------

/** A schedule as the job view shows it. */
export type WireSchedule = z.output<typeof wireScheduleSchema>;
/** The job view of SPEC §4, as create, show, update, pause, resume and list reply it. */
export type JobView = z.output<typeof jobViewSchema>;
/** A job view as `show` returns it: with the next 5 slots. */
export type JobDetails = z.output<typeof showReplySchema>['job'];
/** A page of `list`. `nextCursor` is present when more jobs match. */
export type JobPage = Omit<z.output<typeof listReplySchema>, 'ok'>;
/** The reply of `run_now`. */
export type RunNowResult = Omit<z.output<typeof runNowReplySchema>, 'ok'>;
/** The body of a dispatch request (SPEC §5). */
export type DispatchRequest = z.output<typeof dispatchRequestSchema>;
/** The body of a cancel request (SPEC §10). */
export type CancelRequest = z.output<typeof cancelRequestSchema>;
/** The reply of `preview`. */
export type PreviewResult = Omit<z.output<typeof previewReplySchema>, 'ok'>;
/** The reply of `explain`. */
export type ExplainResult = Omit<z.output<typeof explainReplySchema>, 'ok'>;
/** The reply of `update` with `dryRun`. */
export type UpdateDryRunResult = Omit<z.output<typeof updateDryRunReplySchema>, 'ok'>;
/** The reply of `backfill`. */
export type BackfillResult = Omit<z.output<typeof backfillReplySchema>, 'ok'>;
/** One problem found in a request body: where (`a.b.0`) and what. */
export type IssueDetail = z.output<typeof issueDetailSchema>;
/** The `error` member of a failed reply. */
export type WireError = z.output<typeof wireErrorSchema>;

// ---------------------------------------------------------------------------------------------
// Audit events (SPEC §7)
// ---------------------------------------------------------------------------------------------

const instantOrNull = wireInstantSchema.nullable();
const trigger = z.enum(values(Trigger));

/** A state change of a job's machine (SPEC §7): a `transition` event's data, or a lifecycle event's `data.transition`. */
const transitionSchema = z.object({
  from: z.enum(values(JobState)),
  to: z.enum(values(JobState)),
  event: z.string().meta({ description: 'the machine event that caused it' }),
  via: z.array(z.enum(values(JobState))).optional().meta({ description: 'transient states passed, such as ["due"]' }),
});

/** The `data` of each event type. Open objects: more members may be added. */
export const eventDataSchemas = {
  'job.created': z.object({ revision: z.number().int(), nextRunAt: instantOrNull }),
  'job.updated': z.object({ changed: z.array(z.string()).meta({ description: 'the spec fields whose value changed' }), revision: z.number().int() }),
  'job.deleted': z.object({ revision: z.number().int(), activeExecutions: z.array(executionIdSchema) }),
  'job.paused': z.object({
    reason: z.string().nullable().meta({ description: '`failure` when pauseOnFailure paused it (with executionId)' }),
    revision: z.number().int(),
  }),
  'job.exhausted': z.object({ maxRuns: count, lastScheduledAt: instantOrNull }),
  'job.overdue': z.object({
    nextRunAt: wireInstantSchema.meta({ description: 'the slot that should have fired' }),
    overdueMs: count.meta({ description: 'how long past its firesAt (more than misfireGraceMs)' }),
    replicaId: z.string().meta({ description: 'the replica that holds the job' }),
  }),
  'job.resumed': z.object({ revision: z.number().int(), nextRunAt: instantOrNull }),
  'job.faulted': z.object({ error: z.string(), event: z.string().meta({ description: 'the machine event being handled' }), faults: z.number().int() }),
  'trigger.dispatched': z.object({
    scheduledAt: wireInstantSchema,
    trigger,
    attempt: z.number().int().min(1),
    firesAt: wireInstantSchema.optional().meta({ description: 'scheduledAt plus the jitter (jobs with jitterMs > 0)' }),
  }),
  'trigger.failed': z.object({
    scheduledAt: wireInstantSchema,
    trigger,
    attempts: z.number().int().min(1),
    reason: z.enum(values(DispatchFailure)),
    detail: z.string().optional(),
  }),
  'trigger.skipped': z.object({
    scheduledAt: wireInstantSchema,
    trigger,
    reason: z.enum(values(SkipReason)),
    activeExecutions: z.array(executionIdSchema).optional().meta({ description: 'the executions active when the slot came due' }),
  }),
  'trigger.buffered': z.object({ scheduledAt: wireInstantSchema, trigger }),
  'misfire.fired_once': z.object({
    missedCount: z.number().int().min(1),
    firstMissedAt: wireInstantSchema,
    lastMissedAt: wireInstantSchema,
    missedCountExact: z.literal(false).optional().meta({ description: 'present when missedCount is a lower bound' }),
  }),
  'misfire.skipped': z.object({
    missedCount: z.number().int().min(1),
    firstMissedAt: wireInstantSchema,
    lastMissedAt: wireInstantSchema,
    missedCountExact: z.literal(false).optional(),
  }),
  'execution.started': z.object({ scheduledAt: wireInstantSchema, trigger, attempt: z.number().int().min(1) }),
  'execution.completed': z.object({
    status: z.enum(values(CompletionStatus)),
    scheduledAt: wireInstantSchema,
    trigger,
    error: z.unknown().optional(),
    output: z.unknown().optional(),
  }),
  'execution.timed_out': z.object({ scheduledAt: wireInstantSchema, deadlineAt: wireInstantSchema, state: z.enum(['dispatched', 'running']) }),
  'execution.completion_rejected': z.object({
    reason: z.enum(['duplicate', 'unknown_execution', 'unknown_job', 'malformed', 'terminated']),
    status: z.string().optional(),
    message: z.string().optional(),
    issues: z.array(issueDetailSchema).optional(),
  }),
  'execution.cancel_requested': z.object({
    scheduledAt: wireInstantSchema,
    reason: z.literal('overlap'),
    forSlot: wireInstantSchema.meta({ description: 'the slot that waits for this execution to end' }),
    policy: z.enum(['cancel_other', 'terminate_other']),
  }),
  'execution.terminated': z.object({ scheduledAt: wireInstantSchema, trigger, forSlot: wireInstantSchema }),
  'backfill.started': z.object({ backfillId: z.string(), from: wireInstantSchema, to: wireInstantSchema, count, overlapPolicy: z.enum(values(BackfillPolicy)) }),
  'backfill.completed': z.object({ backfillId: z.string(), count }),
  transition: transitionSchema,
} as const satisfies Record<EventType, z.ZodType>;

const eventBase = {
  id: z.string().min(1).meta({ description: 'unique; also the JetStream Nats-Msg-Id' }),
  at: wireInstantSchema,
  orchestratorId: idSchema,
  jobId: idSchema,
  executionId: executionIdSchema.optional(),
};

function eventOf<T extends EventType>(type: T) {
  const rejected = type === 'execution.completion_rejected';
  return z
    .object({
      ...eventBase,
      type: z.literal(type),
      // A rejected completion may name no valid job or come from any subject token.
      ...(rejected && {
        orchestratorId: z.string().min(1).meta({ description: 'the orchestrator token of the subject the completion came on' }),
        jobId: z.union([idSchema, z.literal('$invalid')]).meta({ description: '`$invalid` when the completion named no valid jobId' }),
      }),
      data:
        type === 'transition'
          ? eventDataSchemas[type]
          : (eventDataSchemas[type] as z.ZodObject).extend({
              transition: transitionSchema.optional().meta({ description: 'the state change this event caused (SPEC §7), instead of a transition event' }),
            }),
    })
    .meta({ title: type });
}

const eventTypes = values(EventType);

/** An audit event (SPEC §7), published to `P.<o>.events.<jobId>.<type>`; one branch per type. */
export const auditEventSchema = z
  .discriminatedUnion('type', eventTypes.map((t) => eventOf(t)) as unknown as [ReturnType<typeof eventOf>, ...ReturnType<typeof eventOf>[]])
  .meta({ title: 'AuditEvent' });

/** The headers of an event as JetStream stores it. */
export const eventHeadersSchema = z
  .object({ 'Nats-Msg-Id': z.string().meta({ description: 'the event id (JetStream de-duplication)' }) })
  .meta({ title: 'EventHeaders' });

// ---------------------------------------------------------------------------------------------
// Service discovery: NATS micro protocol replies (src/transport/discovery.ts)
// ---------------------------------------------------------------------------------------------

const serviceIdentity = {
  name: z.string().meta({ description: '`<prefix>_scheduler`' }),
  id: z.string().meta({ description: 'unique per replica process' }),
  version: z.string(),
  metadata: z.record(z.string(), z.string()).optional().meta({ description: 'includes `prefix` and, when known, `replicaId`' }),
};

export const servicePingSchema = z
  .object({ type: z.literal('io.nats.micro.v1.ping_response'), ...serviceIdentity })
  .meta({ title: 'ServicePing' });

export const serviceInfoSchema = z
  .object({
    type: z.literal('io.nats.micro.v1.info_response'),
    ...serviceIdentity,
    description: z.string(),
    endpoints: z.array(
      z.object({
        name: z.string().meta({ description: 'the operation' }),
        subject: z.string().meta({ description: '`<prefix>.*.schedule.<op>`' }),
        queue_group: z.string().optional().meta({ description: '`<prefix>_scheduler`' }),
        metadata: z.record(z.string(), z.string()).optional().meta({ description: 'request_schema, reply_schema, error_schema: file names under docs/protocol/schemas' }),
      }),
    ),
  })
  .meta({ title: 'ServiceInfo' });

export const serviceStatsSchema = z
  .object({
    type: z.literal('io.nats.micro.v1.stats_response'),
    ...serviceIdentity,
    started: z.string().meta({ description: 'ISO-8601 instant the service started' }),
    endpoints: z
      .array(
        z.object({
          name: z.string(),
          subject: z.string(),
          queue_group: z.string().optional(),
          num_requests: count,
          num_errors: count.meta({ description: 'requests answered with ok: false' }),
          last_error: z.string().optional(),
          processing_time: count.meta({ description: 'nanoseconds' }),
          average_processing_time: count.meta({ description: 'nanoseconds' }),
          data: z.unknown().optional(),
        }),
      )
      .optional(),
  })
  .meta({ title: 'ServiceStats' });
