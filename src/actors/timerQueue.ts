import type { Clock } from './clock.js';

/**
 * Longest single wait. Node's timers overflow past 2^31−1 ms (a 24.8-day delay fires after 1 ms),
 * so a far slot is reached through several shorter waits, each re-checked against the clock.
 */
export const MAX_TIMER_DELAY_MS = 60 * 60 * 1000;

/**
 * Wake-ups handed out per turn of the event loop. The rest of those due wait for the next turn
 * (a 0 ms timeout), so the replies, acknowledgements and lease renewals that arrived meanwhile are
 * read in between: without a bound, a process that fell behind woke every job it was late for in
 * one task (seconds of work at a thousand jobs a second), fell further behind, and stopped
 * renewing its leases in time.
 */
export const WAKE_SLICE = 64;

interface Entry<K> {
  at: number;
  key: K;
}

/**
 * One timer for many keys: a binary min-heap of wake-up instants with lazy deletion, backed by a
 * single clock timeout. Scales to 100k jobs where a timeout per job would not be cheaper, and a
 * manual clock drives it in tests. The scheduler keys it by job actor object, so an actor of an
 * ownership epoch that ended can never cancel or move the timer of its successor for the same job.
 */
export class TimerQueue<K = string> {
  private heap: Entry<K>[] = [];
  private wanted = new Map<K, number>();
  private handle: unknown = null;
  private armedAt: number | null = null;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: K) => void,
    private readonly slice = WAKE_SLICE,
  ) {}

  get size(): number {
    return this.wanted.size;
  }

  /** Wakes `key` at `at` (replacing its earlier wake-up), or never when `at` is null. */
  set(key: K, at: number | null): void {
    if (at === null) {
      this.wanted.delete(key);
      return;
    }
    if (this.wanted.get(key) === at) return;
    this.wanted.set(key, at);
    this.push({ at, key });
    if (this.heap.length > 2 * this.wanted.size + 1024) this.compact();
    if (this.armedAt === null || at < this.armedAt) this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.handle = null;
    this.armedAt = null;
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.handle = null;
    this.armedAt = null;
    this.dropStale();
    const top = this.heap[0];
    if (!top) return;
    const delay = Math.min(Math.max(0, top.at - this.clock.now()), MAX_TIMER_DELAY_MS);
    this.armedAt = top.at;
    this.handle = this.clock.setTimeout(() => this.run(), delay);
  }

  private run(): void {
    this.handle = null;
    this.armedAt = null;
    const now = this.clock.now();
    const due: K[] = [];
    while (due.length < this.slice) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.at > now) break;
      this.pop();
      this.wanted.delete(top.key);
      due.push(top.key);
    }
    for (const key of due) this.onDue(key);
    this.arm();
  }

  /** Rebuilds the heap from the wanted wake-ups when superseded entries pile up. */
  private compact(): void {
    const entries = [...this.wanted].map(([key, at]) => ({ at, key }));
    this.heap = [];
    for (const e of entries) this.push(e);
  }

  private dropStale(): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || this.wanted.get(top.key) === top.at) return;
      this.pop();
    }
  }

  private push(e: Entry<K>): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= e.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (!last || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
