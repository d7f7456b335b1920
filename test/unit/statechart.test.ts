import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { and, createActor, createMachine, not, or, type InspectionEvent } from 'xstate';
import { slotExecutionId } from '../../src/contract/ids.js';
import type { AuditEvent, JobRecord } from '../../src/core/record.js';
import { toMermaid } from '../../src/cli/mermaid.js';
import { jobMachine } from '../../src/machines/jobMachine.js';
import { Driver, LIMITS, record, T0, types, stateChanges } from './machine-helpers.js';

/*
 * The job machine as a statechart: for each state, the events it handles and where they go
 * (driven with explicit instants), restoring from a record, and the shape of the definition.
 */

const S = 1000;
const slot = (k: number): string => slotExecutionId('inc1', T0 + k * 10 * S);

/** The state changes of a step (`transition` events and `data.transition`), as `from>to`, each step through `due` apart. */
const trail = (events: AuditEvent[]): string[] => stateChanges(events).map((t) => `${t.from}>${t.to}`);

/** Every state change names the event that caused it. */
const causes = (events: AuditEvent[]): string[] => [...new Set(stateChanges(events).map((t) => t.event))];

type Body = Parameters<typeof record>[0];

/** Jobs in each resting state (interval 10 s, first slot at T0+10s). */
const inIdle = (body: Body = {}): Driver => new Driver(record(body));
function inDispatched(body: Body = {}): Driver {
  const d = inIdle(body);
  d.tick(T0 + 10 * S);
  expect(d.state).toBe('dispatched');
  return d;
}
function inRunning(body: Body = {}): Driver {
  const d = inDispatched(body);
  d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) });
  expect(d.state).toBe('running');
  return d;
}
function inPaused(d: Driver = inIdle()): Driver {
  d.send({ type: 'PAUSE', reason: null });
  expect(d.state).toBe('paused');
  return d;
}

/** Sends an event the state does not handle: nothing changes, not even the record object. */
function ignored(d: Driver, e: Parameters<Driver['send']>[0]): void {
  const before = d.actor.getSnapshot();
  expect(d.send(e)).toEqual([]);
  expect(d.actor.getSnapshot()).toBe(before);
}

describe('idle: nothing active', () => {
  it('TICK [slotDue] enters due and leaves it for dispatched (the slot is sent)', () => {
    const d = inIdle();
    expect(d.tick(T0 + 5 * S)).toEqual([]);
    const ev = d.tick(T0 + 10 * S);
    expect(trail(ev)).toEqual(['idle>due', 'due>dispatched']);
    expect(causes(ev)).toEqual(['TICK']);
    expect(d.dispatchesOfLastStep()).toEqual([slot(1)]);
  });

  it('RUN_NOW goes to dispatched; PAUSE and UPDATE [pausesJob] go to paused; other updates stay', () => {
    const a = inIdle();
    expect(trail(a.send({ type: 'RUN_NOW', ignoreOverlap: false }))).toEqual(['idle>dispatched']);
    const b = inIdle();
    expect(types(b.send({ type: 'PAUSE', reason: 'x' }))).toEqual(['job.paused', 'transition']);
    expect(b.state).toBe('paused');
    const c = inIdle();
    expect(types(c.send({ type: 'UPDATE', patch: { name: 'n' }, limits: LIMITS }))).toEqual(['job.updated']);
    expect(c.state).toBe('idle');
    expect(trail(c.send({ type: 'UPDATE', patch: { paused: true }, limits: LIMITS }))).toEqual(['idle>paused']);
  });

  it('COMPLETED is rejected and stays; DELETE ends the machine; the rest is not handled', () => {
    const d = inIdle();
    expect(types(d.send({ type: 'COMPLETED', executionId: 'x', status: 'succeeded' }))).toEqual(['execution.completion_rejected']);
    expect(d.state).toBe('idle');
    ignored(d, { type: 'RESUME' });
    ignored(d, { type: 'HEARTBEAT', executionId: 'x' });
    ignored(d, { type: 'DISPATCH_ACCEPTED', executionId: 'x' });
    ignored(d, { type: 'DISPATCH_FAILED', executionId: 'x', reason: 'timeout' });
    ignored(d, { type: 'DISPATCH_ATTEMPT', executionId: 'x', attempt: 2 });
    expect(types(d.send({ type: 'DELETE' }))).toEqual(['job.deleted']);
    expect(d.actor.getSnapshot().status).toBe('done');
  });
});

describe('due: transient, the misfire and overlap policies', () => {
  it('nothing active: the slot fires (trigger schedule)', () => {
    const d = inIdle();
    const ev = d.tick(T0 + 10 * S);
    expect(types(ev)).toEqual(['trigger.dispatched', 'transition']);
    expect(ev[0]!.data).toMatchObject({ trigger: 'schedule' });
  });

  it('[skipMissed]: a misfire under skip_missed counts the slots, dispatches none, back to idle', () => {
    const d = inIdle({ misfirePolicy: 'skip_missed' });
    const ev = d.tick(T0 + 600 * S);
    expect(types(ev)).toEqual(['misfire.skipped', 'transition']);
    expect(trail(ev)).toEqual(['idle>due', 'due>idle']);
  });

  it('a misfire under fire_once_on_recovery fires the latest missed slot through the overlap policy', () => {
    const d = inIdle();
    const ev = d.tick(T0 + 600 * S + 1);
    expect(types(ev)).toEqual(['misfire.fired_once', 'trigger.dispatched', 'transition']);
    expect(ev[1]).toMatchObject({ executionId: slot(60), data: { trigger: 'misfire_recovery' } });
    const late = d.tick(T0 + 1_200 * S + 1);
    expect(types(late)).toEqual(['misfire.fired_once', 'trigger.skipped', 'transition']);
    expect(trail(late)).toEqual(['dispatched>due', 'due>dispatched']);
  });

  it('[overlapSkip] back to running; [overlapBuffer] back to dispatched; [allowOverlap] dispatches beside the running one', () => {
    const skip = inRunning({ overlapPolicy: 'skip' });
    const s = skip.tick(T0 + 20 * S);
    expect(types(s)).toEqual(['trigger.skipped', 'transition']);
    expect(trail(s)).toEqual(['running>due', 'due>running']);

    const buffer = inDispatched({ overlapPolicy: 'buffer_one' });
    const b = buffer.tick(T0 + 20 * S);
    expect(types(b)).toEqual(['trigger.buffered', 'transition']);
    expect(trail(b)).toEqual(['dispatched>due', 'due>dispatched']);

    const allow = inRunning({ allowOverlap: true });
    const a = allow.tick(T0 + 20 * S);
    expect(types(a)).toEqual(['trigger.dispatched', 'transition']);
    expect(trail(a)).toEqual(['running>due', 'due>running']);
    expect(allow.ctx.active.map((x) => x.state)).toEqual(['running', 'dispatched']);
  });

  it('a timeout in the same TICK is applied first: the slot then fires (due left for dispatched)', () => {
    const d = inRunning({ maxRuntimeMs: 10 * S });
    const ev = d.tick(T0 + 20 * S);
    expect(types(ev)).toEqual(['execution.timed_out', 'trigger.dispatched', 'transition']);
    expect(trail(ev)).toEqual(['running>due', 'due>dispatched']);
  });
});

describe('dispatched: sent, no reply yet', () => {
  it('DISPATCH_ACCEPTED and HEARTBEAT [dispatchedExecution] go to running; for another execution they are not handled', () => {
    const a = inDispatched();
    ignored(a, { type: 'DISPATCH_ACCEPTED', executionId: 'other' });
    expect(types(a.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) }))).toEqual(['execution.started', 'transition']);
    expect(a.state).toBe('running');
    const h = inDispatched();
    ignored(h, { type: 'HEARTBEAT', executionId: 'other' });
    expect(trail(h.send({ type: 'HEARTBEAT', executionId: slot(1) }))).toEqual(['dispatched>running']);
  });

  it('DISPATCH_FAILED and COMPLETED [nothingLeft] go to idle; with another dispatched execution they stay', () => {
    const f = inDispatched();
    expect(trail(f.send({ type: 'DISPATCH_FAILED', executionId: slot(1), reason: 'rejected' }))).toEqual(['dispatched>idle']);
    const c = inDispatched();
    expect(types(c.send({ type: 'COMPLETED', executionId: slot(1), status: 'failed' }))).toEqual(['execution.started', 'execution.completed', 'transition']);
    expect(c.state).toBe('idle');
    const two = inDispatched();
    two.send({ type: 'RUN_NOW', ignoreOverlap: true });
    expect(types(two.send({ type: 'DISPATCH_FAILED', executionId: slot(1), reason: 'rejected' }))).toEqual(['trigger.failed']);
    expect(two.state).toBe('dispatched');
    expect(types(two.send({ type: 'COMPLETED', executionId: 'unknown', status: 'succeeded' }))).toEqual(['execution.completion_rejected']);
    expect(two.state).toBe('dispatched');
  });

  it('the buffered slot is dispatched when the last execution ends: stays dispatched', () => {
    const d = inDispatched({ overlapPolicy: 'buffer_one', dispatchRetry: { attempts: 1 } });
    d.tick(T0 + 20 * S);
    const ev = d.send({ type: 'DISPATCH_FAILED', executionId: slot(1), reason: 'no_responders' });
    expect(types(ev)).toEqual(['trigger.failed', 'trigger.dispatched']);
    expect(d.dispatchesOfLastStep()).toEqual([slot(2)]);
    expect(d.state).toBe('dispatched');
  });

  it('TICK [nothingLeft] at the deadline goes to idle; before it, it stays; [slotDue] enters due', () => {
    const d = inDispatched({ maxRuntimeMs: 5 * S });
    expect(d.tick(T0 + 14 * S)).toEqual([]);
    const ev = d.tick(T0 + 15 * S);
    expect(types(ev)).toEqual(['execution.timed_out', 'transition']);
    expect(trail(ev)).toEqual(['dispatched>idle']);
    const due = inDispatched();
    expect(trail(due.tick(T0 + 20 * S))).toEqual(['dispatched>due', 'due>dispatched']);
  });

  it('DISPATCH_ATTEMPT and RUN_NOW stay; PAUSE and UPDATE [pausesJob] go to paused', () => {
    const d = inDispatched();
    expect(types(d.send({ type: 'DISPATCH_ATTEMPT', executionId: slot(1), attempt: 2 }))).toEqual(['trigger.dispatched']);
    expect(d.send({ type: 'RUN_NOW', ignoreOverlap: false })).toEqual([]);
    expect(types(d.send({ type: 'RUN_NOW', ignoreOverlap: true }))).toEqual(['trigger.dispatched']);
    expect(d.state).toBe('dispatched');
    expect(trail(d.send({ type: 'PAUSE', reason: null }))).toEqual(['dispatched>paused']);
    const u = inDispatched();
    expect(trail(u.send({ type: 'UPDATE', patch: { paused: true }, limits: LIMITS }))).toEqual(['dispatched>paused']);
    ignored(u, { type: 'PAUSE', reason: null });
  });
});

describe('running: an execution was accepted', () => {
  it('COMPLETED [nothingLeft] goes to idle', () => {
    const d = inRunning();
    expect(types(d.send({ type: 'COMPLETED', executionId: slot(1), status: 'succeeded' }))).toEqual(['execution.completed', 'transition']);
    expect(d.state).toBe('idle');
  });

  it('COMPLETED stays running while another execution runs (allow)', () => {
    const d = inRunning({ allowOverlap: true });
    d.tick(T0 + 20 * S);
    d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(2) });
    expect(types(d.send({ type: 'COMPLETED', executionId: slot(1), status: 'succeeded' }))).toEqual(['execution.completed']);
    expect(d.state).toBe('running');
    expect(types(d.send({ type: 'COMPLETED', executionId: 'unknown', status: 'succeeded' }))).toEqual(['execution.completion_rejected']);
    expect(d.state).toBe('running');
  });

  it('COMPLETED [onlyDispatchedLeft] goes to dispatched: a dispatched one is left, or the buffered slot is dispatched', () => {
    const allow = inRunning({ allowOverlap: true });
    allow.tick(T0 + 20 * S);
    expect(trail(allow.send({ type: 'COMPLETED', executionId: slot(1), status: 'succeeded' }))).toEqual(['running>dispatched']);
    const buffer = inRunning({ overlapPolicy: 'buffer_one' });
    buffer.tick(T0 + 20 * S);
    const ev = buffer.send({ type: 'COMPLETED', executionId: slot(1), status: 'succeeded' });
    expect(types(ev)).toEqual(['execution.completed', 'trigger.dispatched', 'transition']);
    expect(trail(ev)).toEqual(['running>dispatched']);
    expect(buffer.dispatchesOfLastStep()).toEqual([slot(2)]);
  });

  it('TICK at the deadline: [nothingLeft] idle, [onlyDispatchedLeft] dispatched; a heartbeat pushes the deadline', () => {
    const d = inRunning({ maxRuntimeMs: 5 * S });
    d.send({ type: 'HEARTBEAT', executionId: slot(1) }, T0 + 12 * S);
    expect(d.tick(T0 + 15 * S)).toEqual([]);
    expect(trail(d.tick(T0 + 17 * S))).toEqual(['running>idle']);
    const two = inRunning({ maxRuntimeMs: 5 * S });
    two.send({ type: 'RUN_NOW', ignoreOverlap: true }, T0 + 12 * S);
    const ev = two.tick(T0 + 15 * S);
    expect(types(ev)).toEqual(['execution.timed_out', 'transition']);
    expect(trail(ev)).toEqual(['running>dispatched']);
  });

  it('dispatch results, attempts, heartbeats and RUN_NOW stay; PAUSE goes to paused', () => {
    const d = inRunning();
    expect(d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) })).toEqual([]);
    expect(d.send({ type: 'DISPATCH_FAILED', executionId: slot(1), reason: 'timeout' })).toEqual([]);
    expect(d.send({ type: 'DISPATCH_ATTEMPT', executionId: slot(1), attempt: 2 })).toEqual([]);
    expect(d.send({ type: 'HEARTBEAT', executionId: slot(1) })).toEqual([]);
    expect(d.send({ type: 'RUN_NOW', ignoreOverlap: false })).toEqual([]);
    expect(d.state).toBe('running');
    ignored(d, { type: 'RESUME' });
    expect(trail(d.send({ type: 'PAUSE', reason: null }))).toEqual(['running>paused']);
  });
});

describe('paused: the schedule does not fire', () => {
  it('RESUME goes to the state the record calls for: idle, dispatched, running', () => {
    expect(trail(inPaused(inIdle()).send({ type: 'RESUME' }))).toEqual(['paused>idle']);
    expect(trail(inPaused(inDispatched()).send({ type: 'RESUME' }))).toEqual(['paused>dispatched']);
    expect(trail(inPaused(inRunning()).send({ type: 'RESUME' }))).toEqual(['paused>running']);
  });

  it('RESUME dispatches a slot buffered while paused and goes to dispatched', () => {
    const d = inRunning({ overlapPolicy: 'buffer_one' });
    d.tick(T0 + 20 * S);
    inPaused(d);
    d.send({ type: 'COMPLETED', executionId: slot(1), status: 'succeeded' });
    expect(d.state).toBe('paused');
    expect(d.ctx.buffered).toEqual([T0 + 20 * S]);
    const ev = d.send({ type: 'RESUME' }, T0 + 25 * S);
    expect(types(ev)).toEqual(['job.resumed', 'trigger.dispatched', 'transition']);
    expect(trail(ev)).toEqual(['paused>dispatched']);
  });

  it('UPDATE that unpauses goes where RESUME would; any other update stays paused', () => {
    const d = inPaused(inRunning());
    expect(trail(d.send({ type: 'UPDATE', patch: { name: 'n' }, limits: LIMITS }))).toEqual([]);
    expect(d.state).toBe('paused');
    expect(d.send({ type: 'UPDATE', patch: { paused: true }, limits: LIMITS })).toEqual([]);
    expect(trail(d.send({ type: 'UPDATE', patch: { paused: false }, limits: LIMITS }))).toEqual(['paused>running']);
    const i = inPaused(inIdle());
    expect(trail(i.send({ type: 'UPDATE', patch: { paused: false }, limits: LIMITS }))).toEqual(['paused>idle']);
  });

  it('TICK, completions, dispatch results and RUN_NOW are handled and stay paused; PAUSE is not handled', () => {
    const d = inPaused(inDispatched({ maxRuntimeMs: 60 * S }));
    expect(d.tick(T0 + 50 * S)).toEqual([]);
    expect(d.send({ type: 'DISPATCH_ACCEPTED', executionId: slot(1) })).toHaveLength(1);
    expect(d.send({ type: 'DISPATCH_ATTEMPT', executionId: slot(1), attempt: 2 })).toEqual([]);
    expect(d.send({ type: 'HEARTBEAT', executionId: slot(1) })).toEqual([]);
    expect(types(d.send({ type: 'COMPLETED', executionId: slot(1), status: 'succeeded' }))).toEqual(['execution.completed']);
    expect(types(d.send({ type: 'RUN_NOW', ignoreOverlap: false }))).toEqual(['trigger.dispatched']);
    expect(types(d.tick(T0 + 200 * S))).toEqual(['execution.timed_out']);
    expect(types(d.send({ type: 'RUN_NOW', ignoreOverlap: false }))).toEqual(['trigger.dispatched']);
    expect(types(d.send({ type: 'DISPATCH_FAILED', executionId: d.ctx.active[0]!.executionId, reason: 'rejected' }))).toEqual(['trigger.failed']);
    expect(d.state).toBe('paused');
    ignored(d, { type: 'PAUSE', reason: null });
    expect(types(d.send({ type: 'DELETE' }))).toEqual(['job.deleted']);
    expect(d.actor.getSnapshot().status).toBe('done');
  });
});

describe('boot: restoring a job from its record', () => {
  const restore = (r: JobRecord) => {
    const steps: string[] = [];
    const inspect = (e: InspectionEvent): void => {
      if (e.type !== '@xstate.microstep') return;
      const ts = (e as unknown as { _transitions: { source: { key: string }; target?: { key: string }[] }[] })._transitions;
      for (const t of ts) steps.push(`${t.source.key}>${(t.target ?? []).map((x) => x.key).join(',')}`);
    };
    const actor = createActor(jobMachine, { input: r, inspect }).start();
    return { actor, steps };
  };

  const records: [string, () => JobRecord][] = [
    ['idle', () => inIdle().ctx],
    ['dispatched', () => inDispatched().ctx],
    ['running', () => inRunning().ctx],
    ['running', () => {
      const d = inRunning({ allowOverlap: true });
      d.tick(T0 + 20 * S);
      return d.ctx;
    }],
    ['paused', () => inPaused(inIdle()).ctx],
    ['paused', () => inPaused(inRunning()).ctx],
    ['paused', () => record({ paused: true })],
  ];

  it.each(records)('a record in %s lands there in one step, with no event and the record unchanged', (state, make) => {
    const r = make();
    expect(r.state).toBe(state);
    const { actor, steps } = restore(r);
    expect(actor.getSnapshot().value).toBe(state);
    expect(steps).toEqual([`boot>${state}`]);
    expect(actor.getSnapshot().context).toEqual(r);
    actor.stop();
  });

  it('a restored job goes on from its state: a completion of the restored running job goes to idle', () => {
    const { actor } = restore(inRunning().ctx);
    actor.send({ type: 'COMPLETED', executionId: slot(1), status: 'succeeded', now: T0 + 12 * S, step: 9 });
    expect(actor.getSnapshot().value).toBe('idle');
    const events = actor.getSnapshot().context.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : []));
    expect(trail(events)).toEqual(['running>idle']);
  });
});

interface ConfigNode {
  always?: unknown;
  on?: Record<string, unknown>;
  states?: Record<string, ConfigNode>;
}

/** Every state of the definition with its path, from the machine's config. */
function walk(node: ConfigNode, path: string[] = []): [string, ConfigNode][] {
  const children = Object.entries(node.states ?? {});
  return [[path.join('.'), node], ...children.flatMap(([k, c]) => walk(c, [...path, k]))];
}

/** Every guard of the definition, in order. */
function guardsOf(node: ConfigNode): unknown[] {
  const lists = [...Object.values(node.on ?? {}), node.always].flatMap((t) => (t === undefined ? [] : Array.isArray(t) ? t : [t]));
  return lists.flatMap((t) => (t && typeof t === 'object' && 'guard' in t ? [(t as { guard: unknown }).guard] : []));
}

describe('the definition', () => {
  const states = walk(jobMachine.config as ConfigNode);
  const TRANSIENT = ['boot', 'due', 'due.deciding'];

  it('has eventless transitions only in the transient states (boot, due and its decision)', () => {
    const withAlways = states.filter(([, n]) => n.always !== undefined).map(([p]) => p);
    expect(withAlways).toEqual(TRANSIENT);
    // and no transient state handles an event (none is ever handled there)
    const transientWithEvents = states.filter(([p, n]) => (p === 'boot' || p.startsWith('due')) && n.on !== undefined).map(([p]) => p);
    expect(transientWithEvents).toEqual([]);
    // the root handles nothing: each state owns its events
    expect(jobMachine.config.on).toBeUndefined();
  });

  it('each resting state lists the events it handles', () => {
    const handled = (p: string) => Object.keys(states.find(([q]) => q === p)![1].on ?? {}).sort();
    expect(handled('idle')).toEqual(['BACKFILL', 'COMPLETED', 'DELETE', 'PAUSE', 'RUN_NOW', 'TICK', 'UPDATE']);
    expect(handled('dispatched')).toEqual(['BACKFILL', 'COMPLETED', 'DELETE', 'DISPATCH_ACCEPTED', 'DISPATCH_ATTEMPT', 'DISPATCH_FAILED', 'HEARTBEAT', 'PAUSE', 'RUN_NOW', 'TICK', 'UPDATE']);
    expect(handled('running')).toEqual(['BACKFILL', 'COMPLETED', 'DELETE', 'DISPATCH_ACCEPTED', 'DISPATCH_ATTEMPT', 'DISPATCH_FAILED', 'HEARTBEAT', 'PAUSE', 'RUN_NOW', 'TICK', 'UPDATE']);
    expect(handled('paused')).toEqual(['BACKFILL', 'COMPLETED', 'DELETE', 'DISPATCH_ACCEPTED', 'DISPATCH_ATTEMPT', 'DISPATCH_FAILED', 'HEARTBEAT', 'RESUME', 'RUN_NOW', 'TICK', 'UPDATE']);
  });

  it('names every guard (inspectors show names, not code)', () => {
    const guards = states.flatMap(([, n]) => guardsOf(n));
    expect(guards.length).toBeGreaterThan(20);
    for (const g of guards) expect(typeof g === 'string' || (typeof g === 'object' && g !== null && typeof (g as { type: unknown }).type === 'string')).toBe(true);
  });
});

describe('the chart (schedctl machine --mermaid)', () => {
  const chart = toMermaid(jobMachine);

  it('draws event-labelled edges with guard names, pause and resume as changes of state, transient states marked', () => {
    const lines = chart.split('\n').map((l) => l.trim());
    for (const l of [
      '[*] --> boot',
      'state "boot (transient)" as boot',
      'state "due (transient)" as due {',
      'boot --> running : always [restoredAs(running)]',
      'idle --> due : TICK [slotDue]',
      'due__deciding --> due__skipped : always [overlapSkip]',
      'due --> idle : always [else]',
      'idle --> paused : PAUSE',
      'running --> paused : PAUSE',
      'paused --> idle : RESUME [resumesTo(idle)]',
      'running --> dispatched : COMPLETED [onlyDispatchedLeft]',
      'running --> paused : COMPLETED [pausesOnFailure]',
      'idle --> dispatched : BACKFILL [backfillDispatches]',
      'due__deciding --> due__cancelling : always [cancelOther]',
      'due__deciding --> due__skipped : always [bufferFull]',
      'running --> deleted : DELETE',
      'class boot,due__deciding transient',
    ]) {
      expect(lines).toContain(l);
    }
    // no eventless edge out of a resting state, no complete graph of `always` edges
    expect(lines.filter((l) => /^(idle|dispatched|running|paused) --> .* : always/.test(l))).toEqual([]);
    expect(lines.filter((l) => l.includes(': always')).length).toBe(15);
  });

  it('draws guard combinators, fallbacks, parent transitions from each resting leaf, and actions-only transitions inside the state', () => {
    const m = createMachine({
      id: 'm',
      initial: 'a',
      on: { STOP: '.done' },
      states: {
        a: {
          on: {
            GO: [
              { guard: and(['x', not(or(['y', 'z']))]), target: 'b' },
              { guard: { type: 'p', params: { n: 1 } } },
              { target: 'c' },
            ],
          },
        },
        b: { always: 'c' },
        c: { on: { PING: {} } },
        done: { type: 'final' },
      },
    });
    const lines = toMermaid(m).split('\n').map((l) => l.trim());
    expect(lines).toContain('a --> b : GO [x && !(y || z)]');
    expect(lines).toContain('a --> c : GO [else]');
    expect(lines).toContain('a : stays on GO [p(1)]');
    expect(lines).toContain('c : stays on PING');
    expect(lines).toContain('state "b (transient)" as b');
    expect(lines).toContain('b --> c : always');
    // STOP from the resting leaves, not from the transient one nor the final one
    expect(lines.filter((l) => l.endsWith(': STOP'))).toEqual(['a --> done : STOP', 'c --> done : STOP']);
  });

  it('marks a current state', () => {
    const marked = toMermaid(jobMachine, { current: 'running', currentNote: 'job a: here' });
    expect(marked).toMatch(/^ {2}class running current$/m);
    expect(marked).toMatch(/^ {2}note right of running : job a  here$/m);
  });

  it('is the chart in the README, and docs/statechart.md has a line per state', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`\`\`\`mermaid\n${chart}\n\`\`\``);
    const doc = readFileSync(new URL('../../docs/statechart.md', import.meta.url), 'utf8');
    // one line per state
    for (const s of ['boot', 'idle', 'due', 'dispatched', 'running', 'paused', 'deleted']) expect(doc).toMatch(new RegExp(`^- \`${s}\``, 'm'));
  });
});
