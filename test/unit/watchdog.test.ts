/**
 * The watchdog (src/runtime/watchdog.ts, SPEC §11) over many jobs: it looks at them a slice per
 * turn of the event loop, so commands and replies are not held up by a look at 100,000 jobs, and
 * still reports every stalled one once.
 */
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/core/record.js';
import { Watchdog, WATCHDOG_SLICE } from '../../src/runtime/watchdog.js';
import { record, T0 } from './machine-helpers.js';

const S = 1_000;

describe('Watchdog: a look at many jobs', () => {
  it('yields to the event loop between slices, reports every stalled job once, and one look at a time', async () => {
    const n = WATCHDOG_SLICE * 3 + 17;
    const base = record({ misfireGraceMs: 1_000 });
    // every other job stalled (its slot T0 + 10 s long past at T0 + 60 s); the others paused
    const records = Array.from({ length: n }, (_, i) => ({ ...base, jobId: `j${i}`, spec: { ...base.spec, jobId: `j${i}`, paused: i % 2 === 1 } }));
    const published: AuditEvent[][] = [];
    const w = new Watchdog({ records: () => records, now: () => T0 + 60 * S, publish: async (evs) => void published.push(evs), replicaId: () => 'r1' });
    let turns = 0;
    const tick = (): void => {
      turns++;
      if (turns < 1_000) setImmediate(tick);
    };
    setImmediate(tick);
    const first = w.scan();
    expect(w.scan()).toBe(first);
    await first;
    // other work ran between the slices (a look in one task would end before any turn)
    expect(turns).toBeGreaterThanOrEqual(3);
    turns = 1_000;
    const stalled = Math.ceil(n / 2);
    expect(w.overdue).toHaveLength(stalled);
    expect(published.flat()).toHaveLength(stalled);
    expect(new Set(published.flat().map((e) => e.jobId)).size).toBe(stalled);
    // a second look reports nothing new (once per stall)
    await w.scan();
    expect(published.flat()).toHaveLength(stalled);
  });
});
