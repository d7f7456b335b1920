/**
 * A minimal orchestrator: it creates a job and runs a worker for its dispatches.
 * Run a scheduler (`npm start`), then `npx tsx examples/orchestrator.ts`; Ctrl-C stops it.
 *
 * It rides out NATS outages: the connection reconnects forever (each disconnect and reconnect
 * is logged) and the worker's subscription comes back with it. Every refusal or failure of the
 * scheduler is one line of output, not a crash: an `overlap` refusal of run_now (the job's
 * previous execution is still active) is an ordinary answer. It exits 1 with a message when the
 * connection is closed for good (e.g. the server refuses its credentials on reconnect), 0 after
 * SIGINT or SIGTERM once running executions have finished.
 *
 * Environment:
 *   NATS_URL              default nats://127.0.0.1:${SCHED_DEFAULT_NATS_PORT || 4222}, as the scheduler
 *   NATS_USER/NATS_PASS   or NATS_TOKEN: credentials, when the server asks for them
 *   SCHED_PREFIX          the scheduler deployment's subject prefix (default sched)
 *   NATS_RECONNECT_WAIT_MS  pause between reconnect attempts (default 1000)
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { OrchestratorWorker, SchedulerClient, isSchedulerClientError } from '../src/client/index.js';

const env = process.env;
const url = env.NATS_URL || `nats://127.0.0.1:${env.SCHED_DEFAULT_NATS_PORT || 4222}`;
const prefix = env.SCHED_PREFIX || 'sched';
const jobId = 'hello';
const reconnectTimeWait = Number(env.NATS_RECONNECT_WAIT_MS || 1_000);

const log = (line: string): void => console.log(`${new Date().toISOString()} ${line}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** One line for any error: the wire code of a scheduler refusal, else the message. */
const describe = (err: unknown): string =>
  isSchedulerClientError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);

// A last resort: a bug here must still be one line, and a non-zero exit.
process.on('uncaughtException', (err) => {
  console.error(`orchestrator: unexpected error: ${describe(err)}`);
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  console.error(`orchestrator: unexpected error: ${describe(err)}`);
  process.exit(1);
});

let nc: NatsConnection;
try {
  nc = await connect({
    servers: url.split(','),
    name: 'example-orchestrator',
    // reconnect forever: the default (10 attempts, 2 s apart) gives up after a ~20 s outage
    maxReconnectAttempts: -1,
    reconnectTimeWait,
    ...(env.NATS_USER && { user: env.NATS_USER, pass: env.NATS_PASS ?? '' }),
    ...(env.NATS_TOKEN && { token: env.NATS_TOKEN }),
  });
} catch (err) {
  console.error(`orchestrator: cannot connect to NATS at ${url}: ${describe(err)}`);
  process.exit(1);
}
log(`connected to ${url} (prefix ${prefix})`);

let stopping = false;
void (async () => {
  for await (const s of nc.status()) {
    if (s.type === 'disconnect') log(`NATS disconnected from ${s.server}; reconnecting`);
    else if (s.type === 'reconnect') log(`NATS reconnected to ${s.server}`);
    else if (s.type === 'ldm') log(`NATS server ${s.server} is going away (lame duck mode)`);
    else if (s.type === 'error') log(`NATS error: ${s.error.message}`);
  }
})();
void nc.closed().then((err) => {
  if (stopping) return;
  console.error(`orchestrator: the NATS connection is closed for good${err ? `: ${err.message}` : ''}; exiting`);
  process.exit(1);
});

const scope = { nc, prefix, orchestratorId: 'demo' };
const client = new SchedulerClient(scope);

const worker = await OrchestratorWorker.start({
  ...scope,
  heartbeatMs: 5_000,
  handler: async (d) => {
    log(`run ${d.jobId} (${d.trigger}, ${d.executionId}) ${JSON.stringify(d.action)}`);
    return { greeted: 'world', at: new Date().toISOString() };
  },
});
worker.on('error', (err, d) => log(`worker: ${err.message}${d ? ` (execution ${d.executionId})` : ''}`));
worker.on('rejected', (d, reason) => log(`worker refused a dispatch${d ? ` of ${d.jobId}` : ''}: ${reason}`));
worker.on('completed', (d, status, receipt) =>
  log(`completed ${d.jobId} (${d.executionId}): ${status}${receipt ? '' : '; the completion was not delivered, the scheduler will time the execution out'}`),
);

/** Creates the job (a second run keeps it) and asks for one execution now. */
async function setUp(): Promise<void> {
  for (;;) {
    try {
      await client.create({ jobId, schedule: { kind: 'interval', every: '10s' }, target: { type: 'command', command: 'greet', args: { to: 'world' } } });
      log(`created job ${jobId}`);
      break;
    } catch (err) {
      if (isSchedulerClientError(err, 'already_exists')) {
        log(`job ${jobId} exists: keeping it`);
        break;
      }
      if (isSchedulerClientError(err, 'unavailable') && !stopping) {
        // no scheduler yet, or NATS is down: the worker keeps serving whatever comes
        log(`create ${jobId}: ${describe(err)}; trying again in 2 s`);
        await sleep(2_000);
        if (stopping) return;
        continue;
      }
      log(`create ${jobId} failed: ${describe(err)}`);
      return;
    }
  }
  try {
    const { executionId } = await client.runNow(jobId);
    log(`run_now ${jobId}: execution ${executionId}`);
  } catch (err) {
    if (isSchedulerClientError(err, 'overlap')) {
      log(`run_now ${jobId}: not now, ${err.activeExecutions.length} execution(s) still active (${err.activeExecutions.join(', ')})`);
    } else {
      log(`run_now ${jobId} failed: ${describe(err)}`);
    }
  }
}

let signals = 0;
async function shutdown(signal: string): Promise<void> {
  if (++signals > 1) process.exit(130);
  stopping = true;
  log(`${signal}: stopping (running executions finish first)`);
  await worker.stop();
  await nc.drain().catch((err: unknown) => log(`drain: ${describe(err)}`));
  log('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

await setUp();
log('serving dispatches; Ctrl-C stops');
