/**
 * The types an orchestrator programs against: request bodies as the scheduler accepts them
 * (derived from the zod schemas of `src/contract/schemas.ts`, so they cannot drift), replies,
 * dispatches and audit events (SPEC §4–§7).
 */
import type { z } from 'zod';
import type { AuditEvent } from '../core/record.js';
import type { JobView } from '../core/view.js';
import type { DispatchRequest } from '../transport/dispatcher.js';
import type {
  createBodySchema,
  listBodySchema,
  patchSchema,
  pauseBodySchema,
  runNowBodySchema,
  Target,
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

/** Options of `update` besides the patch. */
export interface UpdateOptions {
  /** Refuse with `conflict` unless the job is at this revision. */
  expectedRevision?: number;
}

/** The job view of SPEC §4. `show` adds `nextRuns`. */
export type { JobView };

/** A job view as `show` returns it: with the next 5 slots. */
export type JobDetails = JobView & { nextRuns: string[] };

/** A page of `list`. `nextCursor` is present when more jobs match. */
export interface JobPage {
  jobs: JobView[];
  nextCursor?: string;
}

/** The reply of `run_now`. */
export interface RunNowResult {
  executionId: string;
}

/** An audit event as read from `P_EVENTS` (SPEC §7). */
export type SchedulerEvent = AuditEvent;

/** A dispatch request as the scheduler sends it to `P.<o>.dispatch.<actionType>` (SPEC §5). */
export type Dispatch<A extends Target = Target> = Omit<DispatchRequest, 'action'> & { action: A };

/** The target types, which are also the last token of the dispatch subject. */
export type ActionType = Target['type'];

export type { Target };
