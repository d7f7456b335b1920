import { assertEvent, assign, enqueueActions, setup } from 'xstate';
import type { CompletionStatus, DispatchFailure, JobState } from '../contract/constants.js';
import type { ActiveExecution, JobRecord } from '../core/record.js';
import * as L from './jobLogic.js';

/**
 * Every event carries `now` (the injected clock) and `step` (the actor's step number, which
 * scopes the outbox). The machine has no I/O and is the only place that decides: what comes out
 * is data, carried out by the job actor in `src/actors`: the next record (`context`), the effects
 * in its `outbox` (audit events, dispatches), and, emitted for the step (`JobEmitted`), a
 * command's outcome and the dispatch retries with their due times.
 */
export type JobEvent = { now: number; step: number } & (
  | { type: 'TICK' }
  | { type: 'RUN_NOW'; inputs?: unknown; ignoreOverlap: boolean }
  /** A retry came due: send this attempt. */
  | { type: 'DISPATCH_ATTEMPT'; executionId: string; attempt: number }
  | { type: 'DISPATCH_ACCEPTED'; executionId: string }
  /** One attempt failed: the machine retries it (dispatchRetry) or fails the dispatch. */
  | { type: 'DISPATCH_FAILED'; executionId: string; reason: DispatchFailure; detail?: string }
  | { type: 'COMPLETED'; executionId: string; status: CompletionStatus; error?: unknown; output?: unknown }
  | { type: 'HEARTBEAT'; executionId: string }
  | { type: 'PAUSE'; reason: string | null }
  | { type: 'RESUME' }
  | ({ type: 'UPDATE' } & L.UpdateRequest)
  | { type: 'DELETE' }
);

/**
 * What the machine emits besides its record: the outcome of a command (RUN_NOW, UPDATE) for the
 * step that carried it, which the job actor hands back to the caller (the supervisor's reply).
 */
export type JobEmitted =
  | { type: 'outcome'; step: number; outcome: L.Outcome }
  /** A dispatch attempt failed and is tried again at `at`: the actor sends DISPATCH_ATTEMPT then. */
  | ({ type: 'retry'; step: number } & L.DispatchRetry);

/**
 * The executions an event ends: timeouts (TICK), a completion, a dispatch that failed for good (a
 * failed attempt that is retried ends nothing); other events end none.
 */
function endedBy(context: JobRecord, event: JobEvent): (a: ActiveExecution) => boolean {
  switch (event.type) {
    case 'TICK':
      return (a) => L.isPastDeadline(a, event.now);
    case 'COMPLETED':
      return (a) => a.executionId === event.executionId;
    case 'DISPATCH_FAILED':
      return (a) =>
        a.executionId === event.executionId && a.state === 'dispatched' && L.dispatchRetry(context, event.now, event.executionId, event.reason) === null;
    default:
      return () => false;
  }
}

const enter = (state: JobState) => ({ type: 'enter', params: { state } }) as const;
const toDeleted = { DELETE: { target: 'deleted', actions: 'deleted' } } as const;
/** What every resting state (idle, dispatched, running) does on pause, update and delete. */
const fromResting = {
  PAUSE: { target: 'paused', actions: 'pause' },
  UPDATE: [
    { guard: 'pausesJob', target: 'paused', actions: 'update' },
    { actions: 'update' },
  ],
  ...toDeleted,
} as const;

/**
 * The job machine. The resting states are the job view's `state`; one line each, what enters it
 * and what leaves it (docs/statechart.md has the chart):
 * - `boot` (transient): the actor starts from a stored record and lands at once in the state that
 *   record calls for, with no `transition` event.
 * - `idle`: nothing active. A due slot (TICK) enters `due`, run_now `dispatched`, pause `paused`.
 * - `due` (transient): a slot came due. `deciding` applies the misfire and overlap policies (one
 *   guard per policy), then the job leaves for `running`, `dispatched` or `idle` by its executions.
 * - `dispatched`: executions sent, none accepted yet. An accept (or heartbeat) enters `running`;
 *   the failure, completion or timeout of the last one `idle`; a due slot `due`.
 * - `running`: an execution was accepted. Its end leaves for `idle`, or `dispatched` when only
 *   dispatched ones are left or the buffered slot was dispatched; it stays while another runs.
 * - `paused`: the schedule does not fire; active executions go on and their completions count.
 *   Resume (or an update that unpauses) leaves for the state the record calls for.
 * - `deleted`: final.
 * Every entry into a state of the view (and `due`) records a `transition` event (SPEC §7). Guards
 * are pure functions of the record and the event (jobLogic.ts); for one event they are tried in
 * order. Events a state does not list change nothing there.
 */
export const jobMachine = setup({
  types: {
    context: {} as JobRecord,
    input: {} as JobRecord,
    events: {} as JobEvent,
    emitted: {} as JobEmitted,
  },
  guards: {
    /** boot: the record calls for this state. */
    restoredAs: ({ context }, params: { state: JobState }) => L.derivedState(context) === params.state,
    /** A slot is due (not paused, `nextRunAt` reached). */
    slotDue: ({ context, event }) => L.isSlotDue(context, event.now),
    /** due: the slots due are a misfire and the misfire policy is `skip_missed`. */
    skipMissed: ({ context, event }) => L.skipsMissedSlots(context, event.now),
    /** due: an execution is active and the overlap policy skips the slot. */
    overlapSkip: ({ context }) => L.overlapDecision(context) === 'skip',
    /** due: an execution is active and the slot waits (`buffer_one`, none waiting yet). */
    overlapBuffer: ({ context }) => L.overlapDecision(context) === 'buffer',
    /** due: an execution is active and the policy is `allow`: the slot is dispatched anyway. */
    allowOverlap: ({ context }) => context.active.length > 0 && L.overlapDecision(context) === 'dispatch',
    /** due, once decided: an active execution is running / any execution is active. */
    executionRunning: ({ context }) => context.active.some((a) => a.state === 'running'),
    executionActive: ({ context }) => context.active.length > 0,
    /** Once the executions the event ends have ended, none is left and no slot waits. */
    nothingLeft: ({ context, event }) => L.leftAfter(context, endedBy(context, event)) === 'nothing',
    /** ... no running one is left, but a dispatched one is, or the buffered slot (then dispatched). */
    onlyDispatchedLeft: ({ context, event }) => L.leftAfter(context, endedBy(context, event)) === 'dispatched',
    /** DISPATCH_ACCEPTED, HEARTBEAT: the event's execution is active and waiting for its dispatch reply. */
    dispatchedExecution: ({ context, event }) => 'executionId' in event && L.isDispatched(context, event.executionId),
    /** UPDATE: the job is paused after it (it was not; a refused update changes nothing). */
    pausesJob: ({ context, event }) => {
      assertEvent(event, 'UPDATE');
      return !context.spec.paused && L.pausedAfterUpdate(context, L.decideUpdate(context, event.now, event));
    },
    /** paused: RESUME, or an UPDATE that unpauses, leads to this state. */
    resumesTo: ({ context, event }, params: { state: JobState }) =>
      (event.type === 'RESUME' || (event.type === 'UPDATE' && !L.pausedAfterUpdate(context, L.decideUpdate(context, event.now, event)))) &&
      L.resumedState(context) === params.state,
  },
  actions: {
    enter: assign(({ context, event }, params: { state: JobState }) =>
      L.enterState(context, event.step, event.now, params.state, event.type),
    ),
    expire: assign(({ context, event }) => L.expireDeadlines(context, event.step, event.now)),
    /** due: the slot (or the latest missed one) is dispatched. */
    fire: assign(({ context, event }) => L.fireDue(context, event.step, event.now, 'dispatch')),
    skipSlot: assign(({ context, event }) => L.fireDue(context, event.step, event.now, 'skip')),
    bufferSlot: assign(({ context, event }) => L.fireDue(context, event.step, event.now, 'buffer')),
    /** due: the missed slots are counted and audited, none fires. */
    countMissed: assign(({ context, event }) => L.fireDue(context, event.step, event.now)),
    /** The record after the run-now decision, and its outcome (the execution id, or `overlap`) emitted. */
    runNow: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'RUN_NOW');
      const { record, outcome } = L.runNow(context, event.step, event.now, event.inputs, event.ignoreOverlap);
      enqueue.assign(() => record);
      enqueue.emit({ type: 'outcome', step: event.step, outcome });
    }),
    attempt: assign(({ context, event }) => {
      assertEvent(event, 'DISPATCH_ATTEMPT');
      return L.dispatchAttempt(context, event.step, event.now, event.executionId, event.attempt);
    }),
    accepted: assign(({ context, event }) => {
      assertEvent(event, 'DISPATCH_ACCEPTED');
      return L.dispatchAccepted(context, event.step, event.now, event.executionId);
    }),
    /** A failed attempt: retried (the retry and its due time emitted) or failed for good. */
    failed: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'DISPATCH_FAILED');
      const { record, retry } = L.attemptFailed(context, event.step, event.now, event.executionId, event.reason, event.detail);
      enqueue.assign(() => record);
      if (retry !== null) enqueue.emit({ type: 'retry', step: event.step, ...retry });
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
    /** The record after the update decision (revision conflict, patch), and its outcome emitted. */
    update: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'UPDATE');
      const { record, outcome } = L.update(context, event.step, event.now, event);
      enqueue.assign(() => record);
      enqueue.emit({ type: 'outcome', step: event.step, outcome });
    }),
    deleted: assign(({ context, event }) => L.deleted(context, event.step, event.now)),
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => input,
  initial: 'boot',
  states: {
    boot: {
      description: 'transient: lands in the state the stored record calls for, with no transition event',
      always: [
        { guard: { type: 'restoredAs', params: { state: 'idle' } }, target: 'idle' },
        { guard: { type: 'restoredAs', params: { state: 'dispatched' } }, target: 'dispatched' },
        { guard: { type: 'restoredAs', params: { state: 'running' } }, target: 'running' },
        { guard: { type: 'restoredAs', params: { state: 'paused' } }, target: 'paused' },
      ],
    },

    idle: {
      description: 'no execution active',
      entry: enter('idle'),
      on: {
        TICK: { guard: 'slotDue', target: 'due' },
        RUN_NOW: { target: 'dispatched', actions: 'runNow' },
        COMPLETED: { actions: 'completed' }, // unknown or duplicate: rejected
        ...fromResting,
      },
    },

    due: {
      description: 'transient: a slot came due; the misfire and overlap policies decide what fires',
      entry: enter('due'),
      initial: 'deciding',
      states: {
        deciding: {
          description: 'transient: the misfire policy, then the overlap policy; the first guard that holds decides',
          always: [
            { guard: 'skipMissed', target: 'missedSkipped', actions: 'countMissed' },
            { guard: 'overlapSkip', target: 'skipped', actions: 'skipSlot' },
            { guard: 'overlapBuffer', target: 'buffered', actions: 'bufferSlot' },
            { guard: 'allowOverlap', target: 'fired', actions: 'fire' },
            { target: 'fired', actions: 'fire' },
          ],
        },
        missedSkipped: { description: 'a misfire under skip_missed: counted (misfire.skipped), nothing dispatched' },
        skipped: { description: 'the slot was skipped for overlap (trigger.skipped)' },
        buffered: { description: 'the slot waits for the active execution to end (trigger.buffered)' },
        fired: { description: 'the slot, or on a misfire under fire_once_on_recovery the latest missed one, was dispatched' },
      },
      // taken once decided (the eventless transitions of `deciding` come first)
      always: [
        { guard: 'executionRunning', target: 'running' },
        { guard: 'executionActive', target: 'dispatched' },
        { target: 'idle' },
      ],
    },

    dispatched: {
      description: 'executions sent, none accepted yet',
      entry: enter('dispatched'),
      on: {
        TICK: [
          { guard: 'slotDue', target: 'due', actions: 'expire' },
          { guard: 'nothingLeft', target: 'idle', actions: 'expire' },
          { actions: 'expire' },
        ],
        DISPATCH_ATTEMPT: { actions: 'attempt' },
        DISPATCH_ACCEPTED: { guard: 'dispatchedExecution', target: 'running', actions: 'accepted' },
        HEARTBEAT: { guard: 'dispatchedExecution', target: 'running', actions: 'heartbeat' },
        DISPATCH_FAILED: [
          { guard: 'nothingLeft', target: 'idle', actions: 'failed' },
          { actions: 'failed' },
        ],
        COMPLETED: [
          { guard: 'nothingLeft', target: 'idle', actions: 'completed' },
          { actions: 'completed' },
        ],
        RUN_NOW: { actions: 'runNow' },
        ...fromResting,
      },
    },

    running: {
      description: 'an execution was accepted and has not ended',
      entry: enter('running'),
      on: {
        TICK: [
          { guard: 'slotDue', target: 'due', actions: 'expire' },
          { guard: 'nothingLeft', target: 'idle', actions: 'expire' },
          { guard: 'onlyDispatchedLeft', target: 'dispatched', actions: 'expire' },
          { actions: 'expire' },
        ],
        COMPLETED: [
          { guard: 'nothingLeft', target: 'idle', actions: 'completed' },
          { guard: 'onlyDispatchedLeft', target: 'dispatched', actions: 'completed' },
          { actions: 'completed' },
        ],
        DISPATCH_ATTEMPT: { actions: 'attempt' },
        DISPATCH_ACCEPTED: { actions: 'accepted' },
        DISPATCH_FAILED: { actions: 'failed' },
        HEARTBEAT: { actions: 'heartbeat' },
        RUN_NOW: { actions: 'runNow' },
        ...fromResting,
      },
    },

    paused: {
      description: 'the schedule does not fire; active executions go on and their completions count',
      entry: enter('paused'),
      on: {
        RESUME: [
          { guard: { type: 'resumesTo', params: { state: 'idle' } }, target: 'idle', actions: 'resume' },
          { guard: { type: 'resumesTo', params: { state: 'dispatched' } }, target: 'dispatched', actions: 'resume' },
          { guard: { type: 'resumesTo', params: { state: 'running' } }, target: 'running', actions: 'resume' },
        ],
        UPDATE: [
          { guard: { type: 'resumesTo', params: { state: 'idle' } }, target: 'idle', actions: 'update' },
          { guard: { type: 'resumesTo', params: { state: 'dispatched' } }, target: 'dispatched', actions: 'update' },
          { guard: { type: 'resumesTo', params: { state: 'running' } }, target: 'running', actions: 'update' },
          { actions: 'update' },
        ],
        TICK: { actions: 'expire' },
        DISPATCH_ATTEMPT: { actions: 'attempt' },
        DISPATCH_ACCEPTED: { actions: 'accepted' },
        DISPATCH_FAILED: { actions: 'failed' },
        COMPLETED: { actions: 'completed' },
        HEARTBEAT: { actions: 'heartbeat' },
        RUN_NOW: { actions: 'runNow' },
        ...toDeleted,
      },
    },

    deleted: { type: 'final' },
  },
});

export type JobMachine = typeof jobMachine;
