import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import type { AnyActorRef, InspectionEvent } from 'xstate';

export interface InspectionServer {
  readonly port: number;
  /** The XState `inspect` observer to give every job actor. */
  inspect(e: InspectionEvent): void;
  close(): Promise<void>;
}

/**
 * Live inspection of the job machines on `SCHED_INSPECT_PORT` (loopback only): a WebSocket
 * endpoint speaking what `@statelyai/inspect`'s `createWebSocketReceiver` understands (the same
 * JSON a `createWebSocketInspector` sends). Nothing is serialised while no client is connected; a
 * client that connects first gets one `@xstate.actor` event per running job (`actors()`). A
 * failing client or serialisation error is dropped here and never reaches a job.
 */
export async function startInspectionServer(port: number, log: Logger, actors: () => Iterable<AnyActorRef>): Promise<InspectionServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  wss.on('error', (err) => log.warn({ err }, 'inspection server error'));
  const adapter = {
    send(event: StatelyInspectionEvent) {
      if (wss.clients.size === 0) return;
      let text: string;
      try {
        text = JSON.stringify(event);
      } catch {
        return;
      }
      for (const c of wss.clients) if (c.readyState === WebSocket.OPEN) c.send(text, () => undefined);
    },
  };
  const inspector = createInspector(adapter);
  wss.on('connection', (ws) => {
    ws.on('error', () => ws.terminate());
    for (const ref of actors()) {
      try {
        inspector.actor(ref, ref.getSnapshot());
      } catch (err) {
        log.debug({ err }, 'inspection: actor not announced');
      }
    }
  });
  const address = wss.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    inspect(e) {
      if (wss.clients.size === 0) return;
      try {
        inspector.inspect.next?.(e);
      } catch (err) {
        log.debug({ err }, 'inspection event dropped');
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
