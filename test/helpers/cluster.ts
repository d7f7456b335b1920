/**
 * A 3-node (or n-node) JetStream cluster on loopback for tests: n `nats-server` processes with
 * routes to each other, each on a random client port with its own temporary store. Resolves once
 * JetStream has a meta leader (an R3 stream can be created). Nodes can be stopped, killed and
 * started again on the same ports and stores.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from './nats-server.js';
import { freePort } from './ports.js';

export interface Cluster {
  readonly nodes: NatsServerHandle[];
  /** Every node's client URL, comma separated (what NATS_URL takes). */
  readonly url: string;
  dispose(): Promise<void>;
}

export async function startCluster(size = 3, name = `c${process.pid}`): Promise<Cluster> {
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`);
  const nodes: NatsServerHandle[] = [];
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(
        await startNatsServer({
          config: [`server_name: ${name}-n${i}`, 'cluster {', `  name: ${name}`, `  listen: 127.0.0.1:${routePorts[i]}`, `  routes: [${routes.filter((_, j) => j !== i).join(', ')}]`, '}'].join('\n'),
        }),
      );
    }
    const url = nodes.map((n) => n.url).join(',');
    await untilMetaLeader(url);
    return { nodes, url, dispose: async () => void (await Promise.all(nodes.map((n) => n.dispose()))) };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.dispose()));
    throw err;
  }
}

/** Waits until the cluster's JetStream answers (a meta leader is elected, about 5 s after start). */
export async function untilMetaLeader(url: string, timeoutMs = 30_000): Promise<void> {
  const nc = await connect({ servers: url.split(','), maxReconnectAttempts: -1 });
  try {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
        return;
      } catch (err) {
        if (Date.now() > end) throw new Error(`the JetStream cluster has no meta leader after ${timeoutMs} ms: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await nc.close();
  }
}
