/**
 * `tsx bench/repro/machine-cost.ts`: CPU per trigger of the job machine alone (no I/O): one XState
 * actor driven through TICK (idle → due → dispatched), DISPATCH_ACCEPTED (running) and COMPLETED
 * (idle) per slot, against the pure logic (jobLogic) the machine's actions call for the same slots.
 */
import { createActor } from 'xstate';
import { normalizeSpec } from '../../src/core/spec.js';
import * as L from '../../src/machines/jobLogic.js';
import { jobMachine, type JobEvent } from '../../src/machines/jobMachine.js';
import { slotExecutionId } from '../../src/contract/ids.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const EVERY = 10_000;
const spec = normalizeSpec(
  { schedule: { kind: 'interval', every: EVERY }, target: { type: 'workflow_start', workflowId: 'wf', inputs: { a: 1 } } },
  'job1',
  { minIntervalMs: 1000, maxInputBytes: 256 * 1024 },
  T0,
);
const N = Number(process.argv[2] ?? 50_000);

function viaMachine(): number {
  const a = createActor(jobMachine, { input: L.newRecord({ orchestratorId: 'acme', spec, incarnation: 'inc1', now: T0, step: 0 }) }).start();
  let step = 1;
  const t0 = performance.now();
  for (let k = 1; k <= N; k++) {
    const at = T0 + k * EVERY;
    a.send({ type: 'TICK', now: at, step: step++ } as JobEvent);
    const id = slotExecutionId('inc1', at);
    a.send({ type: 'DISPATCH_ACCEPTED', executionId: id, now: at + 1, step: step++ } as JobEvent);
    a.send({ type: 'COMPLETED', executionId: id, status: 'succeeded', now: at + 2, step: step++ } as JobEvent);
  }
  const ms = performance.now() - t0;
  if (a.getSnapshot().context.counters.succeeded !== N) throw new Error(`machine: ${a.getSnapshot().context.counters.succeeded} succeeded`);
  return (ms * 1000) / N;
}

for (let i = 0; i < 3; i++) {
  const us = viaMachine();
  console.log(`machine: ${us.toFixed(1)} µs per trigger (3 events), ${N} triggers`);
}
