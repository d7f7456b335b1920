import type { AuditEvent, JobRecord } from '../core/record.js';
import { firesAt } from '../machines/jobLogic.js';

/** How often the watchdog looks at the jobs this replica holds. */
export const WATCHDOG_EVERY_MS = 2_000;

/**
 * Jobs looked at per turn of the event loop. A look at 100,000 jobs in one task held commands and
 * replies up for tens of milliseconds every 2 s (the p99 of `pause` with 100,000 jobs held).
 */
export const WATCHDOG_SLICE = 2_000;

/**
 * How long a job has been overdue at `now` (SPEC §11): it should have fired (its next slot's
 * `firesAt` is more than `misfireGraceMs` in the past), it is not paused and not exhausted, and
 * it did not. 0 when it is not overdue. A job ticks at its slot, so this means a bug or a replica
 * too busy to keep up: a misfire that is handled is not overdue for long.
 */
export function overdueMs(r: JobRecord, now: number): number {
  if (r.spec.paused || r.nextRunAt === null || r.remainingRuns === 0) return 0;
  const late = now - firesAt(r, r.nextRunAt);
  return late > r.spec.misfireGraceMs ? late : 0;
}

export interface OverdueJob {
  orchestratorId: string;
  jobId: string;
  nextRunAt: string;
  overdueMs: number;
}

/**
 * Finds stalled schedules among the jobs this replica holds: publishes `job.overdue` once per
 * stall (per job and `nextRunAt`; a job that fires and stalls again is reported again), and keeps
 * the current list for the `sched_overdue_jobs` gauge and `/readyz`.
 */
export class Watchdog {
  /** Stalls already reported: `<orchestratorId>.<jobId>` → the `nextRunAt` it was reported for. */
  private readonly reported = new Map<string, number>();
  private current: OverdueJob[] = [];
  /** The look under way, if any. */
  private scanning: Promise<void> | null = null;

  constructor(
    private readonly deps: {
      records: () => Iterable<JobRecord>;
      now: () => number;
      publish: (events: AuditEvent[]) => Promise<void>;
      replicaId: () => string;
    },
  ) {}

  get overdue(): readonly OverdueJob[] {
    return this.current;
  }

  /**
   * One look at every job, `WATCHDOG_SLICE` per turn of the event loop; resolves when the new
   * reports are published. A look asked for while one is under way is that one.
   */
  scan(): Promise<void> {
    this.scanning ??= this.look().finally(() => (this.scanning = null));
    return this.scanning;
  }

  private async look(): Promise<void> {
    const now = this.deps.now();
    const found: OverdueJob[] = [];
    const fresh: AuditEvent[] = [];
    const seen = new Set<string>();
    let n = 0;
    for (const r of this.deps.records()) {
      if (++n % WATCHDOG_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const late = overdueMs(r, now);
      if (late === 0) continue;
      const key = `${r.orchestratorId}.${r.jobId}`;
      seen.add(key);
      const nextRunAt = new Date(r.nextRunAt!).toISOString();
      found.push({ orchestratorId: r.orchestratorId, jobId: r.jobId, nextRunAt, overdueMs: late });
      if (this.reported.get(key) === r.nextRunAt) continue;
      this.reported.set(key, r.nextRunAt!);
      fresh.push({
        id: `${r.incarnation}-o${r.nextRunAt!.toString(36)}`,
        type: 'job.overdue',
        at: new Date(now).toISOString(),
        orchestratorId: r.orchestratorId,
        jobId: r.jobId,
        data: { nextRunAt, overdueMs: late, replicaId: this.deps.replicaId() },
      });
    }
    for (const key of this.reported.keys()) if (!seen.has(key)) this.reported.delete(key);
    this.current = found;
    if (fresh.length > 0) await this.deps.publish(fresh);
  }
}
