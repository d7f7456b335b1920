import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { findNatsServerBinary } from '../../test/helpers/nats-server.js';

/** The machine the figures were taken on, as one line. */
export function machineLine(): string {
  const cpus = os.cpus();
  let nats = 'unknown';
  try {
    nats = execFileSync(findNatsServerBinary(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    /* reported as unknown */
  }
  const ram = `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`;
  return `${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores, ${ram}, node ${process.version}, ${nats}, ${os.platform()} ${os.release()}`;
}

/** 1-minute load average; the figures are only meaningful when nothing else runs on the machine. */
export function loadLine(label: string): string {
  const [one, five] = os.loadavg();
  const cores = os.cpus().length;
  const busy = (one ?? 0) > cores * 0.5;
  return `${label} load average ${one?.toFixed(2)} (1 min), ${five?.toFixed(2)} (5 min)${busy ? ` — WARNING: other work is running on these ${cores} cores; figures are pessimistic` : ''}`;
}
