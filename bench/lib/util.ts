/** Small helpers shared by the benchmark figures: time, percentiles, pipelining, formatting. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wall-clock epoch ms with sub-millisecond resolution (same clock as the scheduler's Date.now()). */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/** A growable list of numbers with percentiles. */
export class Samples {
  private buf = new Float64Array(1024);
  private n = 0;
  private sorted: Float64Array | null = null;

  get count(): number {
    return this.n;
  }

  add(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
    this.sorted = null;
  }

  /** Nearest-rank percentile (p in 0..100); NaN when empty. */
  pct(p: number): number {
    if (this.n === 0) return Number.NaN;
    this.sorted ??= this.buf.slice(0, this.n).sort();
    const rank = Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1));
    return this.sorted[rank]!;
  }

  max(): number {
    return this.pct(100);
  }
}

/**
 * Runs `fn(0..count-1)` with at most `window` calls outstanding (pipelined requests over one
 * connection). Resolves with the elapsed ms; rejections are counted by the caller's `fn`.
 */
export async function pipelined(count: number, window: number, fn: (i: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  return performance.now() - t0;
}

export const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n));
export const fmtMs = (ms: number): string =>
  !Number.isFinite(ms) ? String(ms) : ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
export const fmtRate = (perSec: number): string => `${fmtInt(perSec)}/s`;
export const fmtMiB = (kib: number): string => `${(kib / 1024).toFixed(0)} MiB`;

/** A deterministic PRNG (mulberry32), so each run creates the same job population. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A line on stderr (progress), never part of the result table. */
export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
