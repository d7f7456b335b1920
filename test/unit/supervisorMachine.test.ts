import { createActor, type InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { jobMachine } from '../../src/machines/jobMachine.js';
import { supervisorMachine } from '../../src/machines/supervisorMachine.js';
import { record, T0 } from './machine-helpers.js';

/**
 * The orchestrator's supervisor actor is the XState parent of its job actors: they share its
 * actor system, are stopped through it, and a faulting job does not take it down.
 */
describe('supervisorMachine', () => {
  const start = (inspect?: (e: InspectionEvent) => void) => createActor(supervisorMachine, { id: 'supervisor:acme', ...(inspect && { inspect }) }).start();

  it('job actors share the supervisor system and are stopped through it', () => {
    const root = start();
    const a = createActor(jobMachine, { input: record({ jobId: 'a' }), id: 'acme.a', parent: root }).start();
    const b = createActor(jobMachine, { input: record({ jobId: 'b' }), id: 'acme.b', parent: root }).start();
    expect(a.system).toBe(root.system);
    expect(b.system).toBe(root.system);
    expect(a.getSnapshot().value).toBe('idle');
    // a child cannot be stopped directly; the supervisor stops it
    expect(() => a.stop()).toThrow(/non-root/);
    root.send({ type: 'JOB.STOP', ref: a });
    expect(a.getSnapshot().status).toBe('stopped');
    expect(b.getSnapshot().status).toBe('active');
    // the stopped actor takes no more events; the other one still does
    a.send({ type: 'TICK', now: T0 + 60_000, step: 1 });
    expect(a.getSnapshot().context.counters.dispatched).toBe(0);
    b.send({ type: 'TICK', now: T0 + 10_000, step: 1 });
    expect(b.getSnapshot().context.counters.dispatched).toBe(1);
    // not kept in the supervisor's snapshot (it would be copied on every spawn)
    expect(Object.keys(root.getSnapshot().children)).toEqual([]);
    root.stop();
  });

  it('a job actor that throws errors alone; the supervisor and its siblings go on', () => {
    const root = start();
    const faulty = jobMachine.provide({
      guards: {
        slotDue: () => {
          throw new Error('boom');
        },
      },
    });
    const bad = createActor(faulty, { input: record({ jobId: 'bad' }), id: 'acme.bad', parent: root });
    const errors: unknown[] = [];
    bad.subscribe({ error: (e) => errors.push(e) });
    bad.start();
    const good = createActor(jobMachine, { input: record({ jobId: 'good' }), id: 'acme.good', parent: root }).start();
    bad.send({ type: 'TICK', now: T0 + 10_000, step: 1 });
    expect(bad.getSnapshot().status).toBe('error');
    expect(errors).toHaveLength(1);
    expect(root.getSnapshot().status).toBe('active');
    // without an observer too (the job actor does not subscribe when it has a parent): nothing
    // is rethrown (vitest fails the run on an unhandled error)
    const silent = createActor(faulty, { input: record({ jobId: 'silent' }), id: 'acme.silent', parent: root }).start();
    silent.send({ type: 'TICK', now: T0 + 10_000, step: 1 });
    expect(silent.getSnapshot().status).toBe('error');
    expect(root.getSnapshot().status).toBe('active');
    good.send({ type: 'TICK', now: T0 + 10_000, step: 1 });
    expect(good.getSnapshot().context.counters.dispatched).toBe(1);
    root.stop();
  });

  it("the supervisor's inspector sees its job actors' transitions", () => {
    const seen: string[] = [];
    const root = start((e) => {
      if (e.type === '@xstate.snapshot') seen.push((e.actorRef as { id?: string }).id ?? '');
    });
    const a = createActor(jobMachine, { input: record({ jobId: 'a' }), id: 'acme.a', parent: root }).start();
    a.send({ type: 'TICK', now: T0 + 10_000, step: 1 });
    expect(seen).toContain('acme.a');
    // the supervisor itself is announced under its machine's name
    expect(root.getSnapshot().machine.id).toBe('supervisor');
    root.stop();
  });
});
