import { accessSync, constants, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection, type TlsOptions } from '@nats-io/transport-node';

/** The connection settings of SPEC §8, as the scheduler and `schedctl` read them from the environment. */
export interface NatsSettings {
  NATS_URL: string;
  NATS_USER?: string | undefined;
  NATS_PASS?: string | undefined;
  NATS_TOKEN?: string | undefined;
  /** a `.creds` file: user JWT and nkey seed (decentralised auth, `nsc generate creds`) */
  NATS_CREDS?: string | undefined;
  /** TLS: file of the CA certificate(s) to trust for the server's certificate (PEM) */
  NATS_CA?: string | undefined;
  /** TLS: client certificate file (PEM), for servers with `verify: true`; needs NATS_KEY */
  NATS_CERT?: string | undefined;
  /** TLS: client private key file (PEM); needs NATS_CERT */
  NATS_KEY?: string | undefined;
}

/** Thrown for settings that can never connect (a file that cannot be read, a certificate without key). */
export class ConnectionSettingsError extends Error {
  override readonly name = 'ConnectionSettingsError';
}

function readable(variable: string, file: string): string {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new ConnectionSettingsError(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return file;
}

/**
 * The `tls` option from NATS_CA / NATS_CERT / NATS_KEY, or undefined when none is set (TLS is then
 * still used if the server requires it, trusting the system's CAs). Setting any of them makes the
 * client insist on TLS.
 */
export function tlsOptions(s: NatsSettings): TlsOptions | undefined {
  const { NATS_CA: ca, NATS_CERT: cert, NATS_KEY: key } = s;
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConnectionSettingsError('NATS_CERT and NATS_KEY must be set together (client certificate and its private key)');
  }
  return {
    ...(ca !== undefined && { caFile: readable('NATS_CA', ca) }),
    ...(cert !== undefined && { certFile: readable('NATS_CERT', cert) }),
    ...(key !== undefined && { keyFile: readable('NATS_KEY', key) }),
  };
}

/**
 * Options for `connect()`: servers, credentials, TLS, and reconnecting forever. Throws
 * {@link ConnectionSettingsError} for a credentials or certificate file that cannot be read.
 */
export function connectionOptions(s: NatsSettings, name: string): ConnectionOptions {
  const tls = tlsOptions(s);
  return {
    servers: s.NATS_URL.split(','),
    name,
    maxReconnectAttempts: -1,
    // no async stack capture on every request: measurable CPU at a thousand dispatches a second
    noAsyncTraces: true,
    reconnectTimeWait: 500,
    ...(s.NATS_USER !== undefined && { user: s.NATS_USER, pass: s.NATS_PASS ?? '' }),
    ...(s.NATS_TOKEN !== undefined && { token: s.NATS_TOKEN }),
    ...(s.NATS_CREDS !== undefined && { authenticator: credsAuthenticator(readFileSync(readable('NATS_CREDS', s.NATS_CREDS))) }),
    ...(tls !== undefined && { tls }),
  };
}

/**
 * `connect(connectionOptions(s, name))`, with a clear error when TLS fails. nats.js (3.x) reports a
 * client certificate the server rejects (missing, or of a CA the server does not trust) only as a
 * `timeout` after 20 s: the server's TLS alert arrives after nats.js took the handshake as done,
 * and the client drops it and waits for its connect timeout. So when TLS is configured, one plain TLS
 * handshake is tried first and its failure is thrown as a {@link ConnectionSettingsError} naming
 * the cause. A server that cannot be reached is left to `connect` (and its reconnect policy).
 */
export async function connectNats(s: NatsSettings, name: string): Promise<NatsConnection> {
  const opts = connectionOptions(s, name);
  if (opts.tls) {
    const problem = await probeTls(s.NATS_URL.split(','), opts.tls);
    if (problem !== null) throw new ConnectionSettingsError(problem);
  }
  return connect(opts);
}

const PROBE_TIMEOUT_MS = 5_000;

/**
 * Opens a NATS connection to the first server that answers, upgrades it to TLS with `t` as
 * nats.js would, and says CONNECT + PING. Returns why TLS failed, or null when it worked (a PONG,
 * or any `-ERR` such as an authorization error: TLS itself was fine) or nothing could be learnt.
 */
export async function probeTls(servers: string[], t: TlsOptions): Promise<string | null> {
  const files = {
    ...(t.caFile !== undefined && { ca: readFileSync(t.caFile) }),
    ...(t.certFile !== undefined && { cert: readFileSync(t.certFile) }),
    ...(t.keyFile !== undefined && { key: readFileSync(t.keyFile) }),
  };
  for (const server of servers) {
    let url: URL;
    try {
      url = new URL(server.includes('://') ? server : `nats://${server}`);
    } catch {
      continue;
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 4222);
    const verdict = await probeOne(host, port, files);
    if (verdict !== undefined) return verdict;
  }
  return null;
}

/** A TLS error in words a deployer can act on. */
function explainTlsError(err: NodeJS.ErrnoException, sentCertificate: boolean): string {
  const code = err.code ?? '';
  if (/ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE)/.test(code)) {
    return sentCertificate
      ? `the server rejected the client certificate NATS_CERT (is it signed by a CA the server trusts?) [${code}]`
      : `the server requires a client certificate: set NATS_CERT and NATS_KEY [${code}]`;
  }
  if (/CERT|SIGNATURE|ALTNAME|SELF_SIGNED|VERIFY/i.test(code) || /certificate/i.test(err.message)) {
    return `the server's certificate is not trusted: ${err.message} (NATS_CA should name the CA that signed it) [${code}]`;
  }
  return err.message;
}

/** string: TLS failed (why); null: TLS worked; undefined: nothing learnt (unreachable, not NATS). */
function probeOne(host: string, port: number, files: tls.ConnectionOptions): Promise<string | null | undefined> {
  return new Promise((resolve) => {
    let secure: tls.TLSSocket | null = null;
    let settled = false;
    const where = `${host}:${port}`;
    const done = (v: string | null | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      secure?.destroy();
      plain.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), PROBE_TIMEOUT_MS);
    const plain = net.connect({ host, port });
    plain.once('error', () => done(undefined));
    let info = '';
    const onInfo = (chunk: Buffer): void => {
      info += chunk.toString('latin1');
      if (!info.includes('\r\n')) return;
      plain.off('data', onInfo);
      if (!info.startsWith('INFO ')) return done(undefined);
      let offered: { tls_required?: boolean; tls_available?: boolean };
      try {
        offered = JSON.parse(info.slice(5, info.indexOf('\r\n'))) as typeof offered;
      } catch {
        return done(undefined);
      }
      if (offered.tls_required !== true && offered.tls_available !== true) {
        return done(`TLS is configured (NATS_CA/NATS_CERT/NATS_KEY) but the server at ${where} does not offer TLS`);
      }
      secure = tls.connect({ socket: plain, ...(net.isIP(host) === 0 && { servername: host }), ...files, rejectUnauthorized: true });
      secure.once('error', (err: NodeJS.ErrnoException) => done(`TLS with ${where} failed: ${explainTlsError(err, files.cert !== undefined)}`));
      secure.once('secureConnect', () => {
        secure!.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":true,"lang":"probe","protocol":1}\r\nPING\r\n');
      });
      let reply = '';
      secure.on('data', (c: Buffer) => {
        reply += c.toString('latin1');
        if (/PONG|-ERR/.test(reply)) done(null);
      });
      secure.once('close', () => done(`TLS with ${where} failed: the server closed the connection after the handshake (client certificate rejected?)`));
    };
    plain.on('data', onInfo);
  });
}
