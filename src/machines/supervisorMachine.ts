import { setup, stopChild, type AnyActorRef } from 'xstate';

/**
 * The XState parent of one orchestrator's job actors. Job actors are created with this actor as
 * their `parent` (so they share its actor system: one system per orchestrator instead of one per
 * job, ~1.8 KB less per job, and inspectors show them under their orchestrator), but they are not
 * in its snapshot's `children` (a snapshot with 100,000 children would be copied on every spawn).
 * It keeps no state; it only stops a job actor on request (a child cannot be stopped directly).
 * The done and error events XState relays from children are handled explicitly and do nothing:
 * the job actor in `src/actors` handles a fault itself. (Unhandled, a child's error event would
 * put this actor in error, and with no observer XState rethrows it: a crash of the process.)
 */
// Stryker disable next-line ObjectLiteral: type declarations only, no runtime effect
export const supervisorMachine = setup({
  // Stryker disable next-line ObjectLiteral: type declarations only, no runtime effect
  types: {
    events: {} as { type: 'JOB.STOP'; ref: AnyActorRef } | { type: `xstate.error.actor.${string}`; error: unknown } | { type: `xstate.done.actor.${string}` },
  },
}).createMachine({
  id: 'supervisor',
  on: {
    'JOB.STOP': { actions: stopChild(({ event }) => event.ref) },
    'xstate.error.actor.*': {},
    'xstate.done.actor.*': {},
  },
});

export type SupervisorMachine = typeof supervisorMachine;
