/** One line of the result table. */
export interface Row {
  figure: string;
  target: string;
  measured: string;
  /** `info` rows have no target; they explain the figures around them. */
  status: 'pass' | 'MISS' | 'info';
}

export interface BenchContext {
  quick: boolean;
  /** When set, scheduler processes run with `node --cpu-prof` and write their profile here (one sub-dir per figure). */
  cpuProfDir: string | undefined;
  /** When set, figure 4 takes a heap snapshot of the scheduler after creation and summarises it. */
  heapDir: string | undefined;
  /** Methods and caveats printed under the table. */
  notes: string[];
  /** Results other figures use (the ceiling of figure 1). */
  shared: { ceilingPerSec?: number };
  /** `--rate2=R`: figure 2 at R triggers/s instead of 1,000 (R·10 jobs every 10 s; quick: R·2 every 2 s). */
  rate2?: number | undefined;
}

export const verdict = (ok: boolean): Row['status'] => (ok ? 'pass' : 'MISS');
