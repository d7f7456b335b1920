import { assertEvent, assign, setup } from 'xstate';
import type { CompletionStatus, DispatchFailure, JobState } from '../contract/constants.js';
import type { JobRecord } from '../core/record.js';
import type { JobSpec } from '../core/spec.js';
import * as L from './jobLogic.js';

/**
 * Every event carries `now` (the injected clock) and `step` (the actor's step number, which
 * scopes the outbox). The machine has no I/O: effects are written to `context.outbox` and carried
 * out by the job actor in `src/actors`.
 */
export type JobEvent = { now: number; step: number } & (
  | { type: 'TICK' }
  | { type: 'RUN_NOW'; inputs?: unknown; ignoreOverlap: boolean }
  | { type: 'DISPATCH_ATTEMPT'; executionId: string; attempt: number }
  | { type: 'DISPATCH_ACCEPTED'; executionId: string }
  | { type: 'DISPATCH_FAILED'; executionId: string; reason: DispatchFailure; detail?: string }
  | { type: 'COMPLETED'; executionId: string; status: CompletionStatus; error?: unknown; output?: unknown }
  | { type: 'HEARTBEAT'; executionId: string }
  | { type: 'PAUSE'; reason: string | null }
  | { type: 'RESUME' }
  | { type: 'UPDATE'; spec: JobSpec; changed: string[]; scheduleChanged: boolean }
  | { type: 'DELETE' }
);

type Settled = Exclude<JobState, 'due'>;
const SETTLED: readonly Settled[] = ['paused', 'running', 'dispatched', 'idle'];

/** Eventless transitions to whichever state the record now calls for (never to `from` itself). */
const settleFrom = (from: JobState | 'boot') =>
  SETTLED.filter((s) => s !== from).map((s) => ({ target: s, guard: { type: 'shouldBe' as const, params: { state: s } } }));

const tickable = {
  TICK: [
    { guard: 'slotDue' as const, target: 'due', actions: 'expire' as const },
    { actions: 'expire' as const },
  ],
};

/**
 * The job machine. States (the job view's `state`):
 * - `idle`: nothing active; a due slot (TICK) enters `due`.
 * - `due`: transient: applies the misfire and overlap policies, then settles.
 * - `dispatched`: an execution was sent, no reply yet.
 * - `running`: an execution was accepted and has not completed.
 * - `paused`: the schedule does not fire; active executions go on and their completions count.
 * - `deleted`: final.
 * Completions, heartbeats, dispatch results, run_now, pause, resume and update are handled in
 * every state (the record changes), and the eventless `settle` transitions then move the machine
 * to the state the record calls for.
 */
export const jobMachine = setup({
  types: {
    context: {} as JobRecord,
    input: {} as JobRecord,
    events: {} as JobEvent,
  },
  guards: {
    slotDue: ({ context, event }) => L.isSlotDue(context, event.now),
    shouldBe: ({ context }, params: { state: Settled }) => L.derivedState(context) === params.state,
  },
  actions: {
    enter: assign(({ context, event }, params: { state: JobState }) =>
      L.enterState(context, event.step, event.now, params.state, event.type),
    ),
    expire: assign(({ context, event }) => L.expireDeadlines(context, event.step, event.now)),
    fire: assign(({ context, event }) => L.fireDue(context, event.step, event.now)),
    runNow: assign(({ context, event }) => {
      assertEvent(event, 'RUN_NOW');
      return L.runNow(context, event.step, event.now, event.inputs, event.ignoreOverlap);
    }),
    attempt: assign(({ context, event }) => {
      assertEvent(event, 'DISPATCH_ATTEMPT');
      return L.dispatchAttempt(context, event.step, event.now, event.executionId, event.attempt);
    }),
    accepted: assign(({ context, event }) => {
      assertEvent(event, 'DISPATCH_ACCEPTED');
      return L.dispatchAccepted(context, event.step, event.now, event.executionId);
    }),
    failed: assign(({ context, event }) => {
      assertEvent(event, 'DISPATCH_FAILED');
      return L.dispatchFailed(context, event.step, event.now, event.executionId, event.reason, event.detail);
    }),
    completed: assign(({ context, event }) => {
      assertEvent(event, 'COMPLETED');
      return L.completed(context, event.step, event.now, event);
    }),
    heartbeat: assign(({ context, event }) => {
      assertEvent(event, 'HEARTBEAT');
      return L.heartbeat(context, event.step, event.now, event.executionId);
    }),
    pause: assign(({ context, event }) => {
      assertEvent(event, 'PAUSE');
      return L.pause(context, event.step, event.now, event.reason);
    }),
    resume: assign(({ context, event }) => L.resume(context, event.step, event.now)),
    update: assign(({ context, event }) => {
      assertEvent(event, 'UPDATE');
      return L.update(context, event.step, event.now, event.spec, event.changed, event.scheduleChanged);
    }),
    deleted: assign(({ context, event }) => L.deleted(context, event.step, event.now)),
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => input,
  initial: 'boot',
  on: {
    TICK: { actions: 'expire' },
    RUN_NOW: { actions: 'runNow' },
    DISPATCH_ATTEMPT: { actions: 'attempt' },
    DISPATCH_ACCEPTED: { actions: 'accepted' },
    DISPATCH_FAILED: { actions: 'failed' },
    COMPLETED: { actions: 'completed' },
    HEARTBEAT: { actions: 'heartbeat' },
    PAUSE: { actions: 'pause' },
    RESUME: { actions: 'resume' },
    UPDATE: { actions: 'update' },
    DELETE: { target: '.deleted', actions: 'deleted' },
  },
  states: {
    boot: { always: settleFrom('boot') },
    idle: { entry: { type: 'enter', params: { state: 'idle' } }, always: settleFrom('idle'), on: tickable },
    due: { entry: [{ type: 'enter', params: { state: 'due' } }, 'fire'], always: settleFrom('due') },
    dispatched: { entry: { type: 'enter', params: { state: 'dispatched' } }, always: settleFrom('dispatched'), on: tickable },
    running: { entry: { type: 'enter', params: { state: 'running' } }, always: settleFrom('running'), on: tickable },
    paused: { entry: { type: 'enter', params: { state: 'paused' } }, always: settleFrom('paused') },
    deleted: { type: 'final' },
  },
});

export type JobMachine = typeof jobMachine;
