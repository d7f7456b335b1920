import { createActor, type Actor, type AnyActorRef, type InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import { SchedulerError } from '../contract/errors.js';
import type { AuditEvent, JobRecord } from '../core/record.js';
import type { JobEvent, JobMachine } from '../machines/jobMachine.js';
import { emitEvent, nextWakeAt } from '../machines/jobLogic.js';
import type { EventPublisher } from '../transport/eventPublisher.js';
import type { DispatchOutcome, DispatchRequest, Dispatcher } from '../transport/dispatcher.js';
import type { JobStore } from '../store/jobStore.js';
import type { Clock } from './clock.js';
import type { TimerQueue } from './timerQueue.js';

export interface JobActorDeps {
  store: JobStore;
  publisher: EventPublisher;
  dispatcher: Dispatcher;
  timers: TimerQueue;
  clock: Clock;
  log: Logger;
  machine: JobMachine;
  /**
   * Whether this process may still act for the orchestrator (holds its lease). Checked before
   * every write and dispatch, so a replica that lost its lease neither writes nor dispatches.
   */
  fence?: ((orchestratorId: string) => boolean) | undefined;
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

/** Whether two records hold the same content: the same field values by identity, else equal JSON. */
export function sameContent(a: JobRecord, b: JobRecord): boolean {
  if (a === b) return true;
  const ka = Object.keys(a) as (keyof JobRecord)[];
  if (ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k])) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * One job: an XState actor of the job machine plus what the machine may not do itself. Every
 * event goes through a serial queue: send to the machine, write the record (compare-and-set),
 * publish its events, start its dispatches, re-arm its timer. A machine that throws is restarted
 * from the last written record and `job.faulted` is published; nothing leaves this class.
 */
export class JobActor {
  readonly key: string;
  private actor: Actor<JobMachine>;
  private persisted: JobRecord;
  private revision: number;
  private step: number;
  private queue: Promise<unknown> = SETTLED;
  private faults = 0;
  private stopped = false;
  /** Executions whose dispatch is in flight here (created on the first dispatch). */
  private dispatching: Set<string> | null = null;

  constructor(
    private readonly deps: JobActorDeps,
    stored: { record: JobRecord; revision: number },
  ) {
    this.key = `${stored.record.orchestratorId}.${stored.record.jobId}`;
    this.persisted = stored.record;
    this.revision = stored.revision;
    this.step = stored.record.outboxStep + 1;
    this.actor = this.spawn(stored.record);
  }

  get record(): JobRecord {
    return this.actor.getSnapshot().context;
  }

  /** The XState actor (for inspection tools). */
  get ref(): Actor<JobMachine> {
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
   * A command: `prepare` sees the current record inside the queue (to check a revision, say) and
   * returns the event to send, or null for a no-op.
   */
  command(prepare: (r: JobRecord) => JobInput | null): Promise<JobRecord> {
    return this.run(async () => {
      const input = prepare(this.record);
      return input === null ? this.record : this.apply(input);
    });
  }

  /** Sends an event and carries out its effects; resolves with the record after it. */
  send(input: JobInput): Promise<JobRecord> {
    return this.run(() => this.apply(input));
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
      for (const a of r.active) if (a.state === 'dispatched') this.startDispatch(a.executionId);
      this.arm();
    });
    // Nothing due and no deadline passed: a TICK would change nothing (the timer is armed).
    const wake = nextWakeAt(this.record);
    if (wake === null || wake > this.deps.clock.now()) return;
    await this.send({ type: 'TICK' }).catch((err: unknown) => {
      if (this.stopped) return; // deleted (or handed over) meanwhile
      this.deps.log.error({ err, job: this.key }, 'recovery tick failed');
    });
  }

  stop(): void {
    this.stopped = true;
    this.deps.timers.set(this.key, null);
    this.stopActor();
  }

  private stopActor(): void {
    const parent = this.deps.parent;
    if (parent) parent.send({ type: 'JOB.STOP', ref: this.actor });
    else this.actor.stop();
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
    actor.start();
    return actor;
  }

  private async apply(input: JobInput): Promise<JobRecord> {
    if (this.stopped) throw new SchedulerError('not_found', `job "${this.persisted.jobId}" not found`);
    if (!this.mayAct()) throw new SchedulerError('unavailable', 'this replica no longer owns the orchestrator');
    const before = this.actor.getSnapshot();
    const step = this.step++;
    this.actor.send({ ...input, now: this.deps.clock.now(), step } as JobEvent);
    const after = this.actor.getSnapshot();
    if (after.status === 'error') {
      await this.fault(after.error, input.type);
      throw new SchedulerError('internal', `job "${this.persisted.jobId}" faulted and was restarted`);
    }
    const record = after.context;
    // XState's assign always builds a new context: compare the content, so a no-op (a TICK with
    // nothing due, a heartbeat of an unknown execution) writes nothing. The pure logic returns the
    // fields it did not change as they were, so a field-by-field identity check settles nearly
    // every no-op; the JSON comparison only runs when some field is a new object.
    if (after.status !== 'done' && sameContent(record, before.context)) return record;
    try {
      if (!this.mayAct()) throw new SchedulerError('unavailable', 'lease lost');
      if (after.status === 'done') {
        await this.deps.store.remove(record.orchestratorId, record.jobId, this.revision);
        this.stop();
      } else {
        this.revision = await this.deps.store.save(record, this.revision);
      }
      this.persisted = record;
    } catch (err) {
      if (after.status !== 'done' && (await this.reconcile(record))) {
        // the write timed out but landed: carry on as if it had answered
      } else {
        this.deps.log.error({ err, job: this.key, event: input.type }, 'job record write failed; state rolled back');
        this.arm(1_000);
        throw new SchedulerError('unavailable', 'storage unavailable', { cause: err });
      }
    }
    await this.effects(record, step);
    return record;
  }

  private async effects(record: JobRecord, step: number): Promise<void> {
    if (record.outboxStep === step && record.outbox.length > 0) {
      const events: AuditEvent[] = [];
      for (const e of record.outbox) {
        if (e.kind === 'event') events.push(e.event);
        else this.startDispatch(e.executionId);
      }
      this.arm();
      await this.deps.publisher.publish(events).catch((err: unknown) => {
        throw new SchedulerError('unavailable', 'change stored, but its events are not yet published (retrying)', { cause: err });
      });
    } else {
      this.arm();
    }
  }

  private arm(minDelay = 0): void {
    if (this.stopped) return;
    const at = nextWakeAt(this.record);
    const floor = minDelay > 0 ? this.deps.clock.now() + minDelay : null;
    this.deps.timers.set(this.key, at === null ? floor : floor === null ? at : Math.max(at, floor));
  }

  /**
   * After a failed write: reads what the store holds. When it is the record just written (a write
   * that timed out but landed), adopts its revision and returns true. Otherwise goes back to the
   * stored record and revision (or the last written one when the store cannot be read), so a
   * later compare-and-set starts from what is really stored and the job never wedges.
   */
  private async reconcile(record: JobRecord): Promise<boolean> {
    const stored = await this.deps.store.get(record.orchestratorId, record.jobId).catch(() => undefined);
    if (stored && sameContent(stored.record, record)) {
      this.revision = stored.revision;
      this.persisted = record;
      return true;
    }
    if (stored) {
      this.persisted = stored.record;
      this.revision = stored.revision;
    }
    this.restartFrom(this.persisted);
    return false;
  }

  private restartFrom(record: JobRecord): void {
    this.stopActor();
    this.actor = this.spawn(record);
  }

  private async fault(error: unknown, cause: string): Promise<void> {
    this.faults++;
    this.deps.log.error({ err: error, job: this.key, event: cause, faults: this.faults }, 'job actor faulted; restarting from stored state');
    const step = this.step++;
    const message = error instanceof Error ? error.message : String(error);
    const record = emitEvent(this.persisted, step, this.deps.clock.now(), 'job.faulted', { error: message, event: cause, faults: this.faults });
    this.restartFrom(record);
    // A machine that keeps throwing is retried with backoff, never in a tight loop.
    this.arm(Math.min(60_000, 1_000 * 2 ** Math.min(this.faults - 1, 6)));
    try {
      this.revision = await this.deps.store.save(record, this.revision);
      this.persisted = record;
      const events = record.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : []));
      await this.deps.publisher.publish(events).catch(() => undefined);
    } catch (err) {
      this.deps.log.error({ err, job: this.key }, 'could not record job.faulted');
    }
  }

  private mayAct(): boolean {
    return this.deps.fence?.(this.persisted.orchestratorId) ?? true;
  }

  private startDispatch(executionId: string): void {
    if (this.dispatching?.has(executionId) || this.stopped || !this.mayAct()) return;
    const r = this.record;
    const a = r.active.find((x) => x.executionId === executionId);
    if (!a) return;
    const target = r.spec.target;
    const action =
      a.inputs === undefined
        ? target
        : target.type === 'workflow_start'
          ? { ...target, inputs: a.inputs }
          : { ...target, args: a.inputs };
    const req: DispatchRequest = {
      executionId,
      orchestratorId: r.orchestratorId,
      jobId: r.jobId,
      scheduledAt: new Date(a.scheduledAt).toISOString(),
      firedAt: new Date(a.dispatchedAt).toISOString(),
      trigger: a.trigger,
      attempt: a.attempt,
      action,
    };
    const policy = {
      timeoutMs: r.spec.dispatchTimeoutMs,
      attempts: r.spec.dispatchRetry.attempts,
      backoffMs: r.spec.dispatchRetry.backoffMs,
    };
    (this.dispatching ??= new Set()).add(executionId);
    const onAttempt = (attempt: number): void => {
      this.send({ type: 'DISPATCH_ATTEMPT', executionId, attempt }).catch(() => undefined);
    };
    void this.deps.dispatcher
      .dispatch(req, policy, onAttempt, () => !this.stopped && this.mayAct())
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
