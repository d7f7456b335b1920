import path from 'node:path';
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from './config.js';
import { answers, startEmbeddedNats, type EmbeddedNats } from './runtime/embedded.js';
import { HttpPortInUseError, startHttpServer } from './runtime/http.js';
import { startInspectionServer, type InspectionServer } from './runtime/inspection.js';
import { Metrics } from './runtime/metrics.js';
import { Scheduler } from './runtime/scheduler.js';
import { connectNats } from './transport/connection.js';
import { consoleTokens } from './console/auth.js';
import { createConsole, type ConsoleHandler } from './console/server.js';
import { VERSION } from './runtime/version.js';

/** A clean stop (SIGTERM or SIGINT) that takes longer than this exits 1. */
const SHUTDOWN_DEADLINE_MS = 10_000;
/** A repeat of a signal sooner than this after the first is a duplicate delivery, not a second request. */
const DUPLICATE_SIGNAL_MS = 2_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`scheduler: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'scheduler', prefix: config.SCHED_PREFIX } });

  let url = config.NATS_URL;
  let embedded: EmbeddedNats | null = null;
  if (url === undefined) {
    const port = config.SCHED_DEFAULT_NATS_PORT;
    url = `nats://127.0.0.1:${port}`;
    if (!(await answers('127.0.0.1', port))) {
      try {
        embedded = await startEmbeddedNats(port, path.resolve(config.SCHED_DATA_DIR, 'nats'), log);
      } catch (err) {
        process.stderr.write(`scheduler: ${(err as Error).message}\n`);
        process.exit(1);
      }
    }
  }
  let nc;
  let leaseNc;
  try {
    nc = await connectNats({ ...config, NATS_URL: url }, `scheduler:${config.SCHED_PREFIX}`);
    // Lease renewals get a connection of their own: on the main one they would queue behind job
    // writes under load, and a replica could lose its leases while it is only busy.
    leaseNc = await connectNats({ ...config, NATS_URL: url }, `scheduler-leases:${config.SCHED_PREFIX}`);
  } catch (err) {
    process.stderr.write(`scheduler: cannot connect to NATS at ${url}: ${(err as Error).message}\n`);
    await embedded?.stop();
    process.exit(1);
  }
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') log.warn({ status: s.type }, 'nats connection');
    }
  })();

  let scheduler: Scheduler | null = null;
  let http: Awaited<ReturnType<typeof startHttpServer>> | null = null;
  let inspection: InspectionServer | null = null;
  let webConsole: ConsoleHandler | null = null;
  let booting: Promise<unknown> = Promise.resolve();
  // One shutdown per process. A repeat of the signal within DUPLICATE_SIGNAL_MS is the same request
  // delivered twice (Ctrl-C reaches `npm start` and the scheduler, and npm forwards it as well), so
  // it is ignored; a repeat after that means "stop now" and exits at once (130).
  let stopping: { signal: string; at: number } | null = null;
  const shutdown = (signal: string): void => {
    if (stopping) {
      if (Date.now() - stopping.at < DUPLICATE_SIGNAL_MS) return;
      log.warn({ signal }, 'second signal during shutdown: exiting now without finishing it');
      process.exit(130);
    }
    stopping = { signal, at: Date.now() };
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error(`shutdown took more than ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    force.unref();
    void (async () => {
      await booting.catch(() => undefined);
      await scheduler?.stop();
      webConsole?.close();
      http?.close();
      await inspection?.close();
      await nc.drain().catch(() => undefined);
      await leaseNc.drain().catch(() => undefined);
      await embedded?.stop();
      log.info('stopped');
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  booting = (async () => {
    const metrics = new Metrics();
    // the web console (src/console) on the same port: commands on this connection, like any client's
    if (config.SCHED_HTTP_PORT !== 0 && config.SCHED_CONSOLE === 'on') {
      webConsole = createConsole({
        nc,
        prefix: config.SCHED_PREFIX,
        tokens: consoleTokens(config.SCHED_CONSOLE_TOKEN, config.SCHED_CONSOLE_TOKENS),
        ...(config.SCHED_CONSOLE_ORIGINS !== undefined && { allowedOrigins: config.SCHED_CONSOLE_ORIGINS }),
        log: log.child({ component: 'console' }),
        replicaId: () => scheduler?.replicaId ?? null,
        version: VERSION,
      });
    }
    const routes = webConsole ? webConsole.handle : undefined;
    http =
      config.SCHED_HTTP_PORT === 0
        ? null
        : await startHttpServer({
            port: config.SCHED_HTTP_PORT,
            ...(config.SCHED_HTTP_HOST !== undefined && { host: config.SCHED_HTTP_HOST }),
            readiness: () => scheduler?.readiness() ?? { ready: false, reasons: ['starting'] },
            registry: metrics.registry,
            ...(routes && { routes }),
            ownership: () => {
              if (!scheduler) return null;
              const overdue = scheduler.overdueJobs();
              return {
                replicaId: scheduler.replicaId,
                orchestrators: scheduler.ownedOrchestrators().sort(),
                // SPEC §11: stalled schedules (the watchdog's last look), the first 10 of them
                overdueJobs: { count: overdue.length, jobs: overdue.slice(0, 10) },
              };
            },
          });
    if (config.SCHED_INSPECT_PORT !== undefined) {
      inspection = await startInspectionServer(config.SCHED_INSPECT_PORT, log, function* () {
        if (scheduler) for (const a of scheduler.jobActors()) yield a.ref;
      });
      log.info({ port: inspection.port }, 'inspection endpoint (ws, loopback)');
    }
    const inspect = inspection?.inspect;
    scheduler = await Scheduler.start({ config, nc, leaseNc, log, metrics, ...(inspect && { inspect }) });
  })();
  await booting;
}

main().catch((err: unknown) => {
  if (err instanceof HttpPortInUseError) {
    process.stderr.write(`scheduler: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`scheduler: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
