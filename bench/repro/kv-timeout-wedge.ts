/**
 * `tsx bench/repro/kv-timeout-wedge.ts`: a job record write that times out on the client but
 * lands on the server leaves the job actor with a stale KV revision, and every later write of that
 * job fails compare-and-set ("changed by another writer") for good: the job never fires again.
 *
 * Found by figure 2 under overload. Reproduced here without load: 20 jobs every 1 s; the
 * nats-server is frozen (SIGSTOP) for 7 s, longer than the JetStream client's 5 s request
 * timeout, then resumed, and the writes queued in its socket land. The lease TTL is raised to 30 s
 * so that the lease survives the stall (a lost lease reloads the jobs from the store, which hides
 * the bug). Expected: dispatches resume within a second or two. Observed: none.
 */
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../../test/helpers/nats-server.js';
import { Orchestrators } from '../lib/orchestrators.js';
import { SchedulerProcess } from '../lib/scheduler.js';
import { sleep } from '../lib/util.js';

const JOBS = 20;
const server = await startNatsServer();
const nc = await connect({ servers: server.url, noAsyncTraces: true });
const orch = new Orchestrators(nc, 'wedge').serve('complete');
const sched = await SchedulerProcess.start(nc, { natsUrl: server.url, prefix: 'wedge', env: { SCHED_LEASE_TTL_MS: '30000' } });
try {
  for (let i = 0; i < JOBS; i++) {
    await orch.cmd('o1', 'create', { jobId: `j${i}`, schedule: { kind: 'interval', every: 1000 }, target: { type: 'command', command: 'x' } });
  }
  await sleep(3000);
  process.kill(server.pid!, 'SIGSTOP');
  await sleep(7000);
  process.kill(server.pid!, 'SIGCONT');
  await sleep(3000); // time to catch up
  const mark = orch.dispatches;
  await sleep(10_000);
  const after = orch.dispatches - mark;
  const wedged = after < JOBS * 5;
  console.log(`dispatches in the 10 s after the stall: ${after} (expected about ${JOBS * 10})`);
  console.log(`scheduler warn/error lines: ${sched.warnLines}; last: ${sched.stderrTail.at(-1)?.slice(0, 300)}`);
  console.log(wedged ? 'WEDGED: jobs stopped firing after a timed-out write' : 'ok: jobs fire again after the stall');
  process.exitCode = wedged ? 1 : 0;
} finally {
  await sched.stop();
  await nc.drain();
  await server.dispose();
}
