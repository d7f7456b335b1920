/**
 * TLS with client certificates (NATS_CA / NATS_CERT / NATS_KEY) against a nats-server that
 * requires them (`verify: true`); certificates are made by the test with openssl.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { connectNats, connectionOptions, ConnectionSettingsError, type NatsSettings } from '../../src/transport/connection.js';
import { makeTlsFiles, tempDir, type TempDir, type TlsFiles } from '../helpers/certs.js';
import { Orchestrator, uniquePrefix } from '../helpers/harness.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { spawnScheduler } from '../helpers/scheduler-process.js';

const tlsBlock = (t: TlsFiles, verify: boolean): string =>
  [
    'tls {',
    `  cert_file: ${JSON.stringify(t.serverCert)}`,
    `  key_file: ${JSON.stringify(t.serverKey)}`,
    `  ca_file: ${JSON.stringify(t.caCert)}`,
    `  verify: ${verify}`,
    '  timeout: 2',
    '}',
  ].join('\n');

describe('TLS with client certificates', () => {
  let dir: TempDir;
  let t: TlsFiles;
  let mutual: NatsServerHandle; // verify: true
  let serverOnly: NatsServerHandle; // TLS without client certificates
  let plain: NatsServerHandle; // no TLS at all
  let client: NatsConnection;
  const P = uniquePrefix();

  beforeAll(async () => {
    dir = tempDir('sched-tls-');
    t = makeTlsFiles(dir.dir);
    [mutual, serverOnly, plain] = await Promise.all([
      startNatsServer({ config: tlsBlock(t, true) }),
      startNatsServer({ config: tlsBlock(t, false) }),
      startNatsServer(),
    ]);
    client = await connect({ servers: mutual.url, tls: { caFile: t.caCert, certFile: t.clientCert, keyFile: t.clientKey } });
  });
  afterAll(async () => {
    await client?.close();
    await Promise.all([mutual?.dispose(), serverOnly?.dispose(), plain?.dispose()]);
    dir?.remove();
  });

  const settings = (url: string, s: Omit<NatsSettings, 'NATS_URL'>): NatsSettings => ({ NATS_URL: url, ...s });
  const refusal = (p: Promise<NatsConnection>): Promise<Error> =>
    p.then(
      async (nc) => {
        await nc.close();
        throw new Error('connected, but should have been refused');
      },
      (e: unknown) => e as Error,
    );

  it('the scheduler process connects with NATS_CA/NATS_CERT/NATS_KEY, becomes ready and answers commands', async () => {
    const proc = await spawnScheduler({ NATS_URL: mutual.url, SCHED_PREFIX: P, NATS_CA: t.caCert, NATS_CERT: t.clientCert, NATS_KEY: t.clientKey });
    try {
      const r = await new Orchestrator(client, P, 'acme').cmd('create', { jobId: 'tls', schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'run' } });
      expect(r).toMatchObject({ ok: true, job: { orchestratorId: 'acme', jobId: 'tls' } });
    } finally {
      expect(await proc.kill('SIGTERM')).toBe(0);
    }
  }, 60_000);

  it('the scheduler process stops with a clear message for an untrusted server certificate; an unreadable key is named', async () => {
    const refused = (env: Record<string, string>) =>
      spawnScheduler({ NATS_URL: mutual.url, SCHED_PREFIX: P, ...env }).then(
        async (p) => {
          await p.kill('SIGKILL');
          return 'started';
        },
        (e: unknown) => (e as Error).message,
      );
    const untrusted = await refused({ NATS_CA: t.strangerCa, NATS_CERT: t.clientCert, NATS_KEY: t.clientKey });
    expect(untrusted).toMatch(/scheduler exited \(1\) before ready/);
    expect(untrusted).toMatch(/cannot connect to NATS at .*(unable to verify|certificate)/);
    // an unreadable key file is named before any connection is tried (checked in this process)
    expect(() => connectionOptions(settings(mutual.url, { NATS_CA: t.caCert, NATS_CERT: t.clientCert, NATS_KEY: dir.file('absent-key.pem') }), 'x')).toThrow(
      /NATS_KEY: cannot read .*absent-key\.pem \(ENOENT\)/,
    );
  }, 60_000);

  it('a client certificate the server does not accept, or none, is refused at once with the reason', async () => {
    const none = await refusal(connectNats(settings(mutual.url, { NATS_CA: t.caCert }), 'test'));
    expect(none).toBeInstanceOf(ConnectionSettingsError);
    expect(none.message).toMatch(/TLS with 127\.0\.0\.1:\d+ failed: the server requires a client certificate: set NATS_CERT and NATS_KEY/);
    const stranger = await refusal(connectNats(settings(mutual.url, { NATS_CA: t.caCert, NATS_CERT: t.strangerCert, NATS_KEY: t.strangerKey }), 'test'));
    expect(stranger.message).toMatch(/the server rejected the client certificate NATS_CERT/);
    const untrusted = await refusal(connectNats(settings(mutual.url, { NATS_CA: t.strangerCa, NATS_CERT: t.clientCert, NATS_KEY: t.clientKey }), 'test'));
    expect(untrusted.message).toMatch(/the server's certificate is not trusted/);
    const noTls = await refusal(connectNats(settings(plain.url, { NATS_CA: t.caCert }), 'test'));
    expect(noTls.message).toMatch(/does not offer TLS/);
  });

  it('settings that can never work are refused before connecting', () => {
    expect(() => connectionOptions(settings(mutual.url, { NATS_CERT: t.clientCert }), 'x')).toThrow(/NATS_CERT and NATS_KEY must be set together/);
    expect(() => connectionOptions(settings(mutual.url, { NATS_CA: dir.file('nope.pem') }), 'x')).toThrow(/NATS_CA: cannot read .*nope\.pem \(ENOENT\)/);
    expect(connectionOptions(settings(mutual.url, { NATS_CA: t.caCert, NATS_CERT: t.clientCert, NATS_KEY: t.clientKey }), 'x').tls).toEqual({
      caFile: t.caCert,
      certFile: t.clientCert,
      keyFile: t.clientKey,
    });
    expect(connectionOptions(settings(plain.url, {}), 'x').tls).toBeUndefined();
  });

  it('connectNats: a good certificate connects with TLS; a TLS server without client certificates needs only NATS_CA', async () => {
    const nc = await connectNats(settings(mutual.url, { NATS_CA: t.caCert, NATS_CERT: t.clientCert, NATS_KEY: t.clientKey }), 'test');
    expect(nc.info?.tls_required).toBe(true);
    await nc.flush();
    await nc.close();
    const one = await connectNats(settings(serverOnly.url, { NATS_CA: t.caCert }), 'test');
    expect(one.info?.tls_required).toBe(true);
    await one.close();
    // without NATS_CA the server's certificate (of a private CA) is not trusted
    const err = await refusal(connect(connectionOptions(settings(serverOnly.url, {}), 'test')));
    expect(err.message).toMatch(/certificate/);
  });
});
