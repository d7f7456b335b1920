import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface HttpServerOptions {
  port: number;
  /** Bind address (`SCHED_HTTP_HOST`); unset: every interface. */
  host?: string;
  /** Can the replica act now, and if not, why. */
  readiness: () => { ready: boolean; reasons: string[] };
  registry: Registry;
  /** Replica identity and the orchestrators it owns, shown by `/readyz`. */
  ownership?: () => ({ replicaId: string; orchestrators: string[] } & Record<string, unknown>) | null;
  /** More pages (the web console at `/console`): true when it answered the request. */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** The port is taken: says which variable moves it. */
export class HttpPortInUseError extends Error {
  override readonly name = 'HttpPortInUseError';
}

/**
 * `/metrics` (Prometheus text format), `/healthz` (process up) and `/readyz` (200 when the replica
 * can act, else 503 with the reasons) on `SCHED_HTTP_PORT`, and whatever `routes` answers (the
 * console, src/console).
 */
export function startHttpServer(opts: HttpServerOptions): Promise<Server> {
  const { registry } = opts;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const { ready, reasons } = opts.readiness();
      const body = { ready, ...(ready ? {} : { reasons }), ...opts.ownership?.() };
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (!opts.routes?.(req, res)) {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${opts.host ?? '*'}:${opts.port}`;
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
        reject(
          new HttpPortInUseError(
            `cannot listen on ${where} for /metrics and /readyz (${err.code}): ` +
              'another process (a second replica on this host?) holds it; set SCHED_HTTP_PORT to a free port, ' +
              'SCHED_HTTP_HOST to another address, or SCHED_HTTP_PORT=0 to turn the endpoint off',
          ),
        );
      } else reject(err);
    });
    server.listen(opts.port, opts.host, () => resolve(server));
  });
}
