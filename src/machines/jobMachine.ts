import { assign, enqueueActions, setup } from 'xstate';
import type { CompletionStatus, DispatchFailure, JobState } from '../contract/constants.js';
import type { JobRecord } from '../core/record.js';
import * as L from './jobLogic.js';

/**
 * Every event carries `now` (the injected clock) and `step` (the actor's step number, which
 * scopes the outbox). The machine has no I/O and is the only place that decides: what comes out
 * is data, carried out by the job actor in `src/actors`: the next record (`context`), the effects
 * in its `outbox` (audit events, dispatches), and, emitted for the step (`JobEmitted`), a
 * command's outcome and the dispatch retries with their due times.
 */
export type JobEvent = { now: number; step: number } & (
  /** The clock reached the job's wake-up time. `maxBuffered`: `SCHED_MAX_BUFFERED` (buffer_all). */
  | { type: 'TICK'; maxBuffered?: number }
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
  | ({ type: 'BACKFILL' } & L.BackfillRequest)
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

/** What an event does to the record in a resting state: the next record, a command's outcome, a retry. */
interface Reaction {
  record: JobRecord;
  outcome?: L.Outcome;
  retry?: L.DispatchRetry | null;
}

function reactTo(r: JobRecord, e: JobEvent): Reaction {
  switch (e.type) {
    case 'TICK':
      return { record: L.expireDeadlines(r, e.step, e.now) };
    case 'RUN_NOW':
      return L.runNow(r, e.step, e.now, e.inputs, e.ignoreOverlap);
    case 'DISPATCH_ATTEMPT':
      return { record: L.dispatchAttempt(r, e.step, e.now, e.executionId, e.attempt) };
    case 'DISPATCH_ACCEPTED':
      return { record: L.dispatchAccepted(r, e.step, e.now, e.executionId) };
    case 'DISPATCH_FAILED':
      return L.attemptFailed(r, e.step, e.now, e.executionId, e.reason, e.detail);
    case 'COMPLETED':
      return { record: L.completed(r, e.step, e.now, e) };
    case 'HEARTBEAT':
      return { record: L.heartbeat(r, e.step, e.now, e.executionId) };
    case 'PAUSE':
      return { record: L.pause(r, e.step, e.now, e.reason) };
    case 'RESUME':
      return { record: L.resume(r, e.step, e.now) };
    case 'UPDATE':
      return L.update(r, e.step, e.now, e);
    case 'BACKFILL':
      return L.backfill(r, e.step, e.now, e);
    case 'DELETE':
      return { record: L.deleted(r, e.step, e.now) };
  }
}

/**
 * The reaction to an event, computed once: the guards that choose where the event leads look at
 * the record it produces, and the action that then applies it reuses the same result.
 */
const reactions = new WeakMap<JobEvent, { from: JobRecord; reaction: Reaction }>();
function reaction(r: JobRecord, e: JobEvent): Reaction {
  const known = reactions.get(e);
  if (known?.from === r) return known.reaction;
  const computed = reactTo(r, e);
  reactions.set(e, { from: r, reaction: computed });
  return computed;
}

/** The state the record after the event calls for. */
const leadsTo = (r: JobRecord, e: JobEvent): JobState => L.derivedState(reaction(r, e).record);

/** Applies the event's reaction: the record, and what it emits (a command's outcome, a retry). */
function applyReaction(
  context: JobRecord,
  event: JobEvent,
  enqueue: { assign: (f: () => JobRecord) => void; emit: (e: JobEmitted) => void },
): void {
  const { record, outcome, retry } = reaction(context, event);
  enqueue.assign(() => record);
  if (outcome !== undefined) enqueue.emit({ type: 'outcome', step: event.step, outcome });
  if (retry) enqueue.emit({ type: 'retry', step: event.step, ...retry });
}

/** The overlap decision for the slot a TICK brings (with the server's buffer bound). */
const overlap = (r: JobRecord, e: JobEvent): L.OverlapDecision => L.overlapDecision(r, e.type === 'TICK' ? e.maxBuffered : undefined);

const enter = (state: JobState) => ({ type: 'enter', params: { state } }) as const;
const toDeleted = { DELETE: { target: 'deleted', actions: 'deleted' } } as const;
/** What every resting state (idle, dispatched, running) does on pause, update and delete. */
const fromResting = {
  PAUSE: { target: 'paused', actions: 'pause' },
  BACKFILL: { actions: 'backfill' },
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
    /** A slot is due (not paused, the slot's `firesAt` reached). */
    slotDue: ({ context, event }) => L.isSlotDue(context, event.now),
    /** due: the slots due are a misfire and the misfire policy is `skip_missed`. */
    skipMissed: ({ context, event }) => L.skipsMissedSlots(context, event.now),
    /** due: an execution is active and the overlap policy (`skip`, or a slot already waiting) skips the slot. */
    overlapSkip: ({ context, event }) => overlap(context, event) === 'skip',
    /** due: `buffer_all` and `SCHED_MAX_BUFFERED` slots already wait: the slot is skipped (`buffer_full`). */
    bufferFull: ({ context, event }) => overlap(context, event) === 'buffer_full',
    /** due: an execution is active and the slot waits (`buffer_one` with none waiting, `buffer_all`). */
    overlapBuffer: ({ context, event }) => overlap(context, event) === 'buffer',
    /** due: `cancel_other`: the active executions are asked to stop and the slot waits for them. */
    cancelOther: ({ context, event }) => overlap(context, event) === 'cancel',
    /** due: `terminate_other`: the active executions end as `terminated` and the slot fires. */
    terminateOther: ({ context, event }) => overlap(context, event) === 'terminate',
    /** due: an execution is active and the policy is `allow`: the slot is dispatched anyway. */
    allowOverlap: ({ context, event }) => context.active.length > 0 && overlap(context, event) === 'dispatch',
    /** due, once decided: an active execution is running / any execution is active. */
    executionRunning: ({ context }) => context.active.some((a) => a.state === 'running'),
    executionActive: ({ context }) => context.active.length > 0,
    /** The execution ended as a failure and `pauseOnFailure` pauses the job. */
    pausesOnFailure: ({ context, event }) => !context.spec.paused && reaction(context, event).record.spec.paused,
    /** Once the event is handled, nothing is active and no slot waits. */
    nothingLeft: ({ context, event }) => leadsTo(context, event) === 'idle',
    /** ... no execution runs, but a dispatched one is left, or a waiting slot (then dispatched). */
    onlyDispatchedLeft: ({ context, event }) => leadsTo(context, event) === 'dispatched',
    /** BACKFILL: its first execution is dispatched (not a dry run, not refused). */
    backfillDispatches: ({ context, event }) => leadsTo(context, event) === 'dispatched',
    /** DISPATCH_ACCEPTED, HEARTBEAT: the event's execution is active and waiting for its dispatch reply. */
    dispatchedExecution: ({ context, event }) => 'executionId' in event && L.isDispatched(context, event.executionId),
    /** UPDATE: the job is paused after it (it was not; a refused update changes nothing). */
    pausesJob: ({ context, event }) => !context.spec.paused && reaction(context, event).record.spec.paused,
    /** paused: RESUME, or an UPDATE that unpauses, leads to this state. */
    resumesTo: ({ context, event }, params: { state: JobState }) => leadsTo(context, event) === params.state,
  },
  actions: {
    enter: assign(({ context, event }, params: { state: JobState }) =>
      L.enterState(context, event.step, event.now, params.state, event.type),
    ),
    /** due: the slot (or the latest missed one) is dispatched; terminate_other ends the active ones first. */
    fire: assign(({ context, event }) => L.fireDue(context, event.step, event.now, overlap(context, event))),
    skipSlot: assign(({ context, event }) => L.fireDue(context, event.step, event.now, overlap(context, event))),
    bufferSlot: assign(({ context, event }) => L.fireDue(context, event.step, event.now, overlap(context, event))),
    requestCancel: assign(({ context, event }) => L.fireDue(context, event.step, event.now, overlap(context, event))),
    /** due: the missed slots are counted and audited, none fires. */
    countMissed: assign(({ context, event }) => L.fireDue(context, event.step, event.now)),
    // The reactions of the resting states, each named for the chart and computed once (`reaction`).
    expire: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    runNow: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    attempt: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    accepted: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    failed: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    completed: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    heartbeat: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    pause: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    resume: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    update: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    backfill: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
    deleted: enqueueActions(({ context, event, enqueue }) => applyReaction(context, event, enqueue)),
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
        BACKFILL: [{ guard: 'backfillDispatches', target: 'dispatched', actions: 'backfill' }, { actions: 'backfill' }],
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
            { guard: 'bufferFull', target: 'skipped', actions: 'skipSlot' },
            { guard: 'overlapBuffer', target: 'buffered', actions: 'bufferSlot' },
            { guard: 'cancelOther', target: 'cancelling', actions: 'requestCancel' },
            { guard: 'terminateOther', target: 'fired', actions: 'fire' },
            { guard: 'allowOverlap', target: 'fired', actions: 'fire' },
            { target: 'fired', actions: 'fire' },
          ],
        },
        missedSkipped: { description: 'a misfire under skip_missed: counted (misfire.skipped), nothing dispatched' },
        skipped: { description: 'the slot was skipped (trigger.skipped): overlap, or buffer_full' },
        buffered: { description: 'the slot waits for the active executions to end (trigger.buffered)' },
        cancelling: { description: 'cancel_other: the active executions were asked to stop; the slot waits for them' },
        fired: { description: 'the slot, or on a misfire under fire_once_on_recovery the latest missed one, was dispatched (terminate_other: after the active ones were terminated)' },
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
          { guard: 'pausesOnFailure', target: 'paused', actions: 'expire' },
          { guard: 'slotDue', target: 'due', actions: 'expire' },
          { guard: 'nothingLeft', target: 'idle', actions: 'expire' },
          { actions: 'expire' },
        ],
        DISPATCH_ATTEMPT: { actions: 'attempt' },
        DISPATCH_ACCEPTED: { guard: 'dispatchedExecution', target: 'running', actions: 'accepted' },
        HEARTBEAT: { guard: 'dispatchedExecution', target: 'running', actions: 'heartbeat' },
        DISPATCH_FAILED: [
          { guard: 'pausesOnFailure', target: 'paused', actions: 'failed' },
          { guard: 'nothingLeft', target: 'idle', actions: 'failed' },
          { actions: 'failed' },
        ],
        COMPLETED: [
          { guard: 'pausesOnFailure', target: 'paused', actions: 'completed' },
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
          { guard: 'pausesOnFailure', target: 'paused', actions: 'expire' },
          { guard: 'slotDue', target: 'due', actions: 'expire' },
          { guard: 'nothingLeft', target: 'idle', actions: 'expire' },
          { guard: 'onlyDispatchedLeft', target: 'dispatched', actions: 'expire' },
          { actions: 'expire' },
        ],
        COMPLETED: [
          { guard: 'pausesOnFailure', target: 'paused', actions: 'completed' },
          { guard: 'nothingLeft', target: 'idle', actions: 'completed' },
          { guard: 'onlyDispatchedLeft', target: 'dispatched', actions: 'completed' },
          { actions: 'completed' },
        ],
        DISPATCH_ATTEMPT: { actions: 'attempt' },
        DISPATCH_ACCEPTED: { actions: 'accepted' },
        DISPATCH_FAILED: [{ guard: 'pausesOnFailure', target: 'paused', actions: 'failed' }, { actions: 'failed' }],
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
        BACKFILL: { actions: 'backfill' },
        ...toDeleted,
      },
    },

    deleted: { type: 'final' },
  },
});

export type JobMachine = typeof jobMachine;
