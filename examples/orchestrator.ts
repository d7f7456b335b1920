/**
 * A minimal orchestrator: it creates a job and runs a worker for its dispatches.
 * Run a scheduler (`npm start`), then `npx tsx examples/orchestrator.ts`; Ctrl-C stops it.
 */
import { connect } from '@nats-io/transport-node';
import { OrchestratorWorker, SchedulerClient, isSchedulerClientError } from '../src/index.js';

const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
const scope = { nc, prefix: process.env.SCHED_PREFIX ?? 'sched', orchestratorId: 'demo' };
const client = new SchedulerClient(scope);

const worker = await OrchestratorWorker.start({
  ...scope,
  heartbeatMs: 5_000,
  handler: async (d) => {
    console.log(`run ${d.jobId} (${d.trigger}, ${d.executionId})`, JSON.stringify(d.action));
    return { greeted: 'world', at: new Date().toISOString() };
  },
});

try {
  await client.create({ jobId: 'hello', schedule: { kind: 'interval', every: '10s' }, target: { type: 'command', command: 'greet', args: { to: 'world' } } });
} catch (err) {
  if (!isSchedulerClientError(err, 'already_exists')) throw err; // a second run keeps the job
}
const { executionId } = await client.runNow('hello');
console.log(`created job hello, first execution ${executionId}`);

process.once('SIGINT', () => void worker.stop().then(() => nc.drain()));
