import { createActor, type Actor } from 'xstate';
import type { CreateBody } from '../../src/contract/schemas.js';
import type { AuditEvent, JobRecord } from '../../src/core/record.js';
import { normalizeSpec } from '../../src/core/spec.js';
import { newRecord } from '../../src/machines/jobLogic.js';
import type { Outcome } from '../../src/machines/jobLogic.js';
import { jobMachine, type JobEvent } from '../../src/machines/jobMachine.js';

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');
export const LIMITS = { minIntervalMs: 1000, maxInputBytes: 256 * 1024 };

type Body = Omit<CreateBody, 'schedule' | 'target'> & Partial<Pick<CreateBody, 'schedule' | 'target'>>;

export function record(body: Body = {}, now = T0): JobRecord {
  const full: CreateBody = {
    schedule: { kind: 'interval', every: 10_000 },
    target: { type: 'workflow_start', workflowId: 'wf', inputs: { a: 1 } },
    ...body,
  };
  const spec = normalizeSpec(full, body.jobId ?? 'job1', LIMITS, now);
  return newRecord({ orchestratorId: 'acme', spec, incarnation: 'inc1', now, step: 0 });
}

type Input = JobEvent extends infer E ? (E extends JobEvent ? Omit<E, 'now' | 'step'> : never) : never;

/** A job machine actor driven with explicit instants; `step` increments per event. */
export class Driver {
  readonly actor: Actor<typeof jobMachine>;
  private step = 1;
  now: number;

  /** The outcomes the machine emitted, with their step. */
  readonly outcomes: { step: number; outcome: Outcome }[] = [];

  constructor(r: JobRecord, now = r.createdAt) {
    this.now = now;
    this.actor = createActor(jobMachine, { input: r });
    this.actor.on('outcome', (e) => void this.outcomes.push({ step: e.step, outcome: e.outcome }));
    this.actor.start();
  }

  /** The outcome emitted by the last event sent, or null. */
  get outcome(): Outcome | null {
    const o = this.outcomes.at(-1);
    return o !== undefined && o.step === this.step - 1 ? o.outcome : null;
  }

  get ctx(): JobRecord {
    return this.actor.getSnapshot().context;
  }

  get state(): string {
    return String(this.actor.getSnapshot().value);
  }

  /** Sends at `at` (or the current instant) and returns the events of this step. */
  send(e: Input, at?: number): AuditEvent[] {
    if (at !== undefined) this.now = at;
    const step = this.step++;
    this.actor.send({ ...e, now: this.now, step } as JobEvent);
    const c = this.ctx;
    return c.outboxStep === step ? c.outbox.flatMap((x) => (x.kind === 'event' ? [x.event] : [])) : [];
  }

  dispatchesOfLastStep(): string[] {
    const c = this.ctx;
    return c.outboxStep === this.step - 1 ? c.outbox.flatMap((x) => (x.kind === 'dispatch' ? [x.executionId] : [])) : [];
  }

  tick(at: number): AuditEvent[] {
    return this.send({ type: 'TICK' }, at);
  }
}

/**
 * The types of a step's events, a state change carried by a lifecycle event (`data.transition`,
 * SPEC §7) written as a `transition` after it: what the trail says happened, in order.
 */
export const types = (events: AuditEvent[]): string[] => events.flatMap((e) => (e.type !== 'transition' && e.data.transition !== undefined ? [e.type, 'transition'] : [e.type]));

/** Every state change of a step, carried or not, each step through a transient state apart (`idle>due`, `due>dispatched`). */
export const stateChanges = (events: AuditEvent[]): { from: string; to: string; event: string }[] =>
  events.flatMap((e) => {
    const t = (e.type === 'transition' ? e.data : e.data.transition) as { from: string; to: string; event: string; via?: string[] } | undefined;
    if (t === undefined) return [];
    const path = [t.from, ...(t.via ?? []), t.to];
    return path.slice(1).map((to, i) => ({ from: path[i]!, to, event: t.event }));
  });
