import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU seconds (user + system) a process has used so far. NaN when it is gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may contain spaces) start after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/** CPU use of a set of processes over an interval, as % of one core each. */
export class CpuMeter {
  private readonly start: number[];
  private readonly t0 = performance.now();

  constructor(private readonly pids: (number | undefined)[]) {
    this.start = pids.map(cpuSeconds);
  }

  read(): number[] {
    const secs = (performance.now() - this.t0) / 1000;
    return this.pids.map((p, i) => (100 * (cpuSeconds(p) - this.start[i]!)) / secs);
  }
}
