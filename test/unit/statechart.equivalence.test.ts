import { describe, expect, it } from 'vitest';
import { assertEvent, assign, createActor, setup, type AnyStateMachine } from 'xstate';
import type { JobState, OverlapPolicy } from '../../src/contract/constants.js';
import type { Patch } from '../../src/contract/schemas.js';
import type { AuditEvent, JobRecord } from '../../src/core/record.js';
import type { JobSpec } from '../../src/core/spec.js';
import * as L from '../../src/machines/jobLogic.js';
import { jobMachine, type JobEvent } from '../../src/machines/jobMachine.js';
import { LIMITS, record, T0 } from './machine-helpers.js';
import { prng } from '../../bench/lib/util.js'; // seeded (mulberry32): the same sequences on every run

/*
 * The statechart against the machine it replaced: the same records (trail, outbox, counters), the
 * same states, for random sequences of every event on jobs of every overlap and misfire policy.
 *
 * The reference model below is the job machine before it became a statechart (commit e5861c5):
 * every event handled at the root, then eventless `always` transitions to whatever
 * `derivedState(context)` says.
 */
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

export const legacyJobMachine = setup({
  types: {
    context: {} as JobRecord,
    input: {} as JobRecord,
    events: {} as JobEvent,
  },
  guards: {
    // a slot is due once the timeouts of this tick are applied (with pauseOnFailure they may pause the job)
    slotDue: ({ context, event }) => L.isSlotDue(event.type === 'TICK' ? L.expireDeadlines(context, event.step, event.now) : context, event.now),
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
      return L.runNow(context, event.step, event.now, event.inputs, event.ignoreOverlap).record;
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
      return L.attemptFailed(context, event.step, event.now, event.executionId, event.reason, event.detail).record;
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
      const d = L.decideUpdate(context, event.now, event);
      return d.kind === 'patch' ? L.applyUpdate(context, event.step, event.now, d.spec, d.changed, d.scheduleChanged) : context;
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



const S = 1000;
type Input = JobEvent extends infer E ? (E extends JobEvent ? Omit<E, 'now' | 'step'> : never) : never;

function randomJob(rnd: () => number): JobRecord {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const overlapPolicy = pick<OverlapPolicy>(['skip', 'buffer_one', 'allow', 'buffer_all', 'cancel_other', 'terminate_other']);
  return record({
    schedule: pick([
      { kind: 'interval' as const, every: 10 * S },
      { kind: 'interval' as const, every: S },
      { kind: 'cron' as const, expression: '*/15 * * * * *' },
      { kind: 'once' as const, at: T0 + 30 * S },
    ]),
    overlapPolicy,
    allowOverlap: overlapPolicy === 'allow',
    misfirePolicy: pick(['fire_once_on_recovery', 'skip_missed'] as const),
    misfireGraceMs: pick([0, 500, 5 * S, 60 * S]),
    maxRuntimeMs: pick([3 * S, 25 * S, 3_600 * S]),
    paused: rnd() < 0.15,
    // SPEC §10: the jitter (at most the shortest interval), a run limit, pause on failure
    jitterMs: pick([0, 0, 700]),
    maxRuns: pick([null, null, 3]),
    pauseOnFailure: rnd() < 0.3,
  });
}

function randomEvent(rnd: () => number, r: JobRecord): Input {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const ids = [...r.active.map((a) => a.executionId), ...r.recentDone.slice(-2), 'unknown'];
  const executionId = pick(ids);
  const x = rnd();
  if (x < 0.3) return { type: 'TICK' };
  if (x < 0.4) return { type: 'DISPATCH_ACCEPTED', executionId };
  if (x < 0.5) return { type: 'COMPLETED', executionId, status: pick(['succeeded', 'failed', 'cancelled'] as const) };
  if (x < 0.56) return { type: 'DISPATCH_FAILED', executionId, reason: pick(['no_responders', 'timeout', 'rejected'] as const) };
  if (x < 0.62) return { type: 'HEARTBEAT', executionId };
  if (x < 0.66) return { type: 'DISPATCH_ATTEMPT', executionId, attempt: 1 + Math.floor(rnd() * 3) };
  if (x < 0.72) return { type: 'RUN_NOW', ignoreOverlap: rnd() < 0.3 };
  if (x < 0.78) return { type: 'PAUSE', reason: pick([null, 'maintenance']) };
  if (x < 0.84) return { type: 'RESUME' };
  if (x < 0.995) {
    const spec: JobSpec = r.spec;
    const y = rnd();
    // mostly at the current revision, sometimes a stale one (refused: conflict)
    const expectedRevision = pick([undefined, undefined, r.revision, r.revision, r.revision - 1]);
    const u = (patch: Patch): Input => ({ type: 'UPDATE', patch, expectedRevision, limits: LIMITS });
    if (y < 0.35) return u({ paused: !spec.paused });
    if (y < 0.5) return u({ schedule: { kind: 'interval', every: 7 * S } });
    if (y < 0.6) return u({ overlapPolicy: pick<OverlapPolicy>(['skip', 'buffer_one', 'allow', 'buffer_all', 'cancel_other', 'terminate_other']) });
    if (y < 0.65) return u({ maxRuns: pick([null, 0, 2]) });
    if (y < 0.8) return u({ name: 'renamed', paused: rnd() < 0.5 });
    if (y < 0.9) return u({ paused: spec.paused }); // changes nothing
    return u({ schedule: { kind: 'interval', every: 10 } }); // invalid (below minIntervalMs): refused
  }
  return { type: 'DELETE' };
}

/** How far the clock moves before the next event: not at all, a little, a slot, a downtime. */
function randomDelay(rnd: () => number): number {
  const x = rnd();
  if (x < 0.25) return 0;
  if (x < 0.5) return Math.floor(rnd() * 2 * S);
  if (x < 0.9) return Math.floor(rnd() * 30 * S);
  return Math.floor(rnd() * 6 * 3_600 * S);
}

/** The state changes of a step (SPEC §7): `transition` events, and `data.transition` of lifecycle events. */
const transitions = (r: JobRecord, step: number): { data: Record<string, unknown> }[] =>
  r.outboxStep === step
    ? r.outbox.flatMap((e) => {
        if (e.kind !== 'event') return [];
        if (e.event.type === 'transition') return [{ data: e.event.data }];
        const t = e.event.data.transition as Record<string, unknown> | undefined;
        return t === undefined ? [] : [{ data: t }];
      })
    : [];

describe('the statechart behaves exactly as the machine it replaced', () => {
  const SEQUENCES = 300;
  const EVENTS = 60;

  it(`${SEQUENCES} random sequences of ${EVENTS} events: same state, same record (trail included) after every event`, () => {
    const seen = new Set<string>();
    for (let seq = 0; seq < SEQUENCES; seq++) {
      const rnd = prng(seq + 1);
      const start = randomJob(rnd);
      const actors = [legacyJobMachine as AnyStateMachine, jobMachine as AnyStateMachine].map((m) => createActor(m, { input: start }).start());
      const [legacy, chart] = actors as [ReturnType<typeof createActor<AnyStateMachine>>, ReturnType<typeof createActor<AnyStateMachine>>];
      let now = start.createdAt;
      for (let step = 1; step <= EVENTS; step++) {
        const before = chart.getSnapshot();
        if (before.status === 'done') break;
        now += randomDelay(rnd);
        const input = randomEvent(rnd, before.context as JobRecord);
        const event = { ...input, now, step } as JobEvent;
        legacy.send(event);
        chart.send(event);
        const [a, b] = [legacy.getSnapshot(), chart.getSnapshot()];
        const where = `sequence ${seq}, step ${step}: ${String(before.value)} --${input.type}-->`;
        expect(b.status, where).toBe(a.status);
        expect(b.value, where).toEqual(a.value);
        expect(b.context, where).toEqual(a.context);
        if (b.status === 'done') continue;
        const r = b.context as JobRecord;
        // the resting state is the record's, and what the record calls for
        expect(b.value, where).toBe(r.state);
        expect(r.state, where).toBe(L.derivedState(r));
        // each change of state is in the trail once, in order, from the state it left
        let from = String(before.value);
        for (const t of transitions(r, step)) {
          expect(t.data.from, where).toBe(from);
          from = String(t.data.to);
        }
        expect(from, where).toBe(r.state);
        seen.add(`${String(before.value)} ${input.type} ${String(b.value)}`);
        for (const e of r.outboxStep === step ? r.outbox : []) if (e.kind === 'event') seen.add(e.event.type);
        // a job restored from this record lands in its state, with nothing to add to the trail
        if (step % 7 === 0) {
          const restored = createActor(jobMachine, { input: r }).start();
          expect(restored.getSnapshot().value, where).toBe(r.state);
          expect(restored.getSnapshot().context, where).toEqual(r);
          restored.stop();
        }
      }
      for (const x of actors) x.stop();
    }
    // the sequences cover every edge of the chart that an event can take
    const edges = [
      'idle TICK dispatched', 'idle TICK idle', 'idle RUN_NOW dispatched', 'idle PAUSE paused', 'idle UPDATE paused',
      'dispatched TICK idle', 'dispatched TICK dispatched', 'dispatched DISPATCH_ACCEPTED running',
      'dispatched HEARTBEAT running', 'dispatched DISPATCH_FAILED idle', 'dispatched DISPATCH_FAILED dispatched', 'dispatched COMPLETED idle',
      'dispatched COMPLETED dispatched', 'dispatched PAUSE paused', 'dispatched UPDATE paused',
      'running TICK running', 'running TICK dispatched', 'running TICK idle', 'running COMPLETED running', 'running COMPLETED dispatched',
      'running COMPLETED idle', 'running PAUSE paused', 'running UPDATE paused',
      'paused RESUME idle', 'paused RESUME dispatched', 'paused RESUME running', 'paused UPDATE idle', 'paused UPDATE dispatched',
      'paused UPDATE running', 'paused UPDATE paused', 'paused TICK paused', 'paused COMPLETED paused', 'paused RUN_NOW paused',
    ];
    // and every decision of `due`, timeouts, rejected completions
    const decisions = ['misfire.skipped', 'misfire.fired_once', 'trigger.skipped', 'trigger.buffered', 'trigger.dispatched', 'execution.timed_out', 'execution.completion_rejected'];
    expect([...edges, ...decisions].filter((e) => !seen.has(e))).toEqual([]);
  }, 120_000); // 18,000 steps of two machines: seconds, longer on a loaded machine
});
