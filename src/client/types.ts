/**
 * The types an orchestrator programs against: request bodies as the scheduler accepts them
 * (the input of the zod schemas of `src/contract/schemas.ts`), replies and dispatches as it sends
 * them (the output of the schemas of `src/contract/messages.ts`), so they cannot drift; and audit
 * events (SPEC §4–§7).
 */
import type { z } from 'zod';
import type { AuditEvent } from '../core/record.js';
import type {
  BackfillResult,
  CancelRequest,
  DispatchRequest,
  ExplainResult,
  JobDetails,
  JobPage,
  JobView,
  PreviewResult,
  RunNowResult,
  UpdateDryRunResult,
  WireSchedule,
} from '../contract/messages.js';
import type {
  backfillBodySchema,
  createBodySchema,
  explainBodySchema,
  listBodySchema,
  patchSchema,
  pauseBodySchema,
  previewBodySchema,
  runNowBodySchema,
  Target,
  updateBodySchema,
} from '../contract/schemas.js';

/**
 * The body of `create`: a job spec. Durations may be numbers (ms) or strings (`30s`, `PT15M`),
 * instants ISO-8601 strings with an offset. Every field but `schedule` and `target` has a default.
 */
export type CreateJobInput = z.input<typeof createBodySchema>;

/** The `patch` of `update`: any field of a job spec but `jobId`. `null` clears `name`, `startAt`, `endAt`. */
export type JobPatch = z.input<typeof patchSchema>;

/** The body of `list`: filters and paging. */
export type ListJobsInput = z.input<typeof listBodySchema>;

/** Options of `pause` (the body without `jobId`). */
export type PauseOptions = Omit<z.input<typeof pauseBodySchema>, 'jobId'>;

/** Options of `run_now` (the body without `jobId`): `inputs` replace the target's inputs/args. */
export type RunNowOptions = Omit<z.input<typeof runNowBodySchema>, 'jobId'>;

/**
 * Options of `backfill` (the body without `jobId`, SPEC §10): the job's slots in `[from, to)`,
 * under `overlapPolicy` (`buffer_all`, the default: one after another; `allow`: all at once);
 * `dryRun` lists them and dispatches nothing. `from`/`to` are ISO-8601 instants with an offset,
 * or Dates.
 */
export type BackfillOptions = Omit<z.input<typeof backfillBodySchema>, 'jobId' | 'from' | 'to'> & {
  from: z.input<typeof backfillBodySchema>['from'] | Date;
  to: z.input<typeof backfillBodySchema>['to'] | Date;
};

/** Options of `update` besides the patch: `expectedRevision` refuses with `conflict` unless the job is at that revision. */
export type UpdateOptions = Pick<z.input<typeof updateBodySchema>, 'expectedRevision'>;

type PreviewBody = z.input<typeof previewBodySchema>;

/**
 * The body of `preview` (SPEC §11): a `schedule` as in a job spec, with the job's `startAt`,
 * `endAt` and `jitterMs` if it has them, `from` (default now) and `count` (default 10, at most
 * 1000). Instants are ISO-8601 strings with an offset, or Dates.
 */
export type PreviewInput = Omit<PreviewBody, 'from' | 'startAt' | 'endAt'> & {
  from?: PreviewBody['from'] | Date;
  startAt?: PreviewBody['startAt'] | Date;
  endAt?: PreviewBody['endAt'] | Date;
};

/** One slot of a preview: `at` (UTC), `local` (wall time in the schedule's zone), `offset`, `note` (`dst_gap`, `dst_repeat`). */
export type PreviewRun = PreviewResult['runs'][number];

/** The instant `explain` asks about: an ISO-8601 instant with an offset, or a Date. */
export type ExplainAt = z.input<typeof explainBodySchema>['at'] | Date;

/**
 * The job view of SPEC §4 (`JobView`), as `show` returns it with the next 5 slots
 * (`JobDetails`), a page of `list` (`JobPage`: `nextCursor` when more jobs match), the reply of
 * `run_now` (`RunNowResult`), the reply of `backfill` (`BackfillResult`: `count`, the slots
 * `scheduledAt` (the first 1000), `backfillId` unless a dry run), and a schedule as the view shows
 * it (`WireSchedule`).
 */
export type { JobView, JobDetails, JobPage, RunNowResult, BackfillResult, WireSchedule };

/**
 * The replies of SPEC §11: `preview` (`PreviewResult`: `runs`), `explain` (`ExplainResult`:
 * `slot`, `outcome`, `executionId`, `result`, `reason`, `sentence`, `eventIds`), and `update`
 * with `dryRun` (`UpdateDryRunResult`: the job as it would be, `nextRunsBefore`, `nextRunsAfter`).
 */
export type { PreviewResult, ExplainResult, UpdateDryRunResult };

/** A cancel request as the scheduler sends it to `P.<o>.dispatch.cancel` (SPEC §10). */
export type { CancelRequest };

/** An audit event as read from `P_EVENTS` (SPEC §7). */
export type SchedulerEvent = AuditEvent;

/** A dispatch request as the scheduler sends it to `P.<o>.dispatch.<actionType>` (SPEC §5). */
export type Dispatch<A extends Target = Target> = Omit<DispatchRequest, 'action'> & { action: A };

export type { DispatchRequest };

/** The target types, which are also the last token of the dispatch subject. */
export type ActionType = Target['type'];

export type { Target };
