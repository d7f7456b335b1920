import { randomBytes } from 'node:crypto';
import { SchedulerError, invalidRequest, notFound } from '../contract/errors.js';
import { commandSchemas, issueDetails, type CommandBody, type Completion } from '../contract/schemas.js';
import type { Operation } from '../contract/constants.js';
import type { AuditEvent, JobRecord } from '../core/record.js';
import { checkInputSize, normalizeSpec, type SpecLimits } from '../core/spec.js';
import { toView, type JobView } from '../core/view.js';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { DEFAULT_MAX_BACKFILL, newRecord, update as updateDecision, type BackfillReply, type Outcome, type UpdateRequest } from '../machines/jobLogic.js';
import { endOf, explainPlan, explainSlot, HISTORY_TYPES, SLOT_TYPES } from '../core/explain.js';
import type { ExplainResult, UpdateDryRunResult } from '../contract/messages.js';
import type { TrailReader } from '../transport/trail.js';
import { supervisorMachine, type SupervisorMachine } from '../machines/supervisorMachine.js';
import { KeyExistsError } from '../store/jobStore.js';
import { JobActor, type JobActorDeps } from './jobActor.js';

export interface SupervisorLimits extends SpecLimits {
  maxJobsPerOrchestrator: number;
  /** `SCHED_MAX_BACKFILL` (default 10,000). */
  maxBackfill?: number;
}

/** How far before a slot `explain` starts reading the trail: the clock difference it tolerates. */
export const EXPLAIN_CLOCK_MARGIN_MS = 5_000;

/** Random bytes drawn 4 KiB at a time: one call into the system's generator per 341 ids, not one per id. */
let idPool = Buffer.alloc(0);
let idAt = 0;

/** 16 url-safe characters: 12 random bytes (job ids given by none, incarnations). */
export const newId = (): string => {
  if (idAt + 12 > idPool.length) {
    idPool = randomBytes(12 * 341);
    idAt = 0;
  }
  idAt += 12;
  return idPool.toString('base64url', idAt - 12, idAt);
};

export { commandSchemas, type CommandBody };

/** Validates a command body (`invalid_request` with the zod issues as details). */
export function parseCommand<Op extends Operation>(op: Op, body: unknown): CommandBody<Op> {
  const r = commandSchemas[op].safeParse(body);
  if (!r.success) throw invalidRequest('request body does not match the schema', issueDetails(r.error));
  return r.data as CommandBody<Op>;
}

/** An event for a message no job can take (unknown job, malformed completion). */
export function looseEvent(
  orchestratorId: string,
  jobId: string | null,
  executionId: string | null,
  at: number,
  data: Record<string, unknown>,
): AuditEvent {
  return {
    id: newId(),
    type: 'execution.completion_rejected',
    at: new Date(at).toISOString(),
    orchestratorId,
    jobId: jobId ?? '$invalid',
    ...(executionId !== null && { executionId }),
    data,
  };
}

/**
 * A command's outcome as its reply: a refusal (decided by the job machine) becomes the error with
 * its code, message and details; no outcome at all (the machine did not handle the command) is an
 * internal error.
 */
export function okOrThrow(outcome: Outcome | null, command: string): Extract<Outcome, { ok: true }> {
  if (outcome === null) throw new SchedulerError('internal', `${command} was not handled`);
  if (!outcome.ok) throw new SchedulerError(outcome.code, outcome.message, outcome.details === undefined ? undefined : { details: outcome.details });
  return outcome;
}

const encodeCursor = (jobId: string): string => Buffer.from(jobId, 'utf8').toString('base64url');
const decodeCursor = (c: string): string => {
  const s = Buffer.from(c, 'base64url').toString('utf8');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(s)) throw invalidRequest('invalid cursor', [{ path: 'cursor', message: 'not a cursor from a list reply' }]);
  return s;
};

/**
 * The supervisor of one orchestrator: it owns that orchestrator's job actors in its own map and
 * is the only way to reach them, so every lookup is by (orchestratorId, jobId) and a command can
 * never touch another orchestrator's job. Its XState actor (`supervisorMachine`) is the job
 * actors' parent: they share one actor system per orchestrator, and inspectors show the tree.
 */
export class Supervisor {
  private readonly jobs = new Map<string, JobActor>();
  /** jobIds whose create is in flight, so two concurrent creates cannot both win. */
  private readonly creating = new Set<string>();
  private readonly deps: JobActorDeps;
  /** The XState parent of this orchestrator's job actors. */
  readonly root: Actor<SupervisorMachine>;

  constructor(
    readonly orchestratorId: string,
    deps: JobActorDeps,
    private readonly limits: SupervisorLimits,
    /** The ownership epoch its job actors were loaded in (`deps.fence` closes when it ends). */
    readonly epoch = 0,
  ) {
    const inspect = deps.inspect;
    this.root = createActor(supervisorMachine, {
      id: `supervisor:${orchestratorId}`,
      ...(inspect && {
        inspect: (e: InspectionEvent) => {
          try {
            inspect(e);
          } catch {
            /* an inspector's failure is never the jobs' */
          }
        },
      }),
    });
    this.root.start();
    this.deps = { ...deps, parent: this.root };
  }

  get size(): number {
    return this.jobs.size;
  }

  actors(): IterableIterator<JobActor> {
    return this.jobs.values();
  }

  /** Adopts a stored record at start-up (no event: the job already exists). */
  adopt(stored: { record: JobRecord; revision: number }): JobActor {
    const actor = new JobActor(this.deps, stored);
    this.jobs.set(stored.record.jobId, actor);
    return actor;
  }

  stop(): void {
    for (const a of this.jobs.values()) a.stop();
    this.jobs.clear();
    this.root.stop();
  }

  private actor(jobId: string): JobActor {
    const a = this.jobs.get(jobId);
    if (!a) throw notFound(jobId);
    return a;
  }

  private now(): number {
    return this.deps.clock.now();
  }

  async create(input: CommandBody<'create'>): Promise<{ job: JobView }> {
    const jobId = input.jobId ?? newId();
    if (this.jobs.has(jobId) || this.creating.has(jobId)) {
      throw new SchedulerError('already_exists', `job "${jobId}" exists`);
    }
    if (this.jobs.size + this.creating.size >= this.limits.maxJobsPerOrchestrator) {
      throw new SchedulerError('limit_exceeded', `at most ${this.limits.maxJobsPerOrchestrator} jobs per orchestrator`);
    }
    const now = this.now();
    const spec = normalizeSpec(input, jobId, this.limits, now);
    const record = newRecord({ orchestratorId: this.orchestratorId, spec, incarnation: newId(), now, step: 0 });
    this.creating.add(jobId);
    try {
      const value = JSON.stringify(record);
      const revision = await this.deps.store.create(record, value).catch((err: unknown) => {
        if (err instanceof KeyExistsError) throw new SchedulerError('already_exists', `job "${jobId}" exists`);
        throw new SchedulerError('unavailable', 'storage unavailable', { cause: err });
      });
      // Held as read back from its JSON, as after a restart: objects built from a request through
      // the schema and the spec normalisation take ~500 B more per job than parsed ones.
      const actor = new JobActor(this.deps, { record: JSON.parse(value) as JobRecord, revision });
      this.jobs.set(jobId, actor);
      await actor.recover({ strict: true });
      return { job: toView(actor.record, this.now()) };
    } finally {
      this.creating.delete(jobId);
    }
  }

  list(q: CommandBody<'list'>): { jobs: JobView[]; nextCursor?: string } {
    const limit = q.limit ?? 100;
    const after = q.cursor === undefined ? null : decodeCursor(q.cursor);
    const ids = [...this.jobs.keys()].sort();
    const now = this.now();
    const jobs: JobView[] = [];
    let nextCursor: string | undefined;
    for (const id of ids) {
      if (after !== null && id <= after) continue;
      const r = this.jobs.get(id)!.record;
      if (q.state !== undefined && r.state !== q.state) continue;
      if (q.labels && !Object.entries(q.labels).every(([k, v]) => r.spec.labels[k] === v)) continue;
      if (jobs.length === limit) {
        nextCursor = encodeCursor(jobs[jobs.length - 1]!.jobId);
        break;
      }
      jobs.push(toView(r, now));
    }
    return nextCursor === undefined ? { jobs } : { jobs, nextCursor };
  }

  show({ jobId }: CommandBody<'show'>): { job: JobView } {
    return { job: toView(this.actor(jobId).record, this.now(), true) };
  }

  async update({ jobId, patch, expectedRevision, dryRun }: CommandBody<'update'>): Promise<{ job: JobView } | UpdateDryRunResult> {
    if (dryRun) return this.updateDryRun(jobId, { patch, expectedRevision, limits: this.limits });
    const { record, outcome } = await this.actor(jobId).command({ type: 'UPDATE', patch, expectedRevision, limits: this.limits });
    okOrThrow(outcome, 'UPDATE');
    return { job: toView(record, this.now()) };
  }

  /**
   * `update` with `dryRun` (SPEC §4): the job machine's own update decision applied to the record
   * as it is, and nothing written or published: the job as it would be, and its next 5 slots
   * before and after. A refusal (conflict, invalid patch) is the same error as a real update's.
   */
  private updateDryRun(jobId: string, req: UpdateRequest): UpdateDryRunResult {
    const now = this.now();
    const r = this.actor(jobId).record;
    const { record, outcome } = updateDecision(r, r.outboxStep + 1, now, req);
    okOrThrow(outcome, 'UPDATE');
    const before = toView(r, now, true);
    const after = toView(record, now, true);
    const { nextRuns: _n, ...job } = after;
    return { job, dryRun: true, nextRunsBefore: before.nextRuns ?? [], nextRunsAfter: after.nextRuns ?? [] };
  }

  /**
   * `explain` (SPEC §11): what happened to the job's slot at or before `at`, from its audit trail.
   * Reads only that job's subjects: its definition history (pause, resume, exhaustion: few
   * events, whole) and its slot events from the slot's instant on, stopping once the slot is
   * answered (its skip, or its dispatch and that execution's end, or a later slot's).
   */
  async explain({ jobId, at }: CommandBody<'explain'>): Promise<ExplainResult> {
    const r = this.actor(jobId).record;
    const plan = explainPlan(r, at, this.now());
    if (!plan.read) return plan.answer;
    const trail = this.deps.trail;
    if (!trail) throw new SchedulerError('unavailable', 'the audit trail cannot be read here');
    const S = new Date(plan.slot).toISOString();
    let dispatchedId: string | null = null;
    const settled = (e: AuditEvent): boolean => {
      const d = e.data;
      if (e.type === 'trigger.dispatched' && d.attempt === 1 && d.trigger !== 'run_now' && d.trigger !== 'backfill') {
        if (d.scheduledAt === S) dispatchedId = e.executionId ?? null;
        else if (String(d.scheduledAt) > S && dispatchedId === null) return true; // a later slot went: this one was decided before
      }
      if (dispatchedId !== null) return e.executionId === dispatchedId && endOf(e) !== null;
      if (e.type === 'misfire.skipped') return String(d.firstMissedAt) <= S && S <= String(d.lastMissedAt);
      return e.type === 'trigger.skipped' && d.scheduledAt === S;
    };
    const o = this.orchestratorId;
    try {
      const [history, events] = await Promise.all([
        this.historyAt(trail, jobId, plan.slot),
        // events are stored at or after their slot (stream time); a few seconds of margin for
        // clocks that differ. The server skips every other job's events from there on, so the
        // margin is what this read costs beyond the job's own events.
        trail.read({ orchestratorId: o, jobId, types: SLOT_TYPES, from: plan.slot - EXPLAIN_CLOCK_MARGIN_MS, limit: 10_000, until: settled }),
      ]);
      return explainSlot(r, plan.slot, history, events);
    } catch (err) {
      if (err instanceof SchedulerError) throw err;
      throw new SchedulerError('unavailable', `the audit trail cannot be read: ${(err as Error).message}`, { cause: err });
    }
  }

  async pause({ jobId, reason }: CommandBody<'pause'>): Promise<{ job: JobView }> {
    const record = await this.actor(jobId).send({ type: 'PAUSE', reason: reason ?? null });
    return { job: toView(record, this.now()) };
  }

  async resume({ jobId }: CommandBody<'resume'>): Promise<{ job: JobView }> {
    const record = await this.actor(jobId).send({ type: 'RESUME' });
    return { job: toView(record, this.now()) };
  }

  async delete({ jobId }: CommandBody<'delete'>): Promise<Record<string, never>> {
    const actor = this.actor(jobId);
    await actor.send({ type: 'DELETE' });
    if (this.jobs.get(jobId) === actor) this.jobs.delete(jobId);
    return {};
  }

  async runNow({ jobId, inputs, ignoreOverlap }: CommandBody<'run_now'>): Promise<{ executionId: string }> {
    if (inputs !== undefined) checkInputSize(inputs, 'inputs', this.limits);
    const { outcome } = await this.actor(jobId).command({ type: 'RUN_NOW', inputs, ignoreOverlap: ignoreOverlap ?? false });
    const ok = okOrThrow(outcome, 'RUN_NOW');
    if (ok.executionId === undefined) throw new SchedulerError('internal', 'run_now dispatched no execution');
    return { executionId: ok.executionId };
  }

  /** `backfill` (SPEC §10): decided by the job machine; a refusal is the error, else the reply. */
  async backfill({ jobId, from, to, overlapPolicy, dryRun }: CommandBody<'backfill'>): Promise<BackfillReply> {
    const { outcome } = await this.actor(jobId).command({
      type: 'BACKFILL',
      from,
      to,
      overlapPolicy,
      dryRun,
      maxSlots: this.limits.maxBackfill ?? DEFAULT_MAX_BACKFILL,
    });
    const ok = okOrThrow(outcome, 'BACKFILL');
    if (ok.backfill === undefined) throw new SchedulerError('internal', 'backfill decided nothing');
    return ok.backfill;
  }

  /**
   * The job's definition events `explain` needs to know its state at `slot` (paused, exhausted,
   * created). Fast path: the last event of each type, one direct read each; when all are at or
   * before the slot they decide it exactly (and when the last update after an exhaustion does not
   * say whether it changed `maxRuns` in between, or any is later, the whole history is read).
   */
  private async historyAt(trail: TrailReader, jobId: string, slot: number): Promise<AuditEvent[]> {
    const o = this.orchestratorId;
    const last = await Promise.all(HISTORY_TYPES.map((t) => trail.last(o, jobId, t)));
    const found = last.filter((e): e is AuditEvent => e !== null);
    const byType = new Map(found.map((e) => [e.type, e]));
    const exhausted = byType.get('job.exhausted');
    const updated = byType.get('job.updated');
    const exact =
      found.every((e) => Date.parse(e.at) <= slot) &&
      (exhausted === undefined || updated === undefined || updated.at < exhausted.at || ((updated.data.changed as string[] | undefined) ?? []).includes('maxRuns'));
    if (exact) return found.sort((a, b) => a.at.localeCompare(b.at));
    return trail.read({ orchestratorId: o, jobId, types: HISTORY_TYPES, limit: 10_000 });
  }

  /** A completion that parsed: handled by its job, or audited as rejected when the job is unknown. */
  async completion(c: Completion): Promise<void> {
    const actor = this.jobs.get(c.jobId);
    if (!actor) {
      await this.deps.publisher.publish([
        looseEvent(this.orchestratorId, c.jobId, c.executionId, this.now(), { reason: 'unknown_job', status: c.status }),
      ]);
      return;
    }
    try {
      await actor.send({ type: 'COMPLETED', ...c });
    } catch (err) {
      // deleted meanwhile: audited like any completion of an unknown job
      if (!(err instanceof SchedulerError && err.code === 'not_found')) throw err;
      await this.deps.publisher.publish([
        looseEvent(this.orchestratorId, c.jobId, c.executionId, this.now(), { reason: 'unknown_job', status: c.status }),
      ]);
    }
  }

  async heartbeat(h: { executionId: string; jobId: string }): Promise<void> {
    await this.jobs.get(h.jobId)?.send({ type: 'HEARTBEAT', executionId: h.executionId });
  }
}
