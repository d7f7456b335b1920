import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/actors/clock.js';
import { MAX_TIMER_DELAY_MS, TimerQueue } from '../../src/actors/timerQueue.js';

const DAY = 86_400_000;

describe('TimerQueue', () => {
  it('wakes keys in time order, each once', () => {
    const clock = new ManualClock(0);
    const woke: [string, number][] = [];
    const q = new TimerQueue(clock, (k) => woke.push([k, clock.now()]));
    q.set('b', 200);
    q.set('a', 100);
    q.set('c', 300);
    q.set('c', 150); // moved earlier
    q.set('b', null); // cancelled
    clock.advance(1_000);
    expect(woke).toEqual([
      ['a', 100],
      ['c', 150],
    ]);
    expect(q.size).toBe(0);
  });

  it('hands out at most a slice of the wake-ups due per timer callback, the rest on the next turn, in time order', () => {
    const clock = new ManualClock(0);
    let callbacks = 0;
    const spy = {
      now: () => clock.now(),
      setTimeout: (fn: () => void, ms: number) =>
        clock.setTimeout(() => {
          callbacks++;
          fn();
        }, ms),
      clearTimeout: (h: unknown) => clock.clearTimeout(h),
    };
    const woke: { key: number; callback: number }[] = [];
    const q = new TimerQueue<number>(spy, (k) => woke.push({ key: k, callback: callbacks }), 10);
    for (let k = 24; k >= 0; k--) q.set(k, 1_000 + k); // 25 keys, all due by 1,024
    clock.jump(2_000); // a process that fell behind: all 25 are due when its timer runs
    clock.advance(0);
    expect(woke.map((w) => w.key)).toEqual([...Array(25).keys()]);
    // 10 + 10 + 5: three callbacks, none waking more than the slice
    const perCallback = new Map<number, number>();
    for (const w of woke) perCallback.set(w.callback, (perCallback.get(w.callback) ?? 0) + 1);
    expect([...perCallback.values()]).toEqual([10, 10, 5]);
    expect(q.size).toBe(0);
  });

  it('a slot more than 24.8 days ahead does not fire early (no timer longer than the cap is armed)', () => {
    const clock = new ManualClock(0);
    const armed: number[] = [];
    const spy = {
      now: () => clock.now(),
      setTimeout: (fn: () => void, ms: number) => {
        armed.push(ms);
        return clock.setTimeout(fn, ms);
      },
      clearTimeout: (h: unknown) => clock.clearTimeout(h),
    };
    const woke: number[] = [];
    const q = new TimerQueue(spy, () => woke.push(clock.now()));
    const yearly = 365 * DAY;
    q.set('yearly', yearly);
    clock.advance(30 * DAY);
    expect(woke).toEqual([]);
    clock.advance(yearly - 30 * DAY - 1);
    expect(woke).toEqual([]);
    clock.advance(1);
    expect(woke).toEqual([yearly]);
    expect(Math.max(...armed)).toBeLessThanOrEqual(MAX_TIMER_DELAY_MS);
    expect(MAX_TIMER_DELAY_MS).toBeLessThan(2 ** 31 - 1);
  });

  it('a clock that jumps (stall) wakes every overdue key in one run', () => {
    const clock = new ManualClock(0);
    const woke: string[] = [];
    const q = new TimerQueue(clock, (k) => woke.push(k));
    for (let i = 0; i < 100; i++) q.set(`k${i}`, 1_000 + i);
    clock.jump(10_000);
    clock.advance(0);
    expect(woke).toHaveLength(100);
  });

  it('superseded wake-ups do not pile up (heartbeats moving a deadline 10,000 times)', () => {
    const clock = new ManualClock(0);
    const woke: [string, number][] = [];
    const q = new TimerQueue(clock, (k) => woke.push([k, clock.now()]));
    for (let i = 1; i <= 10_000; i++) q.set('job', 1_000_000 + i);
    expect((q as unknown as { heap: unknown[] }).heap.length).toBeLessThanOrEqual(2 * q.size + 1024 + 1);
    clock.advance(2_000_000);
    expect(woke).toEqual([['job', 1_010_000]]);
  });
});
