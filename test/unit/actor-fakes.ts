/**
 * In-memory fakes of the job actor's ports (record store, event publisher, dispatcher, logger) and
 * a test bed wiring them to a manual clock and a timer queue: the job actor and the supervisor run
 * as in production, with no NATS server. Used by the mutation tests of src/actors.
 */
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import { ManualClock } from '../../src/actors/clock.js';
import type { JobActor, JobActorDeps } from '../../src/actors/jobActor.js';
import { TimerQueue } from '../../src/actors/timerQueue.js';
import type { AuditEvent, JobRecord } from '../../src/core/record.js';
import { jobMachine, type JobMachine } from '../../src/machines/jobMachine.js';
import { KeyExistsError, StaleRevisionError, type JobStore, type Lookup } from '../../src/store/jobStore.js';
import type { Dispatcher, DispatchOutcome, DispatchRequest } from '../../src/transport/dispatcher.js';
import type { EventPublisher } from '../../src/transport/eventPublisher.js';
import { T0 } from './machine-helpers.js';

export type StoreOp = 'create' | 'save' | 'remove' | 'lookup';

/** A planned failure of the next call of `op`: `land` writes the value first (a write that timed out but landed). */
export interface StoreFault {
  op: StoreOp;
  err: unknown;
  land?: boolean;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (err: unknown) => void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The KV bucket as a map: compare-and-set on one revision counter shared by all keys, like a stream. */
export class FakeStore {
  seq = 0;
  readonly entries = new Map<string, { record: JobRecord; revision: number } | { deleted: true; revision: number }>();
  /** Every call, in order: the operation, the key and the revision it was made at. */
  readonly calls: { op: StoreOp; key: string; revision?: number }[] = [];
  readonly faults: StoreFault[] = [];
  /** The next call of an operation waits for its gate (then goes on as planned). */
  readonly gates = new Map<StoreOp, Promise<void>>();

  put(r: JobRecord): number {
    const revision = ++this.seq;
    this.entries.set(key(r.orchestratorId, r.jobId), { record: structuredClone(r), revision });
    return revision;
  }

  fail(op: StoreOp, err: unknown = new Error(`${op} failed`), land = false): void {
    this.faults.push({ op, err, land });
  }

  /** Records of a key as stored (null when absent or deleted). */
  stored(o: string, j: string): JobRecord | null {
    const e = this.entries.get(key(o, j));
    return e && !('deleted' in e) ? e.record : null;
  }

  writes(op?: 'create' | 'save' | 'remove'): number {
    return this.calls.filter((c) => (op === undefined ? c.op !== 'lookup' : c.op === op)).length;
  }

  private async enter(op: StoreOp, k: string, revision?: number): Promise<StoreFault | undefined> {
    this.calls.push(revision === undefined ? { op, key: k } : { op, key: k, revision });
    const gate = this.gates.get(op);
    if (gate) {
      this.gates.delete(op);
      await gate;
    }
    const i = this.faults.findIndex((f) => f.op === op);
    return i < 0 ? undefined : this.faults.splice(i, 1)[0];
  }

  async save(r: JobRecord, revision: number): Promise<number> {
    const k = key(r.orchestratorId, r.jobId);
    const fault = await this.enter('save', k, revision);
    if (fault && !fault.land) throw fault.err;
    const e = this.entries.get(k);
    if ((e?.revision ?? 0) !== revision) throw new StaleRevisionError(k);
    const next = this.put(r);
    if (fault) throw fault.err;
    return next;
  }

  async create(r: JobRecord): Promise<number> {
    const k = key(r.orchestratorId, r.jobId);
    const fault = await this.enter('create', k);
    if (fault && !fault.land) throw fault.err;
    const e = this.entries.get(k);
    if (e && !('deleted' in e)) throw new KeyExistsError(k);
    const next = this.put(r);
    if (fault) throw fault.err;
    return next;
  }

  async remove(o: string, j: string, revision: number): Promise<void> {
    const k = key(o, j);
    const fault = await this.enter('remove', k, revision);
    if (fault && !fault.land) throw fault.err;
    const e = this.entries.get(k);
    if (e?.revision !== revision) throw new StaleRevisionError(k);
    this.entries.set(k, { deleted: true, revision: ++this.seq });
    if (fault) throw fault.err;
  }

  async lookup(o: string, j: string): Promise<Lookup> {
    const k = key(o, j);
    const fault = await this.enter('lookup', k);
    if (fault) throw fault.err;
    const e = this.entries.get(k);
    if (!e) return { kind: 'absent' };
    if ('deleted' in e) return { kind: 'deleted', revision: e.revision };
    return { kind: 'present', record: structuredClone(e.record), revision: e.revision };
  }
}

const key = (o: string, j: string): string => `${o}.${j}`;

/** The event publisher: records every call; `failures` fail the next calls; `pendingIds` are reported as being retried. */
export class FakePublisher {
  readonly calls: { events: AuditEvent[]; opts: { replay?: boolean } | undefined }[] = [];
  failures: unknown[] = [];
  readonly pendingIds = new Set<string>();
  /** The next publish waits for this gate. */
  gate: Promise<void> | null = null;

  get events(): AuditEvent[] {
    return this.calls.flatMap((c) => c.events);
  }

  /** The types of the events published, state changes left out (see `happened`). */
  types(): string[] {
    return happened(this.events);
  }

  async publish(events: readonly AuditEvent[], opts?: { replay?: boolean }): Promise<void> {
    this.calls.push({ events: [...events], opts });
    const gate = this.gate;
    this.gate = null;
    if (gate) await gate;
    const err = this.failures.shift();
    if (err !== undefined) throw err;
  }

  isPending(id: string): boolean {
    return this.pendingIds.has(id);
  }

  pendingFor(): number {
    return this.pendingIds.size;
  }

  get pending(): number {
    return this.pendingIds.size;
  }
}

/** One dispatch attempt as the dispatcher was asked to send it, and the means to answer it. */
export interface SentDispatch {
  req: DispatchRequest;
  timeoutMs: number;
  at: number;
  answer: Deferred<DispatchOutcome>;
}

/** The dispatcher: each attempt waits for its answer (`answer`, or the `auto` answer when set). */
export class FakeDispatcher {
  readonly sent: SentDispatch[] = [];
  auto: ((req: DispatchRequest) => DispatchOutcome | Promise<DispatchOutcome>) | null = null;

  constructor(private readonly clock: ManualClock) {}

  send(req: DispatchRequest, timeoutMs: number): Promise<DispatchOutcome> {
    const answer = deferred<DispatchOutcome>();
    this.sent.push({ req, timeoutMs, at: this.clock.now(), answer });
    if (this.auto) Promise.resolve(this.auto(req)).then(answer.resolve, answer.reject);
    return answer.promise;
  }

  close(): void {}

  attempts(): [string, number][] {
    return this.sent.map((s) => [s.req.executionId, s.req.attempt]);
  }
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  obj: Record<string, unknown>;
}

/** A pino-shaped logger that keeps its lines. */
export class FakeLog {
  readonly lines: LogLine[] = [];
  private add(level: LogLine['level']) {
    return (obj: Record<string, unknown>, msg: string): void => void this.lines.push({ level, msg, obj });
  }
  debug = this.add('debug');
  info = this.add('info');
  warn = this.add('warn');
  error = this.add('error');
  child(): FakeLog {
    return this;
  }
  msgs(level?: LogLine['level']): string[] {
    return this.lines.filter((l) => level === undefined || l.level === level).map((l) => l.msg);
  }
  find(msg: string): LogLine | undefined {
    return this.lines.find((l) => l.msg === msg);
  }
}

export interface Bed {
  clock: ManualClock;
  store: FakeStore;
  publisher: FakePublisher;
  dispatcher: FakeDispatcher;
  log: FakeLog;
  timers: TimerQueue<JobActor>;
  /** Wake-ups the timer queue delivered, in order. */
  woken: JobActor[];
  deps(over?: Partial<JobActorDeps>): JobActorDeps;
}

export function bed(start = T0): Bed {
  const clock = new ManualClock(start);
  const store = new FakeStore();
  const publisher = new FakePublisher();
  const dispatcher = new FakeDispatcher(clock);
  const log = new FakeLog();
  const woken: JobActor[] = [];
  const timers = new TimerQueue<JobActor>(clock, (a) => {
    woken.push(a);
    a.wake();
  });
  return {
    clock,
    store,
    publisher,
    dispatcher,
    log,
    timers,
    woken,
    deps: (over = {}) => ({
      store: store as unknown as JobStore,
      publisher: publisher as unknown as EventPublisher,
      dispatcher: dispatcher as unknown as Dispatcher,
      timers,
      clock,
      log: log as unknown as Logger,
      machine: jobMachine as JobMachine,
      ...over,
    }),
  };
}

/** Lets every promise chain that is not waiting on a gate run to its end. */
export const flush = async (): Promise<void> => {
  for (let i = 0; i < 30; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 30; i++) await Promise.resolve();
};

/** Advances the clock by `ms` and lets what the timers started run. */
export async function advance(b: Bed, ms: number): Promise<void> {
  b.clock.advance(ms);
  await flush();
}

/**
 * What a list of events says happened, by type, without the state changes (`transition`): those
 * are checked through the record's state, so that the tests hold whether a state change is an
 * event of its own or carried by the lifecycle event (SPEC §7).
 */
export const happened = (events: readonly AuditEvent[]): string[] => events.flatMap((e) => (e.type === 'transition' ? [] : [e.type]));
export const eventTypes = (r: JobRecord): string[] => happened(r.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : [])));
export const dispatchEffects = (r: JobRecord): string[] => r.outbox.flatMap((e) => (e.kind === 'dispatch' ? [e.executionId] : []));

export type { InspectionEvent };
