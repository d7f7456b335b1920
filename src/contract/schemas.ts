import { z } from 'zod';
import { parseDuration } from '../schedule/index.js';
import { BackfillPolicy, CompletionStatus, JobState, MisfirePolicy, OverlapPolicy, values, type Operation } from './constants.js';
import type { IssueDetail } from './errors.js';
import { EXECUTION_ID_PATTERN, ID_PATTERN, mustMatch, parseInstant } from './ids.js';

/**
 * zod schemas of every message body (SPEC §4–§5). Command bodies are strict: an unknown field is
 * `invalid_request`. Durations and instants are parsed here and come out as epoch/ms numbers.
 */

export const idSchema = z.string().regex(ID_PATTERN, mustMatch(ID_PATTERN));
export const executionIdSchema = z.string().regex(EXECUTION_ID_PATTERN, mustMatch(EXECUTION_ID_PATTERN));

/** Largest instant handled: year 9999. Far enough for any schedule, far from Date's limits. */
export const MAX_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** An ISO-8601 date-time with an explicit offset (`INSTANT_PATTERN`); yields epoch ms. */
export const instantSchema = z.string().max(64).transform((s, ctx) => {
  const ms = parseInstant(s);
  if (ms === null || ms < 0 || ms > MAX_INSTANT) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 date-time with an offset (e.g. 2026-11-27T09:00:00.000Z) between 1970 and 9999' });
    return z.NEVER;
  }
  return ms;
});

/**
 * Longest duration accepted: 1000 years. Far beyond any schedule, and small enough that an
 * instant plus a few durations (a slot, a deadline, the next 5 runs) stays inside the range a
 * JavaScript Date can represent, so no computed instant is ever unrepresentable.
 */
export const MAX_DURATION_MS = 1000 * 365.25 * 86_400_000;

/** Milliseconds as a number, or `500ms` `30s` `15m` `2h` `1d` or ISO-8601 (`PT15M`); yields ms. */
export const durationSchema = z.union([z.number(), z.string().max(64)]).transform((v, ctx) => {
  let ms: number;
  try {
    ms = parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid duration' });
    return z.NEVER;
  }
  if (ms > MAX_DURATION_MS) {
    ctx.addIssue({ code: 'custom', message: `duration must be at most ${MAX_DURATION_MS} ms (1000 years)` });
    return z.NEVER;
  }
  return ms;
});

export const scheduleInputSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('cron'),
    expression: z.string().min(1).max(256),
    timezone: z.string().min(1).max(64).optional(),
  }),
  z.strictObject({ kind: z.literal('interval'), every: durationSchema }),
  z.strictObject({ kind: z.literal('once'), at: instantSchema }),
]);

export const targetSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('workflow_start'),
    workflowId: z.string().min(1).max(256),
    inputs: z.unknown().optional(),
  }),
  z.strictObject({
    type: z.literal('command'),
    command: z.string().min(1).max(256),
    args: z.unknown().optional(),
  }),
]);
export type Target = z.infer<typeof targetSchema>;

const labelsSchema = z
  .record(z.string().min(1).max(64), z.string().max(256))
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 labels');

/** The fields of a job spec other than `jobId`, all optional (defaults are applied by `normalizeSpec`). */
const specFields = {
  name: z.string().max(256).nullable().optional(),
  labels: labelsSchema.optional(),
  schedule: scheduleInputSchema,
  startAt: instantSchema.nullable().optional(),
  endAt: instantSchema.nullable().optional(),
  target: targetSchema,
  allowOverlap: z.boolean().optional(),
  overlapPolicy: z.enum(values(OverlapPolicy)).optional(),
  misfirePolicy: z.enum(values(MisfirePolicy)).optional(),
  misfireGraceMs: durationSchema.optional(),
  maxRuntimeMs: durationSchema.pipe(z.number().min(1)).optional(),
  dispatchTimeoutMs: durationSchema.pipe(z.number().min(1).max(300_000)).optional(),
  dispatchRetry: z
    .strictObject({
      attempts: z.number().int().min(1).max(20).optional(),
      backoffMs: durationSchema.pipe(z.number().max(3_600_000)).optional(),
    })
    .optional(),
  paused: z.boolean().optional(),
  /** SPEC §10: each slot fires at `scheduledAt + j`, `j` in `[0, jitterMs)`; at most a day (and the period of an interval). */
  jitterMs: durationSchema.pipe(z.number().int().min(0).max(86_400_000)).optional(),
  /** SPEC §10: how many executions the schedule may still start; null: no limit. */
  maxRuns: z.number().int().min(0).max(1_000_000_000).nullable().optional(),
  /** SPEC §10: an execution that ends failed, timed_out or dispatch_failed pauses the job. */
  pauseOnFailure: z.boolean().optional(),
};

export const createBodySchema = z.strictObject({ jobId: idSchema.optional(), ...specFields });
export type CreateBody = z.infer<typeof createBodySchema>;

export const patchSchema = z.strictObject({
  ...specFields,
  schedule: specFields.schedule.optional(),
  target: specFields.target.optional(),
});
export type Patch = z.infer<typeof patchSchema>;

export const updateBodySchema = z.strictObject({
  jobId: idSchema,
  patch: patchSchema,
  expectedRevision: z.number().int().min(1).optional(),
  /** SPEC §4: nothing is written; the reply is the job as it would be, with the next runs before and after. */
  dryRun: z.boolean().optional(),
});

/** `preview` (SPEC §11): the slots of a schedule, without a job. */
export const previewBodySchema = z.strictObject({
  schedule: scheduleInputSchema,
  startAt: instantSchema.nullable().optional(),
  endAt: instantSchema.nullable().optional(),
  jitterMs: specFields.jitterMs,
  from: instantSchema.optional(),
  count: z.number().int().min(1).max(1000).optional(),
});

/** `explain` (SPEC §11): what happened to the job's slot at or just before `at`. */
export const explainBodySchema = z.strictObject({ jobId: idSchema, at: instantSchema });

export const listBodySchema = z.strictObject({
  state: z.enum(values(JobState)).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  limit: z.number().int().min(1).max(1000).optional(),
  cursor: z.string().max(200).optional(),
});

export const jobIdBodySchema = z.strictObject({ jobId: idSchema });
export const pauseBodySchema = z.strictObject({ jobId: idSchema, reason: z.string().max(1024).optional() });
export const runNowBodySchema = z.strictObject({
  jobId: idSchema,
  inputs: z.unknown().optional(),
  ignoreOverlap: z.boolean().optional(),
});

/** `backfill` (SPEC §10): the job's slots in `[from, to)`, dispatched under `overlapPolicy`. */
export const backfillBodySchema = z
  .strictObject({
    jobId: idSchema,
    from: instantSchema,
    to: instantSchema,
    overlapPolicy: z.enum(values(BackfillPolicy)).optional(),
    dryRun: z.boolean().optional(),
  })
  .refine((b) => b.from < b.to, { path: ['to'], message: 'must be after from' });

/** `P.<o>.execution.completed`. Unknown fields are ignored (receipts are read leniently). */
export const completionSchema = z.object({
  executionId: executionIdSchema,
  jobId: idSchema,
  status: z.enum(values(CompletionStatus)),
  error: z.unknown().optional(),
  output: z.unknown().optional(),
});
export type Completion = z.infer<typeof completionSchema>;

/** `P.<o>.execution.heartbeat`. */
export const heartbeatSchema = z.object({ executionId: executionIdSchema, jobId: idSchema });

/** The orchestrator's reply to a dispatch request. */
export const dispatchReplySchema = z.object({ accepted: z.boolean(), reason: z.string().max(4096).optional() });

/** The request body schema of each command operation: what the scheduler validates with. */
export const commandSchemas = {
  create: createBodySchema,
  list: listBodySchema,
  show: jobIdBodySchema,
  update: updateBodySchema,
  pause: pauseBodySchema,
  resume: jobIdBodySchema,
  delete: jobIdBodySchema,
  run_now: runNowBodySchema,
  backfill: backfillBodySchema,
  preview: previewBodySchema,
  explain: explainBodySchema,
} as const satisfies Record<Operation, z.ZodType>;

export type CommandBody<Op extends Operation> = z.infer<(typeof commandSchemas)[Op]>;

/** zod issues as the `details` of an `invalid_request` error. */
export function issueDetails(err: z.ZodError): IssueDetail[] {
  return err.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}
