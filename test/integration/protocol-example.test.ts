import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEventSchema, completionSchema, heartbeatSchema } from '../../src/contract/messages.js';
import { TestBed, sleep, uniquePrefix, until, type AuditEventWire, type Orchestrator } from '../helpers/harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLE = 'examples/orchestrator.mjs';

interface Example {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | string>;
}

/** `node examples/orchestrator.mjs` as a user runs it: plain JavaScript, no tsx, no project code. */
function runExample(env: Record<string, string>): Example {
  const child = spawn(process.execPath, [EXAMPLE], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const collect = (buf: Buffer): void => {
    for (const line of buf.toString().split('\n')) if (line) output.push(line);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')));
  return { child, output, exited };
}

interface Stored {
  subject: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** Every message of a stream under `filter`, read from its history with an ordered consumer. */
async function readStream(nc: NatsConnection, stream: string, filter: string): Promise<Stored[]> {
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: filter });
  const out: Stored[] = [];
  if ((await consumer.info(true)).num_pending === 0) return out;
  for await (const m of await consumer.fetch({ max_messages: 100_000, expires: 2_000 })) {
    const headers: Record<string, string> = {};
    if (m.headers) for (const [k, v] of m.headers) headers[k] = v.join(',');
    out.push({ subject: m.subject, headers, body: m.json<Record<string, unknown>>() });
    if (m.info.pending === 0) break;
  }
  return out;
}

/**
 * examples/orchestrator.mjs speaks the protocol of docs/protocol.md with nothing but the NATS
 * client: it creates a job with a raw command, accepts dispatches, heartbeats, completes through
 * JetStream, dedupes repeated dispatches and stops cleanly on SIGTERM and SIGINT.
 */
describe('the plain-JavaScript orchestrator example (docs/protocol.md)', () => {
  let bed: TestBed;
  let o: Orchestrator;
  const P = uniquePrefix();
  const running = new Set<Example>();
  const env = (): Record<string, string> => ({
    NATS_URL: bed.server.url,
    SCHED_PREFIX: P,
    SCHED_ORCHESTRATOR: 'demo',
    EXAMPLE_JOB_ID: 'hello',
    EXAMPLE_EVERY: '500ms',
    EXAMPLE_WORK_MS: '300',
    EXAMPLE_HEARTBEAT_MS: '100',
  });
  const start = (): Example => {
    const ex = runExample(env());
    running.add(ex);
    void ex.exited.then(() => running.delete(ex));
    return ex;
  };
  const trail = async (): Promise<AuditEventWire[]> =>
    (await readStream(o.nc, `${P}_EVENTS`, `${P}.demo.events.hello.>`)).map((m) => m.body as unknown as AuditEventWire);

  beforeAll(async () => {
    bed = await TestBed.start();
    await bed.scheduler({ SCHED_PREFIX: P, SCHED_MIN_INTERVAL_MS: '100' });
    // only for commands and reading streams: it serves no dispatches
    o = await bed.orchestrator(P, 'demo');
  });
  afterAll(async () => {
    for (const ex of running) {
      ex.child.kill('SIGKILL');
      await ex.exited;
    }
    await bed?.dispose();
  });

  it('creates its job, runs executions that complete succeeded (audit trail and job view), heartbeats, dedupes, exits 0 on SIGTERM', async () => {
    const ex = start();
    const runNowLine = await until(() => ex.output.find((l) => /run_now: execution \S+/.test(l)), 15_000, `the example's run_now\n${ex.output.join('\n')}`);
    const runNowId = /run_now: execution (\S+)/.exec(runNowLine)![1]!;

    // the audit trail in P_EVENTS: the run_now execution and at least one slot completed succeeded
    const events = await until(async () => {
      const es = await trail();
      const done = es.filter((e) => e.type === 'execution.completed' && e.data.status === 'succeeded');
      return done.some((e) => e.executionId === runNowId) && done.some((e) => e.data.trigger === 'schedule') ? es : null;
    }, 15_000, `execution.completed succeeded in ${P}_EVENTS\n${ex.output.slice(-20).join('\n')}`);
    for (const e of events) expect(auditEventSchema.safeParse(e).success, JSON.stringify(e)).toBe(true);
    expect(events[0]).toMatchObject({ type: 'job.created', orchestratorId: 'demo', jobId: 'hello', data: { revision: 1 } });
    const ofRunNow = events.filter((e) => e.executionId === runNowId).map((e) => e.type);
    expect(ofRunNow).toEqual(['trigger.dispatched', 'execution.started', 'execution.completed']);
    const completed = events.find((e) => e.type === 'execution.completed' && e.executionId === runNowId)!;
    expect(completed.data).toMatchObject({ status: 'succeeded', trigger: 'run_now', output: { greeted: 'world', trigger: 'run_now' } });
    expect(events.filter((e) => ['execution.completion_rejected', 'trigger.failed', 'execution.timed_out'].includes(e.type))).toEqual([]);

    // the job view's counters agree
    const job = (await o.cmd('show', { jobId: 'hello' })).job as { counters: Record<string, number>; target: unknown; schedule: unknown };
    expect(job.counters.succeeded).toBeGreaterThanOrEqual(2);
    expect(job.counters).toMatchObject({ failed: 0, timedOut: 0, dispatchFailed: 0 });
    expect(job).toMatchObject({ schedule: { kind: 'interval', every: 500 }, target: { type: 'command', command: 'greet', args: { to: 'world' } } });

    // what the example published, as P_EXECUTIONS captured it: heartbeats while it worked, and
    // one completion per execution with Nats-Msg-Id <executionId>-completed
    const execs = await readStream(o.nc, `${P}_EXECUTIONS`, `${P}.demo.execution.>`);
    const beats = execs.filter((m) => m.subject === `${P}.demo.execution.heartbeat`);
    const completions = execs.filter((m) => m.subject === `${P}.demo.execution.completed`);
    for (const m of beats) expect(heartbeatSchema.safeParse(m.body).success, JSON.stringify(m.body)).toBe(true);
    for (const m of completions) expect(completionSchema.safeParse(m.body).success, JSON.stringify(m.body)).toBe(true);
    expect(beats.filter((m) => m.body.executionId === runNowId).length).toBeGreaterThanOrEqual(1);
    const runNowCompletions = completions.filter((m) => m.body.executionId === runNowId);
    expect(runNowCompletions).toHaveLength(1);
    expect(runNowCompletions[0]!.headers['Nats-Msg-Id']).toBe(`${runNowId}-completed`);
    expect(ex.output.some((l) => l.includes(`<- PubAck ${P}.demo.execution.completed`))).toBe(true);

    // a repeated dispatch (what the scheduler sends after a lost reply) is acknowledged, not run again
    const first = events.find((e) => e.type === 'trigger.dispatched' && e.executionId === runNowId)!;
    const repeat = {
      executionId: runNowId,
      orchestratorId: 'demo',
      jobId: 'hello',
      scheduledAt: first.data.scheduledAt,
      firedAt: first.at,
      trigger: 'run_now',
      attempt: 2,
      action: { type: 'command', command: 'greet', args: { to: 'world' } },
    };
    const reply = await o.nc.request(`${P}.demo.dispatch.command`, JSON.stringify(repeat), { timeout: 5_000 });
    expect(reply.json()).toEqual({ accepted: true });
    await until(() => ex.output.some((l) => l.includes(`duplicate dispatch of ${runNowId}`)), 5_000, 'the duplicate noticed');
    await sleep(500); // longer than one execution of the example
    const after = await readStream(o.nc, `${P}_EXECUTIONS`, `${P}.demo.execution.completed`);
    expect(after.filter((m) => m.body.executionId === runNowId)).toHaveLength(1);

    // a malformed dispatch is refused
    const bad = await o.nc.request(`${P}.demo.dispatch.command`, '{"no":"executionId"}', { timeout: 5_000 });
    expect(bad.json()).toMatchObject({ accepted: false });

    ex.child.kill('SIGTERM');
    const code = await Promise.race([ex.exited, sleep(10_000).then(() => 'still running')]);
    expect(code, ex.output.slice(-10).join('\n')).toBe(0);
    expect(ex.output.at(-1)).toMatch(/stopped$/);
  });

  it('a second run keeps the existing job (already_exists, read from the reply and its micro headers) and exits 0 on SIGINT', async () => {
    const ex = start();
    await until(() => ex.output.some((l) => l.includes('serving dispatches')), 15_000, `the example serving\n${ex.output.join('\n')}`);
    expect(ex.output.some((l) => l.includes('[Nats-Service-Error-Code: 409]') && l.includes('"already_exists"'))).toBe(true);
    expect(ex.output.some((l) => l.includes('job hello already exists: keeping it'))).toBe(true);
    const since = (await trail()).length;
    // it goes on serving the job: another execution completes
    await until(async () => (await trail()).slice(since).some((e) => e.type === 'execution.completed' && e.data.status === 'succeeded'), 15_000, 'a completion by the second run');
    ex.child.kill('SIGINT');
    const code = await Promise.race([ex.exited, sleep(10_000).then(() => 'still running')]);
    expect(code, ex.output.slice(-10).join('\n')).toBe(0);
  });
});
