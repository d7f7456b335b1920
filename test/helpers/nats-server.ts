/**
 * Real nats-server test helper (in the spirit of nats.js `nst/src/launcher.ts`).
 *
 * Every call to {@link startNatsServer} launches its own nats-server child
 * process on a random free 127.0.0.1 port with JetStream enabled and a
 * temporary store directory. It never touches the system server on :4222.
 *
 * Binary lookup: `$NATS_SERVER_BIN`, else `nats-server` on PATH, else
 * `/usr/sbin/nats-server`.
 *
 * Set `NATS_SERVER_DEBUG=1` to echo the server's log output to stderr.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, rmSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface NatsServerOptions {
  /** extra nats-server config file text (e.g. authorization blocks). Port/store/jetstream are set by the helper. */
  config?: string;
  /** reuse a store dir (for restart tests) */
  storeDir?: string;
  port?: number;
}

export interface NatsServerHandle {
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** temporary JetStream store (mkdtemp under os.tmpdir()) */
  readonly storeDir: string;
  /** pid of the running server, undefined while stopped */
  readonly pid: number | undefined;
  /** SIGTERM then wait for exit (SIGKILL after 5 s). Keeps the store. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: no clean shutdown), then wait for exit. Keeps the store. */
  kill(): Promise<void>;
  /** start again on the same port with the same store (for outage tests). */
  start(): Promise<void>;
  /** stop and delete the store dir. Idempotent; safe to call in afterAll even if start failed. */
  dispose(): Promise<void>;
}

const DEFAULT_BIN = "/usr/sbin/nats-server";
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const PORT_ATTEMPTS = 5;
const OUTPUT_LINES_KEPT = 40;

// ---------------------------------------------------------------------------
// process-exit cleanup: never leave stray servers behind
// ---------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
/** temp dirs created by the helper and not yet disposed */
const liveTempDirs = new Set<string>();
let cleanupInstalled = false;

function cleanupEverything(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
  liveChildren.clear();
  for (const dir of liveTempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  liveTempDirs.clear();
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on("exit", cleanupEverything);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      cleanupEverything();
      // If nobody else handles this signal, restore the default behaviour
      // (terminate) by re-raising it without our listener.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

// ---------------------------------------------------------------------------
// binary lookup
// ---------------------------------------------------------------------------

const NOT_FOUND_MSG =
  "nats-server not found: install it (apt-get install -y nats-server) or set NATS_SERVER_BIN";

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findNatsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) {
    if (isExecutableFile(fromEnv)) return fromEnv;
    throw new Error(`${NOT_FOUND_MSG} (NATS_SERVER_BIN=${fromEnv} is not an executable file)`);
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "nats-server");
    if (isExecutableFile(candidate)) return candidate;
  }
  if (isExecutableFile(DEFAULT_BIN)) return DEFAULT_BIN;
  throw new Error(NOT_FOUND_MSG);
}

// ---------------------------------------------------------------------------
// ports
// ---------------------------------------------------------------------------

function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error("could not determine a free port"));
        return;
      }
      const { port } = addr;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

function tcpProbe(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// a single server process
// ---------------------------------------------------------------------------

class PortInUseError extends Error {}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

function tail(lines: string[]): string {
  return lines.length ? lines.join("\n") : "(no output)";
}

/**
 * Spawns nats-server and resolves once it printed "Server is ready" and a TCP
 * connect to its port succeeds. Rejects (after killing the child) otherwise.
 */
async function launch(bin: string, confFile: string, port: number): Promise<Running> {
  installCleanup();
  const child = spawn(bin, ["-c", confFile], { stdio: ["ignore", "pipe", "pipe"] });
  liveChildren.add(child);

  const lines: string[] = [];
  let partial = "";
  let ready = false;
  let exitInfo: string | undefined;
  let spawnError: Error | undefined;
  const debug = !!process.env.NATS_SERVER_DEBUG;

  const onData = (chunk: Buffer): void => {
    const text = partial + chunk.toString("utf8");
    const parts = text.split(/\r?\n/);
    partial = parts.pop() ?? "";
    for (const line of parts) {
      if (debug) process.stderr.write(`[nats-server :${port}] ${line}\n`);
      lines.push(line);
      if (lines.length > OUTPUT_LINES_KEPT) lines.shift();
      if (line.includes("Server is ready")) ready = true;
    }
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);

  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = signal ? `signal ${signal}` : `code ${code}`;
      liveChildren.delete(child);
      resolve();
    });
  });
  child.once("error", (err) => {
    spawnError = err;
    liveChildren.delete(child);
  });

  const fail = async (why: string): Promise<never> => {
    if (child.exitCode === null && child.signalCode === null && !spawnError) {
      child.kill("SIGKILL");
      await exited;
    }
    if (partial) lines.push(partial);
    const out = tail(lines);
    const msg = `nats-server (${bin}, port ${port}) ${why}\n--- last server output ---\n${out}`;
    if (/address already in use/i.test(out)) throw new PortInUseError(msg);
    throw new Error(msg);
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError) return fail(`failed to spawn: ${spawnError.message}`);
    if (exitInfo !== undefined) return fail(`exited before becoming ready (${exitInfo})`);
    if (ready && (await tcpProbe(port))) {
      return { child, exited };
    }
    await sleep(ready ? 50 : 25);
  }
  return fail(`did not become ready within ${READY_TIMEOUT_MS} ms`);
}

async function terminate(running: Running): Promise<void> {
  const { child, exited } = running;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    liveChildren.delete(child);
    return;
  }
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }, STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
    liveChildren.delete(child);
  }
}

// ---------------------------------------------------------------------------
// public API
// ---------------------------------------------------------------------------

function buildConfig(port: number, storeDir: string, extra?: string): string {
  return [
    "# generated by test/helpers/nats-server.ts",
    `listen: 127.0.0.1:${port}`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(storeDir)}`,
    `}`,
    extra ?? "",
    "",
  ].join("\n");
}

/**
 * Starts a private nats-server (JetStream enabled) and resolves when it is
 * ready to accept clients. On failure everything the helper created is
 * removed again before the error is thrown.
 *
 * `dispose()` removes the store dir only when the helper created it; a
 * caller-supplied `opts.storeDir` belongs to the caller and is kept.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = findNatsServerBinary();
  installCleanup();
  const confDir = await mkdtemp(path.join(os.tmpdir(), "nats-server-conf-"));
  liveTempDirs.add(confDir);
  const ownsStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(path.join(os.tmpdir(), "nats-server-store-")));
  if (ownsStore) liveTempDirs.add(storeDir);
  const confFile = path.join(confDir, "nats-server.conf");

  const cleanupDirs = async (): Promise<void> => {
    await rm(confDir, { recursive: true, force: true });
    liveTempDirs.delete(confDir);
    if (ownsStore) {
      await rm(storeDir, { recursive: true, force: true });
      liveTempDirs.delete(storeDir);
    }
  };

  let port = 0;
  let running: Running | undefined;
  try {
    const attempts = opts.port !== undefined ? 1 : PORT_ATTEMPTS;
    let lastErr: unknown;
    for (let i = 0; i < attempts && !running; i++) {
      port = opts.port ?? (await getFreePort());
      await writeFile(confFile, buildConfig(port, storeDir, opts.config));
      try {
        running = await launch(bin, confFile, port);
      } catch (err) {
        lastErr = err;
        if (!(err instanceof PortInUseError)) throw err;
      }
    }
    if (!running) throw lastErr;
  } catch (err) {
    await cleanupDirs();
    throw err;
  }

  let current: Running | undefined = running;
  let disposed = false;
  let pending: Promise<void> = Promise.resolve();
  // serialise stop/start/dispose so overlapping calls cannot race
  const serial = (fn: () => Promise<void>): Promise<void> => {
    const next = pending.then(fn, fn);
    pending = next.catch(() => undefined);
    return next;
  };

  const doStop = async (): Promise<void> => {
    const r = current;
    current = undefined;
    if (r) await terminate(r);
  };

  const finalPort = port;
  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${finalPort}`,
    port: finalPort,
    storeDir,
    get pid(): number | undefined {
      return current?.child.pid;
    },
    stop: () => serial(doStop),
    kill: () =>
      serial(async () => {
        const r = current;
        current = undefined;
        if (!r || r.child.exitCode !== null || r.child.signalCode !== null) return;
        r.child.kill("SIGKILL");
        await r.exited;
      }),
    start: () =>
      serial(async () => {
        if (disposed) throw new Error("nats-server handle was disposed");
        if (current && current.child.exitCode === null && current.child.signalCode === null) return;
        current = undefined;
        // config file still describes the same port and store
        current = await launch(bin, confFile, finalPort);
      }),
    dispose: () =>
      serial(async () => {
        if (disposed) return;
        disposed = true;
        await doStop();
        await cleanupDirs();
      }),
  };
  return handle;
}
