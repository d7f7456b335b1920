#!/usr/bin/env node
/**
 * An orchestrator in plain JavaScript that speaks the wire protocol directly (docs/protocol.md),
 * with nothing but the NATS client (@nats-io/transport-node, @nats-io/jetstream): no TypeScript
 * and not this project's client library. Every message it sends or receives is printed, so it
 * doubles as a transcript for an orchestrator written in Go, Python or anything else.
 *
 * What it does:
 *   1. subscribes to P.<o>.dispatch.> (before creating anything, so the first dispatch finds it);
 *   2. creates a job with a request to P.<o>.schedule.create (already_exists is fine: a second
 *      run keeps the job), and asks for one execution at once with P.<o>.schedule.run_now;
 *   3. for each dispatch: replies {"accepted": true}, dedupes by executionId, sends heartbeats
 *      to P.<o>.execution.heartbeat while it works, then publishes the completion to
 *      P.<o>.execution.completed through JetStream (the PubAck is the receipt);
 *   4. prints the job's audit events as they happen (P.<o>.events.>).
 * SIGINT or SIGTERM: stops taking dispatches (those already received are still served), lets
 * running executions finish and publish their completion, drains the connection and exits 0 (a
 * second signal exits at once with 130).
 *
 *   npm start                       # a scheduler, in another terminal
 *   node examples/orchestrator.mjs  # Ctrl-C stops it
 *
 * Environment:
 *   NATS_URL             default nats://127.0.0.1:${SCHED_DEFAULT_NATS_PORT || 4222}
 *   NATS_USER/NATS_PASS  or NATS_TOKEN: credentials, when the server asks for them
 *   SCHED_PREFIX         subject prefix P of the scheduler deployment (default sched)
 *   SCHED_ORCHESTRATOR   orchestrator id o (default demo)
 *   EXAMPLE_JOB_ID       the job it creates (default hello)
 *   EXAMPLE_EVERY        its interval (default 10s; at least the scheduler's SCHED_MIN_INTERVAL_MS)
 *   EXAMPLE_WORK_MS      how long one execution "works" (default 2000)
 *   EXAMPLE_HEARTBEAT_MS heartbeat period while it works (default 1000; keep it well under maxRuntimeMs)
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

const env = process.env;
const url = env.NATS_URL || `nats://127.0.0.1:${env.SCHED_DEFAULT_NATS_PORT || 4222}`;
const P = env.SCHED_PREFIX || 'sched';
const o = env.SCHED_ORCHESTRATOR || 'demo';
const jobId = env.EXAMPLE_JOB_ID || 'hello';
const every = env.EXAMPLE_EVERY || '10s';
const workMs = Number(env.EXAMPLE_WORK_MS || 2000);
const heartbeatMs = Number(env.EXAMPLE_HEARTBEAT_MS || 1000);

// These become subject tokens: the scheduler accepts ids ^[A-Za-z0-9_-]{1,64}$ (SPEC §2) and a
// prefix of at most 32 such characters.
for (const [name, v, max] of [['SCHED_PREFIX', P, 32], ['SCHED_ORCHESTRATOR', o, 64], ['EXAMPLE_JOB_ID', jobId, 64]]) {
  if (!new RegExp(`^[A-Za-z0-9_-]{1,${max}}$`).test(v)) {
    console.error(`${name}="${v}" must match ^[A-Za-z0-9_-]{1,${max}}$`);
    process.exit(2);
  }
}

const log = (...parts) => console.log(new Date().toISOString(), ...parts);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let nc;
try {
  nc = await connect({
    servers: url.split(','),
    name: `example-orchestrator-${o}`,
    // an orchestrator outlives NATS outages: reconnect forever (the client's default gives up after 10 tries)
    maxReconnectAttempts: -1,
    ...(env.NATS_USER && { user: env.NATS_USER, pass: env.NATS_PASS }),
    ...(env.NATS_TOKEN && { token: env.NATS_TOKEN }),
  });
} catch (err) {
  console.error(`cannot connect to ${url}: ${err.message}`);
  process.exit(1);
}
void (async () => {
  for await (const s of nc.status()) if (s.type === 'disconnect' || s.type === 'reconnect') console.error(`nats: ${s.type}`);
})();
nc.closed().then((err) => {
  if (err) {
    console.error(`connection closed for good: ${err.message}`);
    process.exit(1);
  }
});
// A JetStream client for publishing only: js.publish() is a plain NATS request on the subject
// (with a Nats-Msg-Id header when msgID is given) whose reply is JetStream's PubAck,
// {"stream":"<P>_EXECUTIONS","seq":N,"duplicate"?:true}. It calls no JetStream API, so it works
// for a user that may publish only to its own P.<o>.execution.* (deploy/nats-server.conf).
const js = jetstream(nc);
log(`connected to ${url}; prefix ${P}, orchestrator ${o}`);

// ---------------------------------------------------------------------------------------------
// Commands: request/reply on P.<o>.schedule.<op>
// ---------------------------------------------------------------------------------------------

/**
 * Sends one command and returns its reply body. A refusal is {"ok":false,"error":{code,message,
 * details?}} with the NATS micro headers Nats-Service-Error (message) and Nats-Service-Error-Code
 * (400/404/409/429/500/503). No reply (no scheduler running) ends in a timeout error.
 */
async function command(op, body) {
  const subject = `${P}.${o}.schedule.${op}`;
  log(`-> request ${subject}`, JSON.stringify(body));
  let msg;
  try {
    msg = await nc.request(subject, JSON.stringify(body), { timeout: 10_000 });
  } catch (err) {
    // no responders (nobody serves the subject) or no reply in time: no scheduler is running
    console.error(`no reply from the scheduler on ${subject}: ${err.message}`);
    await nc.close();
    process.exit(1);
  }
  const reply = msg.json();
  const code = msg.headers?.get('Nats-Service-Error-Code');
  log(`<- reply ${subject}`, code ? `[Nats-Service-Error-Code: ${code}]` : '', JSON.stringify(reply));
  return reply;
}

// ---------------------------------------------------------------------------------------------
// Dispatches: request/reply on P.<o>.dispatch.<actionType> (here: command)
// ---------------------------------------------------------------------------------------------

/**
 * executionId → { state: 'running' | 'done', done?: Promise, completion?: string, receipt?: object }.
 * The scheduler dispatches at least once: it sends the same executionId again when no reply came
 * within dispatchTimeoutMs, or after a crash between sending a dispatch and recording its answer.
 * A slot's executionId is deterministic, so this map recognises a repeat. It is this process's
 * memory only: side effects that must happen once belong keyed on executionId in your own store.
 */
const executions = new Map();
const REMEMBER = 10_000;

async function publishWithReceipt(subject, body, msgID) {
  // Retried a few times: a completion that never lands would leave the execution active until
  // maxRuntimeMs, when the scheduler marks it timed_out. The msgID makes repeats harmless.
  for (let attempt = 1, delay = 250; ; attempt++, delay = Math.min(delay * 2, 5_000)) {
    try {
      const ack = await js.publish(subject, body, msgID ? { msgID } : undefined);
      return ack;
    } catch (err) {
      if (attempt >= 5 || nc.isClosed()) {
        log(`!! publish to ${subject} failed: ${err.message}`);
        return null;
      }
      await sleep(delay);
    }
  }
}

async function complete(d, status, extra) {
  const subject = `${P}.${o}.execution.completed`;
  // Nats-Msg-Id = "<executionId>-completed": P_EXECUTIONS drops a repeat within its 2-minute
  // duplicate window (the PubAck then says "duplicate": true).
  const completion = JSON.stringify({ executionId: d.executionId, jobId: d.jobId, status, ...extra });
  log(`-> publish ${subject} [Nats-Msg-Id: ${d.executionId}-completed]`, completion);
  const receipt = await publishWithReceipt(subject, completion, `${d.executionId}-completed`);
  if (receipt) log(`<- PubAck ${subject}`, JSON.stringify({ stream: receipt.stream, seq: receipt.seq, ...(receipt.duplicate && { duplicate: true }) }));
  return { completion, receipt };
}

/** One execution: heartbeats while it works, then the completion. */
async function run(d) {
  const subject = `${P}.${o}.execution.heartbeat`;
  const beat = setInterval(() => {
    const hb = JSON.stringify({ executionId: d.executionId, jobId: d.jobId });
    log(`-> publish ${subject}`, hb);
    js.publish(subject, hb).then(
      (ack) => log(`<- PubAck ${subject}`, JSON.stringify({ stream: ack.stream, seq: ack.seq })),
      (err) => log(`!! heartbeat failed: ${err.message}`),
    );
  }, heartbeatMs);
  let result;
  try {
    await sleep(workMs); // the work: here nothing but waiting
    result = { status: 'succeeded', output: { greeted: d.action.args?.to ?? 'world', trigger: d.trigger } };
  } catch (err) {
    result = { status: 'failed', error: { message: String(err?.message ?? err) } };
  } finally {
    clearInterval(beat);
  }
  const { status, ...extra } = result;
  const { completion, receipt } = await complete(d, status, extra);
  executions.set(d.executionId, { state: 'done', completion, receipt });
  // forget the oldest finished executions beyond REMEMBER (a Map keeps insertion order)
  for (const [id, e] of executions) {
    if (executions.size <= REMEMBER) break;
    if (e.state === 'done') executions.delete(id);
  }
}

function onDispatch(msg) {
  const reply = (body) => {
    log(`-> reply ${msg.subject}`, JSON.stringify(body));
    msg.respond(JSON.stringify(body));
  };
  let d;
  try {
    d = msg.json();
  } catch {
    d = null;
  }
  log(`<- request ${msg.subject}`, d === null ? msg.string() : JSON.stringify(d));
  if (typeof d !== 'object' || d === null || typeof d.executionId !== 'string' || typeof d.jobId !== 'string' || typeof d.action?.type !== 'string') {
    // a refusal fails the execution at once (trigger.failed, reason rejected)
    reply({ accepted: false, reason: 'malformed dispatch' });
    return;
  }
  const known = executions.get(d.executionId);
  if (known) {
    // A repeat (attempt > 1, or after a scheduler crash): accept again, never run it twice.
    log(`   duplicate dispatch of ${d.executionId} (${known.state}), attempt ${d.attempt}: acknowledged, not run again`);
    reply({ accepted: true });
    if (known.state === 'done' && known.receipt === null) {
      // its completion never got a receipt: publish it again (same Nats-Msg-Id)
      void publishWithReceipt(`${P}.${o}.execution.completed`, known.completion, `${d.executionId}-completed`).then((ack) => {
        if (ack) known.receipt = ack;
      });
    }
    return;
  }
  // Reply first: the scheduler records the execution as running (execution.started). Then work.
  reply({ accepted: true });
  const entry = { state: 'running', done: null };
  executions.set(d.executionId, entry);
  entry.done = run(d).catch((err) => log(`!! execution ${d.executionId}: ${err.message}`));
}

// A queue group, so that several copies of this process share the dispatches.
const dispatchSub = nc.subscribe(`${P}.${o}.dispatch.>`, { queue: `${P}_${o}_workers`, callback: (err, msg) => (err ? log(`!! ${err.message}`) : onDispatch(msg)) });

// ---------------------------------------------------------------------------------------------
// Audit events, live (P.<o>.events.<jobId>.<type>); the history is in the P_EVENTS stream
// ---------------------------------------------------------------------------------------------

const eventSub = nc.subscribe(`${P}.${o}.events.${jobId}.>`, {
  callback: (err, msg) => {
    if (err) return;
    try {
      const e = msg.json();
      log(`<- event ${msg.subject}`, JSON.stringify(e));
    } catch {
      /* not an event the scheduler wrote */
    }
  },
});
await nc.flush(); // the server knows both subscriptions before the first dispatch can come

// ---------------------------------------------------------------------------------------------
// The job: create (or keep), then one execution at once
// ---------------------------------------------------------------------------------------------

const created = await command('create', {
  jobId,
  schedule: { kind: 'interval', every },
  target: { type: 'command', command: 'greet', args: { to: 'world' } },
  overlapPolicy: 'skip',
  maxRuntimeMs: '1m',
  dispatchTimeoutMs: '5s',
  dispatchRetry: { attempts: 3, backoffMs: '1s' },
});
if (created.ok) {
  log(`created job ${jobId} (revision ${created.job.revision}), next run ${created.job.nextRunAt}`);
} else if (created.error?.code === 'already_exists') {
  log(`job ${jobId} already exists: keeping it`);
} else {
  console.error(`create failed: ${created.error?.code}: ${created.error?.message}`);
  await nc.close();
  process.exit(1);
}
const ran = await command('run_now', { jobId });
if (ran.ok) log(`run_now: execution ${ran.executionId}`);
else log(`run_now refused: ${ran.error?.code} (${ran.error?.message})`);
log('serving dispatches; Ctrl-C stops');

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

let signals = 0;
async function shutdown(signal) {
  if (++signals > 1) process.exit(130);
  log(`${signal}: draining`);
  await dispatchSub.drain(); // dispatches already received are still answered
  eventSub.unsubscribe();
  const running = [...executions.values()].filter((e) => e.state === 'running').map((e) => e.done);
  if (running.length > 0) log(`waiting for ${running.length} execution(s) to complete`);
  await Promise.allSettled(running);
  await nc.drain();
  log('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
