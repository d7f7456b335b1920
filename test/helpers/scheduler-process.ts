import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Lines of output kept per process: all of them when FAULTS_LOG_DIR asks for the logs to be kept. */
const KEEP_LINES = process.env.FAULTS_LOG_DIR ? Number.POSITIVE_INFINITY : 5000;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface SchedulerProcess {
  readonly pid: number;
  /** Its output: the last 5,000 lines, or every line with FAULTS_LOG_DIR set. */
  readonly output: string[];
  /** How many log lines with this `msg` it has written since it started (all of them, not only the last 5,000). */
  logged(msg: string): number;
  /** Sends a signal; resolves with the exit code (or signal name) once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<number | string>;
  exited: Promise<number | string>;
}

/**
 * Runs the scheduler as `npm start` does (a separate Node process), and resolves once it logged
 * that it is ready. Tests kill it for real (SIGTERM, SIGKILL).
 */
export async function spawnScheduler(env: Record<string, string>, readyTimeoutMs = 20_000): Promise<SchedulerProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, SCHED_HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const counts = new Map<string, number>();
  let ready = false;
  const onReady: (() => void)[] = [];
  const collect = (buf: Buffer): void => {
    for (const line of buf.toString().split('\n')) {
      if (!line) continue;
      output.push(line);
      if (output.length > KEEP_LINES) output.shift();
      const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
      if (msg !== undefined) counts.set(msg, (counts.get(msg) ?? 0) + 1);
      if (!ready && line.includes('"scheduler ready"')) {
        ready = true;
        for (const f of onReady) f();
      }
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  void exited.then(() => process.removeListener('exit', killOnExit));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      // not left behind: a test that gives up on it must not leave it running (it did, for good)
      child.kill('SIGKILL');
      reject(new Error(`scheduler not ready in ${readyTimeoutMs} ms:\n${output.slice(-20).join('\n')}`));
    }, readyTimeoutMs);
    onReady.push(() => {
      clearTimeout(t);
      resolve();
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`scheduler exited (${code}) before ready:\n${output.slice(-20).join('\n')}`));
    });
  });
  return {
    pid: child.pid!,
    output,
    logged: (msg) => counts.get(msg) ?? 0,
    exited,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
