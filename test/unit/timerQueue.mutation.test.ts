import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, type Clock } from '../../src/actors/clock.js';
import { TimerQueue } from '../../src/actors/timerQueue.js';

/**
 * TimerQueue against a reference model: whatever the order of wake-ups set, moved, cancelled and
 * of the clock's advances, every key wakes once, at its instant (or at once when that instant has
 * passed), never early, never twice, never after a cancel; and a stopped queue leaves no timer.
 */

/** A manual clock that counts the timers it has pending. */
class CountingClock implements Clock {
  readonly inner: ManualClock;
  private readonly live = new Set<unknown>();
  constructor(start: number) {
    this.inner = new ManualClock(start);
  }
  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const h: unknown = this.inner.setTimeout(() => {
      this.live.delete(h);
      fn();
    }, ms);
    this.live.add(h);
    return h;
  }
  clearTimeout(h: unknown): void {
    this.live.delete(h);
    this.inner.clearTimeout(h);
  }
  get pending(): number {
    return this.live.size;
  }
}

type Op =
  | { kind: 'set'; key: string; at: number | null }
  | { kind: 'advance'; ms: number }
  /** A key's wake-up moved 1,100 times (heartbeats): superseded entries make the heap rebuild itself. */
  | { kind: 'churn'; key: string; at: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), at: fc.option(fc.integer({ min: -50, max: 3_000 }), { nil: null, freq: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 2_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('churn' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), at: fc.integer({ min: 0, max: 3_000 }) }) },
);

/** Runs `ops` (set instants relative to the current time) on a queue and on the model; returns both wake lists. */
function play(ops: Op[]): { got: [string, number][]; want: [string, number][]; sizes: [number, number][] } {
  const clock = new ManualClock(10_000);
  const got: [string, number][] = [];
  const q = new TimerQueue(clock, (k) => got.push([k, clock.now()]));
  const wanted = new Map<string, { at: number; setAt: number }>();
  const want: [string, number][] = [];
  const sizes: [number, number][] = [];
  for (const o of [...ops, { kind: 'advance', ms: 10_000 } as const]) {
    if (o.kind === 'churn') {
      for (let i = 1_100; i >= 0; i--) q.set(o.key, clock.now() + o.at + i);
      wanted.set(o.key, { at: clock.now() + o.at, setAt: clock.now() });
    } else if (o.kind === 'set') {
      const at = o.at === null ? null : clock.now() + o.at;
      q.set(o.key, at);
      if (at === null) wanted.delete(o.key);
      else if (wanted.get(o.key)?.at !== at) wanted.set(o.key, { at, setAt: clock.now() });
    } else {
      const end = clock.now() + o.ms;
      const due = [...wanted].filter(([, w]) => w.at <= end);
      for (const [k, w] of due) {
        want.push([k, Math.max(w.at, w.setAt)]);
        wanted.delete(k);
      }
      clock.advance(o.ms);
    }
    sizes.push([q.size, wanted.size]);
  }
  const byTime = (x: [string, number], y: [string, number]) => x[1] - y[1] || x[0].localeCompare(y[0]);
  return { got: [...got].sort(byTime), want: want.sort(byTime), sizes };
}

describe('TimerQueue against a model', () => {
  it('wakes every key once, at its latest wake-up (or at once when it has passed), in time order', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const { got, want, sizes } = play(ops);
        expect(got).toEqual(want);
        for (const [q, m] of sizes) expect(q).toBe(m);
      }),
      { numRuns: 1_000 },
    );
  });

  it('an earlier wake-up set after a later one is not delayed by it', () => {
    expect(
      play([
        { kind: 'set', key: 'late', at: 2_000 },
        { kind: 'set', key: 'early', at: 100 },
        { kind: 'advance', ms: 150 },
      ]).got.slice(0, 1),
    ).toEqual([['early', 10_100]]);
  });

  it('a wake-up moved later wakes at the new instant only', () => {
    expect(
      play([
        { kind: 'set', key: 'k', at: 100 },
        { kind: 'set', key: 'k', at: 300 },
        { kind: 'advance', ms: 200 },
        { kind: 'advance', ms: 200 },
      ]).got,
    ).toEqual([['k', 10_300]]);
  });

  it('wake-ups set, moved and passed between advances each fire at their own instant', () => {
    // a sequence fast-check found: keys moved earlier and later around the times they come due
    const clock = new ManualClock(0);
    const woke: string[] = [];
    const q = new TimerQueue(clock, (k) => woke.push(`${k}@${clock.now()}`));
    q.set('c', 1_760);
    q.set('a', 2_143);
    q.set('f', 1_883);
    clock.advance(449);
    q.set('a', 449 + 588);
    clock.advance(1_072);
    q.set('a', 1_521 + 509);
    q.set('e', 1_521 + 288);
    clock.advance(10_000);
    expect(woke).toEqual(['a@1037', 'c@1760', 'e@1809', 'f@1883', 'a@2030']);
  });

  it('after the heap was rebuilt (a storm of heartbeats moving one deadline), wake-ups keep their order', () => {
    const clock = new ManualClock(0);
    const woke: string[] = [];
    const q = new TimerQueue(clock, (k) => woke.push(`${k}@${clock.now()}`));
    for (let i = 1_026; i >= 0; i--) q.set('storm', 100_000 + i);
    q.set('storm', null);
    q.set('a', 1);
    q.set('c', 2);
    q.set('d', 0);
    clock.advance(0);
    q.set('a', 3);
    clock.advance(10);
    expect(woke).toEqual(['d@0', 'c@2', 'a@3']);
  });

  it('keys set before the heap is compacted still wake after it', () => {
    const clock = new ManualClock(0);
    const woke: string[] = [];
    const q = new TimerQueue(clock, (k) => woke.push(k));
    for (let i = 0; i < 10; i++) q.set(`job${i}`, 5_000 + i);
    // one key moved 3,000 times: superseded entries pile up and the heap is rebuilt
    for (let i = 1; i <= 3_000; i++) q.set('busy', 1_000_000 + i);
    for (let i = 10; i < 20; i++) q.set(`job${i}`, 4_000 + i);
    clock.advance(2_000_000);
    expect(woke.slice(0, 20).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `job${i}`).sort());
    expect(woke.slice(20)).toEqual(['busy']);
    expect(woke.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `job${i + 10}`));
  });
});

describe('TimerQueue stop', () => {
  it('leaves no timer pending and wakes nothing afterwards, even for keys set after it', () => {
    const clock = new CountingClock(0);
    const woke: string[] = [];
    const q = new TimerQueue(clock, (k) => woke.push(k));
    q.set('a', 5_000);
    q.set('b', 100); // re-arms earlier
    expect(clock.pending).toBe(1);
    q.stop();
    expect(clock.pending).toBe(0);
    q.set('c', 10);
    expect(clock.pending).toBe(0);
    clock.inner.advance(10_000);
    expect(woke).toEqual([]);
  });

  it('keeps one timer pending however often wake-ups move', () => {
    const clock = new CountingClock(0);
    const q = new TimerQueue(clock, () => undefined);
    for (let i = 0; i < 50; i++) q.set(`k${i % 5}`, 10_000 - i * 100);
    expect(clock.pending).toBe(1);
    q.stop();
    expect(clock.pending).toBe(0);
  });
});
