import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SchedulerClient, isSchedulerClientError } from '../../src/client/index.js';
import { sleep, startScheduler, uniquePrefix, until, type SchedulerUnderTest } from '../helpers/harness.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

/**
 * examples/orchestrator.ts as a process (`node --import tsx`), against a test nats-server and an
 * in-process scheduler: an `overlap` refusal of its run_now is one line, not a crash; it follows
 * SCHED_DEFAULT_NATS_PORT when NATS_URL is unset; it rides out a NATS outage (server stopped a
 * few seconds, restarted on the same port and store) and serves dispatches afterwards; and it
 * exits 1 with a message when the connection is closed for good.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface ExampleProcess {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | string>;
  /** Resolves with the first line (from now on or already printed) that contains `text`. */
  line(text: string | RegExp, timeoutMs?: number): Promise<string>;
}

const running: ExampleProcess[] = [];

function startExample(env: Record<string, string | undefined>): ExampleProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['NATS_URL', 'NATS_USER', 'NATS_PASS', 'NATS_TOKEN', 'SCHED_PREFIX', 'SCHED_DEFAULT_NATS_PORT']) delete childEnv[k];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/orchestrator.ts'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  let partial = '';
  const collect = (buf: Buffer): void => {
    const parts = (partial + buf.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) if (l) output.push(l);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => {
      if (partial) output.push(partial);
      resolve(code ?? sig ?? 'unknown');
    }),
  );
  const p: ExampleProcess = {
    child,
    output,
    exited,
    line: (text, timeoutMs = 20_000) =>
      until(
        () => output.find((l) => (typeof text === 'string' ? l.includes(text) : text.test(l))),
        timeoutMs,
        `example output ${String(text)}; so far:\n${output.join('\n')}`,
      ),
  };
  running.push(p);
  return p;
}

const alive = (p: ExampleProcess): boolean => p.child.exitCode === null && p.child.signalCode === null;

afterEach(async () => {
  for (const p of running.splice(0)) {
    if (alive(p)) p.child.kill('SIGKILL');
    await p.exited;
  }
});

describe('examples/orchestrator.ts', () => {
  let server: NatsServerHandle;
  let sched: SchedulerUnderTest;
  let nc: NatsConnection;
  let client: SchedulerClient;
  const P = uniquePrefix();

  beforeAll(async () => {
    server = await startNatsServer();
    sched = await startScheduler(server.url, { SCHED_PREFIX: P });
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    client = new SchedulerClient({ nc, prefix: P, orchestratorId: 'demo' });
  });
  afterAll(async () => {
    await nc?.close();
    await sched?.stop();
    await server?.dispose();
  });

  /** run_now through the test's client, retried while the scheduler is not back yet. */
  const runNow = (): Promise<string> =>
    until(
      async () => {
        try {
          return (await client.runNow('hello', { ignoreOverlap: true })).executionId;
        } catch (err) {
          if (isSchedulerClientError(err, 'unavailable')) return null;
          throw err;
        }
      },
      20_000,
      'run_now to be answered',
    );
  const succeeded = async (): Promise<number> => (await client.show('hello')).counters.succeeded;

  it('takes an overlap refusal in its stride, serves dispatches, and still does after a NATS outage', async () => {
    // The job exists with an execution that stays active (accepted by a stand-in worker that
    // never completes it): the example's create is already_exists and its run_now an overlap.
    const blocker = nc.subscribe(`${P}.demo.dispatch.>`, {
      callback: (_err, m: Msg) => {
        m.respond(JSON.stringify({ accepted: true }));
      },
    });
    await client.create({ jobId: 'hello', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'greet' }, maxRuntimeMs: '1h' });
    await client.runNow('hello');
    await until(async () => (await client.show('hello')).activeExecutions.some((e) => e.state === 'running'), 10_000, 'a running execution');
    blocker.unsubscribe();
    await nc.flush();

    // NATS_URL unset: the default address on SCHED_DEFAULT_NATS_PORT. Reconnect attempts 100 ms
    // apart: nats.js's default of 10 attempts would be used up within the outage below, so the
    // example surviving it shows that it reconnects without a limit.
    const ex = startExample({ SCHED_DEFAULT_NATS_PORT: String(server.port), SCHED_PREFIX: P, NATS_RECONNECT_WAIT_MS: '100' });
    await ex.line(`connected to nats://127.0.0.1:${server.port}`);
    await ex.line('job hello exists: keeping it');
    const overlap = await ex.line('run_now hello: not now');
    expect(overlap).toContain('1 execution(s) still active');
    await ex.line('serving dispatches');
    expect(alive(ex)).toBe(true);

    // it serves dispatches
    const before = await succeeded();
    const first = await runNow();
    await ex.line(`run hello (run_now, ${first})`);
    await ex.line(`completed hello (${first}): succeeded`);
    await until(async () => (await succeeded()) === before + 1, 10_000, 'the completion to count');

    // an outage of a few seconds: the server is stopped, then started on the same port and store
    await server.stop();
    await ex.line('NATS disconnected');
    await sleep(3_000);
    expect(alive(ex)).toBe(true);
    await server.start();
    await ex.line('NATS reconnected', 30_000);

    // its worker's subscription came back: a dispatch after the outage is served
    await until(() => sched.scheduler.isReady, 30_000, 'the scheduler to be ready again');
    const second = await runNow();
    await ex.line(`run hello (run_now, ${second})`, 30_000);
    await ex.line(`completed hello (${second}): succeeded`, 30_000);
    await until(async () => (await succeeded()) === before + 2, 20_000, 'the completion after the outage to count');

    // SIGINT: a clean stop
    ex.child.kill('SIGINT');
    expect(await ex.exited).toBe(0);
    expect(ex.output.some((l) => l.includes('stopped'))).toBe(true);
    expect(ex.output.filter((l) => /unexpected error|closed for good/.test(l))).toEqual([]);
  }, 120_000);
});

describe('examples/orchestrator.ts when the connection is closed for good', () => {
  const servers: NatsServerHandle[] = [];
  afterAll(async () => {
    for (const s of servers) await s.dispose();
  });

  it('exits 1 with a message (here: the restarted server refuses its credentials)', async () => {
    const first = await startNatsServer({ config: 'authorization { token: "s3cret" }' });
    servers.push(first);
    // no scheduler on this server: create is unavailable, which is retried, not fatal
    const ex = startExample({ NATS_URL: first.url, NATS_TOKEN: 's3cret', SCHED_PREFIX: uniquePrefix() });
    await ex.line(`connected to ${first.url}`);
    await ex.line(/create hello: unavailable: .*; trying again in 2 s/);
    expect(alive(ex)).toBe(true);
    await first.stop();
    await ex.line('NATS disconnected');
    // the same port, another token: reconnecting fails authorisation, and nats.js gives up
    const second = await startNatsServer({ port: first.port, config: 'authorization { token: "other" }' });
    servers.push(second);
    expect(await ex.exited).toBe(1);
    expect(ex.output.some((l) => l.includes('the NATS connection is closed for good'))).toBe(true);
  }, 60_000);
});
