/**
 * `schedctl explain`: the slots it asks about and the events it prints. This module holds what
 * works over a client (program.ts gives it a {@link SchedulerClient}; tests a fake).
 */
import type { SchedulerClient } from '../client/client.js';
import type { ExplainResult, JobDetails, SchedulerEvent } from '../client/types.js';

/** What `explain --last` needs of a client. */
export type ExplainClient = Pick<SchedulerClient, 'explain'>;

/** The answers of `explain --last n`: the slots, newest first; `end` the answer that had no earlier slot. */
export interface LastSlots {
  answers: ExplainResult[];
  end?: ExplainResult;
}

/** Outcomes that are about no slot of the job: the list of slots ends there. */
const END = new Set<ExplainResult['outcome']>(['no_slot', 'before_start', 'after_end']);

/**
 * The last `count` slots of a job, explained newest first: `explain` at now (or at the job's end,
 * once it is past), then each time 1 ms before the slot explained last, so that the scheduler
 * finds the slot before it, whatever the schedule (cron, interval, once). Stops early at an
 * answer without a slot (`no_slot`, `after_end`) or a slot before the job existed
 * (`before_start`), which is returned as `end`.
 */
export async function explainLast(client: ExplainClient, job: Pick<JobDetails, 'jobId' | 'endAt'>, count: number, now: number, onAnswer?: (r: ExplainResult) => void): Promise<LastSlots> {
  const answers: ExplainResult[] = [];
  const endAt = job.endAt === null ? null : Date.parse(job.endAt);
  let at = endAt !== null && endAt < now ? endAt : now;
  while (answers.length < count) {
    const r = await client.explain(job.jobId, new Date(at));
    if (r.slot === null || END.has(r.outcome)) return { answers, end: r };
    answers.push(r);
    onAnswer?.(r);
    const slot = Date.parse(r.slot.scheduledAt);
    // the scheduler answers the slot at or before `at`: anything else would never end
    if (!(slot <= at)) break;
    at = slot - 1;
  }
  return { answers };
}

/** What {@link eventsById} needs of a client. */
export type EventsClient = Pick<SchedulerClient, 'events'>;

/**
 * The events with these ids, read from the job's trail in the events stream (`events`, not
 * following), in the order of `ids`; reading stops once every one is found. An id the stream no
 * longer has is left out.
 */
export async function eventsById(client: EventsClient, jobId: string, ids: readonly string[]): Promise<SchedulerEvent[]> {
  if (ids.length === 0) return [];
  const wanted = new Set(ids);
  const found = new Map<string, SchedulerEvent>();
  for await (const e of client.events({ jobId, follow: false })) {
    if (!wanted.delete(e.id)) continue;
    found.set(e.id, e);
    if (wanted.size === 0) break;
  }
  return ids.flatMap((id) => found.get(id) ?? []);
}
