import { createActor, type Actor, type AnyActorRef, type InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import { SchedulerError } from '../contract/errors.js';
import type { AuditEvent, Effect, JobRecord } from '../core/record.js';
import type { JobEmitted, JobEvent, JobMachine } from '../machines/jobMachine.js';
import { dispatchRequest, faulted, isDispatched, nextWakeAt, type Outcome } from '../machines/jobLogic.js';
import type { EventPublisher } from '../transport/eventPublisher.js';
import type { DispatchOutcome, DispatchRequest, Dispatcher } from '../transport/dispatcher.js';
import type { CancelRequest } from '../contract/messages.js';
import type { TrailReader } from '../transport/trail.js';
import type { JobStore } from '../store/jobStore.js';
import type { Clock } from './clock.js';
import type { TimerQueue } from './timerQueue.js';

export interface JobActorDeps {
  store: JobStore;
  publisher: EventPublisher;
  dispatcher: Dispatcher;
  /** Sends the cancel requests of `cancel_other` / `terminate_other` (SPEC §10); without one they are only audited. */
  canceller?: { cancel(orchestratorId: string, req: CancelRequest): void } | undefined;
  /** The audit trail, read by the supervisor's `explain` (SPEC §11). */
  trail?: TrailReader | undefined;
  /** `SCHED_MAX_BUFFERED`: slots that may wait under `buffer_all` (default 1000). */
  maxBuffered?: number | undefined;
  /**
   * `SCHED_COALESCE_MS`: how long the write of an accepted dispatch may wait to be joined by the
   * job's next change (its completion, typically) and go out as one write (default 50; 0 writes
   * every accept at once). See `coalescible`.
   */
  coalesceMs?: number | undefined;
  /** Keyed by actor: each actor object has its own wake-up, whatever its job's id. */
  timers: TimerQueue<JobActor>;
  clock: Clock;
  log: Logger;
  machine: JobMachine;
  /**
   * Whether this actor may still act: this process holds the orchestrator's lease *in the
   * ownership epoch the actor was loaded in*. Checked before every write, dispatch and timer, so
   * neither a replica that lost its lease nor the actors of an epoch that ended (the replica lost
   * the lease and took the orchestrator back: new actors for the same jobs) write or dispatch.
   */
  fence?: (() => boolean) | undefined;
  /** Failed record writes of every job, logged once per outage with a count (else one error line per failure). */
  storageLog?: { failed(err: unknown): void; succeeded(): void } | undefined;
  /** XState inspection; a throwing observer is isolated from the job. Unused with `parent`. */
  inspect?: ((e: InspectionEvent) => void) | undefined;
  /**
   * The XState parent (the orchestrator's supervisor actor, `supervisorMachine`): the job actor
   * joins its actor system and is stopped through it. Without one, the job actor is a root.
   */
  parent?: AnyActorRef | undefined;
}

/** An event as callers send it: the actor adds `now` and `step`. */
export type JobInput = JobEvent extends infer E ? (E extends JobEvent ? Omit<E, 'now' | 'step'> : never) : never;

const SETTLED: Promise<unknown> = Promise.resolve();

/** What an event did: the record after it, and the outcome the machine decided for a command (else null). */
export interface Applied {
  record: JobRecord;
  outcome: Outcome | null;
}

/**
 * Whether two records hold the same content: field by field, by identity first (the pure logic
 * returns the fields it did not change as they were), then a scalar that differs settles it at
 * once, and only an object field that is a new object is compared by its JSON. (Comparing the
 * whole records' JSON cost two serialisations of every record that did change.)
 */
export function sameContent(a: JobRecord, b: JobRecord): boolean {
  if (a === b) return true;
  const ka = Object.keys(a) as (keyof JobRecord)[];
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
    if (JSON.stringify(x) !== JSON.stringify(y)) return false;
  }
  return true;
}

/** How long an accepted dispatch's write may wait for the job's next change (`SCHED_COALESCE_MS`). */
export const DEFAULT_COALESCE_MS = 50;

/**
 * Whether the change of `step` may wait to be written with the job's next one: an accepted
 * dispatch (`dispatched → running`), whose only effects are audit events. A crash before it is
 * written loses nothing the contract promises: the stored record still says `dispatched`, so the
 * next owner sends the dispatch again under the same execution id, which is the at-least-once
 * window the README already states; its events were not published (events go out only after a
 * record holding them is stored, so an event id is never reused for another event); and an
 * orchestrator that answers fast completes within the wait, so accept and completion cost one
 * write instead of two.
 */
export function coalescible(input: JobInput, record: JobRecord, step: number): boolean {
  if (input.type !== 'DISPATCH_ACCEPTED') return false;
  if (record.outboxStep !== step) return true; // changed nothing that has an effect
  return record.outbox.every((e) => e.kind === 'event');
}

/**
 * One job: an XState actor of the job machine plus what the machine may not do itself. Every
 * event goes through a serial queue: send to the machine, write the record (compare-and-set),
 * publish its events, start its dispatches, re-arm its timer. A machine that throws is restarted
 * from the last written record and `job.faulted` is published; nothing leaves this class.
 *
 * The XState actor is started at the job's first event (or when an inspection tool asks for it,
 * `ref`; at once with an inspector attached), not when the job is loaded: until then the job is
 * its record (`resting`), the one the machine would start from and, its boot being transient and
 * silent, would still hold. Most of a large population rests between rare slots, so loading one
 * (a restart, a takeover) and holding it costs a record per job, not a live actor.
 */
export class JobActor {
  readonly key: string;
  /** The running XState actor; null until the job's first event (and after a restart from a record). */
  private actor: Actor<JobMachine> | null = null;
  /** The record the actor starts from when it is started; the job's record while there is none. */
  private resting: JobRecord;
  private persisted: JobRecord;
  private revision: number;
  private step: number;
  private queue: Promise<unknown> = SETTLED;
  private faults = 0;
  private stopped = false;
  /** Executions whose dispatch is in flight here (created on the first dispatch). */
  private dispatching: Set<string> | null = null;
  /**
   * Ids of events in the stored outbox that this process has not seen stored by JetStream: those
   * of the record it was loaded from (the previous owner may have died before publishing them)
   * and of a record adopted by `reconcile`. They stay in every outbox written until published.
   */
  private unconfirmed: Set<string> | null = null;
  /** What the machine emitted in the step being applied: a command's outcome, dispatch retries. */
  private emitted: JobEmitted[] | null = null;
  /**
   * Dispatch attempts due later, by execution (created on the first): a failed attempt the machine
   * retries (`retry` emitted with its due time). The timer wakes the actor then, and it sends
   * DISPATCH_ATTEMPT. Not stored: after a restart, a dispatched execution is sent again at once.
   */
  private retries: Map<string, { attempt: number; at: number }> | null = null;
  /**
   * A change applied but not yet written (an accepted dispatch, `coalescible`): the effects of its
   * steps, carried out once a record holding them is stored, by the job's next write or when
   * `coalesceMs` runs out (`flushTimer`), whichever is first.
   */
  private unwritten: { effects: Effect[]; step: number } | null = null;
  private flushTimer: unknown = null;

  constructor(
    private readonly deps: JobActorDeps,
    stored: { record: JobRecord; revision: number },
  ) {
    this.key = `${stored.record.orchestratorId}.${stored.record.jobId}`;
    this.persisted = stored.record;
    this.revision = stored.revision;
    this.step = stored.record.outboxStep + 1;
    this.unconfirm(stored.record);
    this.resting = stored.record;
    // an inspector attached (SCHED_INSPECT_PORT) sees every job's machine from the start
    if (deps.inspect) this.live();
  }

  get record(): JobRecord {
    return this.actor === null ? this.resting : this.actor.getSnapshot().context;
  }

  /** The XState actor (for inspection tools): started now if the job has had no event yet (stopped at once when the job is). */
  get ref(): Actor<JobMachine> {
    const actor = this.live();
    if (this.stopped && actor.getSnapshot().status === 'active') this.stopActor();
    return actor;
  }

  /** Whether the XState actor is running (it starts at the job's first event). */
  get started(): boolean {
    return this.actor !== null;
  }

  /** The XState actor, started from the resting record if it is not running yet. */
  private live(): Actor<JobMachine> {
    this.actor ??= this.spawn(this.resting);
    return this.actor;
  }

  get storedRevision(): number {
    return this.revision;
  }

  /** Runs `fn` after every earlier operation on this job (the per-job serial queue). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * A command: sends its event and carries out its effects; resolves with the record after it and
   * the outcome the machine decided (what the reply says: an execution id, a refusal).
   */
  command(input: JobInput): Promise<Applied> {
    return this.run(() => this.apply(input));
  }

  /** Sends an event and carries out its effects; resolves with the record after it. */
  send(input: JobInput): Promise<JobRecord> {
    return this.run(async () => (await this.apply(input)).record);
  }

  /**
   * After a (re)start: publishes what the stored outbox holds (the stream drops duplicates by id),
   * unless `replay` is false (the previous owner handed over cleanly: all published), re-sends
   * dispatches that never got an answer (same execution id), then ticks. With `strict` (a new
   * job) a failed publish is an error, since the create must not say ok without its event.
   */
  async recover(opts: { strict?: boolean; replay?: boolean } = {}): Promise<void> {
    await this.run(async () => {
      const r = this.record;
      const events = opts.replay === false ? [] : r.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : []));
      await this.deps.publisher.publish(events, { replay: !opts.strict }).catch((err: unknown) => {
        if (opts.strict) throw new SchedulerError('unavailable', 'job stored, but its events are not yet published (retrying)', { cause: err });
        this.deps.log.warn({ err, job: this.key }, 'outbox replay failed');
      });
      // published now, or being retried (`isPending`), or (no replay) published by the previous owner
      this.unconfirmed = null;
      this.resumeEffects(r, false);
      this.arm();
      this.shed();
    });
    // Nothing due and no deadline passed: a TICK would change nothing (the timer is armed).
    const wake = nextWakeAt(this.record);
    if (wake === null || wake > this.deps.clock.now()) return;
    await this.send(this.tick()).catch((err: unknown) => {
      if (this.stopped) return; // deleted (or handed over) meanwhile
      this.deps.log.error({ err, job: this.key }, 'recovery tick failed');
    });
  }

  /**
   * Drops the published events of the resting record's outbox from memory; the store keeps them
   * (for a replay after a crash), and the job's next step starts an outbox of its own anyway. A
   * job that rests between rare slots would otherwise hold its last step's events (~400 B, its
   * `job.created` for a new one) for good. Only with no XState actor running, nothing unwritten,
   * and every one of those events published.
   */
  private shed(): void {
    const r = this.resting;
    if (this.actor !== null || this.unwritten !== null || r !== this.persisted || r.outbox.length === 0) return;
    if (!r.outbox.every((e) => e.kind === 'event' && !this.deps.publisher.isPending(e.event.id))) return;
    this.resting = this.persisted = { ...r, outbox: [] };
  }

  /**
   * Stops once nothing is queued: every operation already queued (a timer's TICK, a completion)
   * finishes with its write and its events, and none can start after. For handing a job over:
   * stopping while an operation waits would answer it `not_found`, and waiting without stopping
   * would let one more start after the wait.
   */
  async stopWhenIdle(): Promise<void> {
    for (;;) {
      if (this.unwritten) void this.run(() => this.flushUnwritten()).catch(() => undefined);
      const q = this.queue;
      await q;
      if (q === this.queue && this.unwritten === null) return this.stop();
    }
  }

  /**
   * Stops at once. A change not yet written (`unwritten`) is dropped as a crash would drop it:
   * only accepted dispatches wait, and the record still says `dispatched`, so the next owner
   * sends the dispatch again under the same execution id (the at-least-once window).
   */
  stop(): void {
    this.stopped = true;
    this.dropUnwritten();
    this.retries = null;
    this.deps.timers.set(this, null);
    this.stopActor();
  }

  /** Its timer came due: the dispatch attempts now due, then a TICK (nothing when stopped or fenced off). */
  wake(): void {
    if (this.stopped || !this.mayAct()) return;
    const now = this.deps.clock.now();
    for (const [executionId, { attempt, at }] of this.retries ?? []) {
      if (at > now) continue;
      this.retries!.delete(executionId);
      this.send({ type: 'DISPATCH_ATTEMPT', executionId, attempt }).catch((err: unknown) => {
        if (this.stopped) return;
        // not recorded (a failed write, logged by `storageLog`): the attempt is tried again in a second
        if (!this.retries?.has(executionId)) (this.retries ??= new Map()).set(executionId, { attempt, at: this.deps.clock.now() + 1_000 });
        this.arm();
        if (!(err instanceof SchedulerError && err.code === 'unavailable')) this.deps.log.warn({ err, job: this.key, executionId }, 'dispatch attempt failed');
      });
    }
    if (this.retries?.size === 0) this.retries = null;
    this.send(this.tick()).catch((err: unknown) => {
      // a failed write is logged by `storageLog` and retried by the timer it armed
      if (!this.stopped && !(err instanceof SchedulerError && err.code === 'unavailable')) this.deps.log.warn({ err, job: this.key }, 'tick failed');
    });
  }

  private stopActor(): void {
    const actor = this.actor;
    if (actor === null) return;
    const parent = this.deps.parent;
    if (parent) parent.send({ type: 'JOB.STOP', ref: actor });
    else actor.stop();
  }

  private spawn(record: JobRecord): Actor<JobMachine> {
    const { inspect, parent } = this.deps;
    const actor = createActor(this.deps.machine, {
      input: record,
      id: this.key,
      ...(parent && { parent }),
      ...(inspect && !parent && {
        inspect: (e: InspectionEvent) => {
          try {
            inspect(e);
          } catch {
            /* an inspector's failure is never the job's */
          }
        },
      }),
    });
    // A root actor's error with no observer is rethrown by XState (a crash); a child's goes to its
    // parent (which ignores it). Either way the error is read from the snapshot in `apply`.
    if (!parent) actor.subscribe({ error: () => undefined });
    actor.on('outcome', (e) => void (this.emitted ??= []).push(e));
    actor.on('retry', (e) => void (this.emitted ??= []).push(e));
    actor.start();
    return actor;
  }

  /** Takes the dispatch retries the machine decided in `step` (timers: `wake` sends the attempt when due). */
  private scheduleRetries(emitted: readonly JobEmitted[] | null, step: number): void {
    for (const e of emitted ?? []) {
      if (e.type === 'retry' && e.step === step) (this.retries ??= new Map()).set(e.executionId, { attempt: e.attempt, at: e.at });
    }
  }

  private async apply(input: JobInput): Promise<Applied> {
    if (this.stopped) throw new SchedulerError('not_found', `job "${this.persisted.jobId}" not found`);
    if (!this.mayAct()) throw new SchedulerError('unavailable', 'this replica no longer owns the orchestrator');
    const actor = this.live();
    const before = actor.getSnapshot();
    const step = this.step++;
    this.emitted = null;
    actor.send({ ...input, now: this.deps.clock.now(), step } as JobEvent);
    const after = actor.getSnapshot();
    // what the machine emitted in this step: the command's outcome, dispatch retries
    const emitted = this.emitted as JobEmitted[] | null;
    this.emitted = null;
    const outcome = emitted?.find((e): e is Extract<JobEmitted, { type: 'outcome' }> => e.type === 'outcome' && e.step === step)?.outcome ?? null;
    if (after.status === 'error') {
      await this.fault(after.error, input.type);
      throw new SchedulerError('internal', `job "${this.persisted.jobId}" faulted and was restarted`);
    }
    // the machine's record, with the effects of changes still unwritten (`unwritten`) before its
    // own and those of earlier writes not yet published (`carryUnpublished`) before both
    const record = this.carryUnpublished(this.withUnwritten(after.context, step), step);
    // XState's assign always builds a new context: compare the content, so a no-op (a TICK with
    // nothing due, a heartbeat of an unknown execution) writes nothing. The pure logic returns the
    // fields it did not change as they were, so a field-by-field identity check settles nearly
    // every no-op; the JSON comparison only runs when some field is a new object.
    if (after.status !== 'done' && sameContent(after.context, before.context)) {
      if (emitted !== null) {
        this.scheduleRetries(emitted, step);
        this.arm();
      }
      return { record: after.context, outcome };
    }
    // (the fence was checked at the top of this step, and nothing was awaited since)
    if (after.status !== 'done' && coalescible(input, record, step) && (this.deps.coalesceMs ?? DEFAULT_COALESCE_MS) > 0) {
      this.defer(after.context, step);
      this.scheduleRetries(emitted, step);
      this.arm();
      return { record, outcome };
    }
    const written = await this.commit(record, step, after.status === 'done', input.type);
    this.scheduleRetries(emitted, step);
    await this.effects(written, step);
    return { record: written, outcome };
  }

  /**
   * Writes `record` (the result of `step`; `done`: the job was deleted), compare-and-set on the
   * stored revision, or rolls the machine back to what is stored and throws `unavailable`.
   */
  private async commit(record: JobRecord, step: number, done: boolean, cause: string): Promise<JobRecord> {
    try {
      if (!this.mayAct()) throw new SchedulerError('unavailable', 'lease lost');
      if (done) {
        await this.deps.store.remove(record.orchestratorId, record.jobId, this.revision);
        this.stop();
      } else {
        this.revision = await this.deps.store.save(record, this.revision);
      }
      this.persisted = record;
      this.deps.storageLog?.succeeded();
      return record;
    } catch (err) {
      if (!done && (await this.reconcile(record))) {
        // the write timed out but landed: carry on as if it had answered
        return record;
      }
      if (this.deps.storageLog) this.deps.storageLog.failed(err);
      else this.deps.log.error({ err, job: this.key, event: cause }, 'job record write failed; state rolled back');
      this.arm(this.deps.clock.now() + 1_000);
      throw new SchedulerError('unavailable', 'storage unavailable', { cause: err });
    } finally {
      // written with this record, or rolled back with the machine (`reconcile` restarts it)
      this.dropUnwritten();
    }
  }

  /** Keeps the change of `step` (the machine's record after it) unwritten for up to `coalesceMs` (see `coalescible`). */
  private defer(context: JobRecord, step: number): void {
    const own = context.outboxStep === step ? context.outbox : [];
    this.unwritten = { effects: [...(this.unwritten?.effects ?? []), ...own], step };
    if (this.flushTimer === null) {
      this.flushTimer = this.deps.clock.setTimeout(() => {
        this.flushTimer = null;
        void this.run(() => this.flushUnwritten()).catch(() => undefined);
      }, this.deps.coalesceMs ?? DEFAULT_COALESCE_MS);
    }
  }

  /**
   * The record to write for `step`: the machine's, with the effects of the steps still unwritten
   * before its own (they were decided first), all scoped to `step` so that `effects` carries them
   * out after this write.
   */
  private withUnwritten(record: JobRecord, step: number): JobRecord {
    if (this.unwritten === null) return record;
    const own = record.outboxStep === step ? record.outbox : [];
    return { ...record, outbox: [...this.unwritten.effects, ...own], outboxStep: step };
  }

  /** Writes what waits (`unwritten`) on its own and carries out its effects; nothing when nothing waits. */
  private async flushUnwritten(): Promise<void> {
    const u = this.unwritten;
    if (u === null || this.stopped) return;
    if (!this.mayAct()) {
      this.dropUnwritten();
      return;
    }
    const record = { ...this.record, outbox: u.effects, outboxStep: u.step };
    const written = await this.commit(this.carryUnpublished(record, u.step), u.step, false, 'coalesced write');
    await this.effects(written, u.step);
  }

  private dropUnwritten(): void {
    this.unwritten = null;
    if (this.flushTimer !== null) this.deps.clock.clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  /**
   * The transactional outbox keeps what is not yet published: the events of the last written
   * record that JetStream has not stored yet (their publish is being retried) go into the next
   * record's outbox too, so a crash after the next write still replays them. (A new step otherwise
   * starts a fresh outbox, and those events would live only in this process's retry loop.)
   */
  private carryUnpublished(record: JobRecord, step: number): JobRecord {
    const carried = this.persisted.outbox.filter((e) => e.kind === 'event' && (this.unconfirmed?.has(e.event.id) || this.deps.publisher.isPending(e.event.id)));
    if (carried.length === 0) return record;
    const own = record.outboxStep === step ? record.outbox.filter((e) => !carried.some((c) => c.kind === 'event' && e.kind === 'event' && c.event.id === e.event.id)) : [];
    return { ...record, outbox: [...carried, ...own], outboxStep: step };
  }

  private async effects(record: JobRecord, step: number): Promise<void> {
    if (record.outboxStep === step && record.outbox.length > 0) {
      const events: AuditEvent[] = [];
      for (const e of record.outbox) {
        if (e.kind === 'event') events.push(e.event);
        else if (e.kind === 'dispatch') this.startDispatch(e.executionId);
        else this.sendCancel(e.executionId);
      }
      this.arm();
      await this.deps.publisher.publish(events).catch((err: unknown) => {
        throw new SchedulerError('unavailable', 'change stored, but its events are not yet published (retrying)', { cause: err });
      });
      this.confirm(events);
    } else {
      this.arm();
    }
  }

  /**
   * Sets the timer to the record's next wake-up (`nextWakeAt`) or the next dispatch retry, whichever
   * is first, and not before `notBefore` when given.
   */
  private arm(notBefore: number | null = null): void {
    if (this.stopped || !this.mayAct()) return;
    let at = nextWakeAt(this.record);
    const retry = this.nextRetryAt();
    if (retry !== null && (at === null || retry < at)) at = retry;
    this.deps.timers.set(this, at === null ? notBefore : notBefore === null ? at : Math.max(at, notBefore));
  }

  /**
   * After a failed write: reads what the store holds, so the next compare-and-set starts from what
   * is really stored and the job never retries a stale revision forever.
   * - the record just written (a write that timed out but landed): adopt its revision, true;
   * - another record: go back to it and its revision (the machine restarts from it), false;
   * - a delete marker: the job was deleted by an earlier owner's write that landed late: stop;
   * - nothing at all, although this job was loaded from the store (the server lost the key, or its
   *   per-subject state after an unclean restart: every compare-and-set then fails with "wrong
   *   last sequence 0"): write the last persisted record again as a new key, false;
   * - no answer: keep the last written record and revision, false (the next event tries again).
   */
  private async reconcile(record: JobRecord): Promise<boolean> {
    const { orchestratorId, jobId } = record;
    const stored = await this.deps.store.lookup(orchestratorId, jobId).catch(() => null);
    if (stored?.kind === 'present') {
      if (sameContent(stored.record, record)) {
        this.revision = stored.revision;
        this.persisted = record;
        return true;
      }
      this.persisted = stored.record;
      this.revision = stored.revision;
      this.restartFrom(this.persisted);
      // A write that landed although it got no answer (ours, before a rollback) or an earlier
      // owner's: its effects may never have been carried out. Carry them out now, as after a
      // restart: its events (the stream drops those already stored) and its unanswered dispatches.
      this.resumeEffects(stored.record, true);
      return false;
    } else if (stored?.kind === 'deleted') {
      this.deps.log.warn({ job: this.key, revision: stored.revision }, 'job record was deleted by an earlier write; job stopped');
      this.stop();
      return false;
    } else if (stored?.kind === 'absent' && this.mayAct()) {
      this.deps.log.warn({ job: this.key, revision: this.revision }, 'job record missing from the store; writing the last known state again');
      const revision = await this.deps.store.create(this.persisted).catch(() => null);
      if (revision !== null) this.revision = revision;
    }
    this.restartFrom(this.persisted);
    return false;
  }

  /**
   * Re-sends the dispatches of `r` that never got an answer (same execution id), and with
   * `replay` publishes its outbox's events again (in the background; duplicates are dropped by id).
   */
  private resumeEffects(r: JobRecord, replay: boolean): void {
    if (replay) {
      const events = r.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : []));
      this.unconfirm(r);
      // stored now, or retried by the publisher (`isPending` carries them meanwhile)
      void this.deps.publisher.publish(events, { replay: true }).then(
        () => this.confirm(events),
        () => this.confirm(events),
      );
      // a cancel request of that step may not have gone out: sent again (harmless twice)
      for (const e of r.outbox) if (e.kind === 'cancel') this.sendCancel(e.executionId);
    }
    for (const a of r.active) {
      if (a.state !== 'dispatched') continue;
      // a retry still to come (a later attempt than the record's) is sent by the timer
      const retry = this.retries?.get(a.executionId);
      if (retry !== undefined && retry.attempt > a.attempt) continue;
      this.retries?.delete(a.executionId);
      this.startDispatch(a.executionId);
    }
  }

  private unconfirm(r: JobRecord): void {
    for (const e of r.outbox) if (e.kind === 'event') (this.unconfirmed ??= new Set()).add(e.event.id);
  }

  private confirm(events: readonly AuditEvent[]): void {
    if (!this.unconfirmed) return;
    for (const e of events) this.unconfirmed.delete(e.id);
    if (this.unconfirmed.size === 0) this.unconfirmed = null;
  }

  private restartFrom(record: JobRecord): void {
    // A step scopes the outbox (an effect of the record's own `outboxStep` is appended to its
    // outbox, of any other step starts a fresh one): never reuse the step of a stored record (an
    // earlier owner's, or a write of ours that landed late), or new effects would join its old ones.
    this.step = Math.max(this.step, record.outboxStep + 1);
    this.dropUnwritten();
    this.stopActor();
    // started again from `record` at the next event (at once for an inspector)
    this.actor = null;
    this.resting = record;
    if (this.deps.inspect) this.live();
  }

  private async fault(error: unknown, cause: string): Promise<void> {
    this.faults++;
    this.deps.log.error({ err: error, job: this.key, event: cause, faults: this.faults }, 'job actor faulted; restarting from stored state');
    const step = this.step++;
    const now = this.deps.clock.now();
    const { record, retryAt } = faulted(this.persisted, step, now, error, cause, this.faults);
    this.restartFrom(record);
    this.arm(retryAt);
    try {
      this.revision = await this.deps.store.save(record, this.revision);
      this.persisted = record;
      const events = record.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : []));
      await this.deps.publisher.publish(events).catch(() => undefined);
    } catch (err) {
      this.deps.log.error({ err, job: this.key }, 'could not record job.faulted');
    }
  }

  /** When the first pending dispatch retry is due; drops those whose execution no longer waits for a dispatch. */
  private nextRetryAt(): number | null {
    if (this.retries === null) return null;
    let first: number | null = null;
    for (const [executionId, { at }] of this.retries) {
      if (!isDispatched(this.record, executionId)) this.retries.delete(executionId);
      else if (first === null || at < first) first = at;
    }
    if (this.retries.size === 0) this.retries = null;
    return first;
  }

  private mayAct(): boolean {
    return this.deps.fence?.() ?? true;
  }

  private tick(): JobInput {
    return this.deps.maxBuffered === undefined ? { type: 'TICK' } : { type: 'TICK', maxBuffered: this.deps.maxBuffered };
  }

  /** A cancel request (SPEC §10): sent once, not awaited; its reply, if any, is ignored. */
  private sendCancel(executionId: string): void {
    if (this.stopped || !this.mayAct()) return;
    this.deps.canceller?.cancel(this.persisted.orchestratorId, { executionId, jobId: this.persisted.jobId, reason: 'overlap' });
  }

  private startDispatch(executionId: string): void {
    if (this.dispatching?.has(executionId) || this.stopped || !this.mayAct()) return;
    const r = this.record;
    const req: DispatchRequest | null = dispatchRequest(r, executionId);
    if (req === null) return;
    (this.dispatching ??= new Set()).add(executionId);
    // one attempt; a failure goes to the machine, which decides whether and when to retry
    void this.deps.dispatcher
      .send(req, r.spec.dispatchTimeoutMs)
      .then((outcome: DispatchOutcome) => {
        this.dispatching?.delete(executionId);
        if (this.stopped || outcome === null) return;
        const ev: JobInput = outcome.accepted
          ? { type: 'DISPATCH_ACCEPTED', executionId }
          : { type: 'DISPATCH_FAILED', executionId, reason: outcome.reason, ...(outcome.detail !== undefined && { detail: outcome.detail }) };
        return this.send(ev).then(() => undefined);
      })
      .catch((err: unknown) => {
        this.dispatching?.delete(executionId);
        if (this.stopped) return;
        this.deps.log.warn({ err, job: this.key, executionId }, 'dispatch result not recorded');
      });
  }
}
