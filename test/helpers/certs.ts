/**
 * Credentials made by tests: TLS certificates (with the `openssl` command line) and a NATS
 * decentralised-auth chain (operator → account → user JWTs, signed with @nats-io/nkeys) with the
 * `.creds` file a user connects with. Everything is written under a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

export interface TempDir {
  readonly dir: string;
  file(name: string): string;
  remove(): void;
}

export function tempDir(prefix: string): TempDir {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, file: (name) => path.join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------
// TLS (openssl)
// ---------------------------------------------------------------------------

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface TlsFiles {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** another CA, which signed neither the server's nor the client's certificate */
  strangerCa: string;
  /** a client certificate of that other CA (the server does not trust it) */
  strangerCert: string;
  strangerKey: string;
}

/** A self-signed CA named `name` (EC P-256, 1 day). */
function makeCa(dir: string, name: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}-key.pem`], dir);
  openssl(['req', '-x509', '-new', '-key', `${name}-key.pem`, '-sha256', '-days', '1', '-subj', `/CN=${name}`, '-out', `${name}.pem`], dir);
}

/** A certificate `name` signed by CA `ca`, with the given X.509 v3 extensions. */
function makeCert(dir: string, ca: string, name: string, cn: string, extensions: string[]): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}-key.pem`], dir);
  openssl(['req', '-new', '-key', `${name}-key.pem`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], dir);
  writeFileSync(path.join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-days', '1', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`],
    dir,
  );
}

/**
 * A CA, a server certificate for 127.0.0.1/localhost and a client certificate signed by it, plus
 * a client certificate of an unrelated CA (for the "wrong certificate" case).
 */
export function makeTlsFiles(dir: string): TlsFiles {
  makeCa(dir, 'ca');
  makeCert(dir, 'ca', 'server', 'nats-server', [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  makeCert(dir, 'ca', 'client', 'scheduler', ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth']);
  makeCa(dir, 'stranger-ca');
  makeCert(dir, 'stranger-ca', 'stranger', 'scheduler', ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth']);
  const f = (n: string): string => path.join(dir, n);
  return {
    caCert: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server-key.pem'),
    clientCert: f('client.pem'),
    clientKey: f('client-key.pem'),
    strangerCa: f('stranger-ca.pem'),
    strangerCert: f('stranger.pem'),
    strangerKey: f('stranger-key.pem'),
  };
}

// ---------------------------------------------------------------------------
// NATS JWTs and .creds files (what `nsc` would make; @nats-io/jwt is not a dependency)
// ---------------------------------------------------------------------------

const enc = new TextEncoder();
const b64url = (b: Uint8Array | string): string => Buffer.from(typeof b === 'string' ? enc.encode(b) : b).toString('base64url');
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** RFC 4648 base32 without padding (the encoding of a JWT's `jti`). */
function base32(b: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/**
 * Encodes and signs a NATS JWT (v2): header `{typ: JWT, alg: ed25519-nkey}`, claims with `jti`
 * (base32 SHA-512/256 of the claims), signature = ed25519 over `header.claims` by `issuer`.
 */
export function encodeJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = {
    jti: '',
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats,
  };
  claims.jti = base32(createHash('sha512-256').update(JSON.stringify(claims)).digest());
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const body = b64url(JSON.stringify(claims));
  const sig = b64url(issuer.sign(enc.encode(`${head}.${body}`)));
  return `${head}.${body}.${sig}`;
}

/** The text of a `.creds` file (the format of `nsc generate creds`). */
export function credsFile(userJwt: string, userSeed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    userJwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    userSeed,
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export interface OperatorSetup {
  /** nats-server configuration (operator mode, memory resolver with the account preloaded) */
  serverConfig: string;
  /** a user of the account, as a `.creds` file text */
  creds(userName: string): string;
  /** a well-formed user of an account the server does not know */
  strangerCreds(): string;
}

/**
 * An operator with one account (JetStream enabled, no limits) and users signed by that account:
 * what `nsc add operator / add account / add user` and a memory resolver would give.
 */
export function makeOperatorSetup(): OperatorSetup {
  const operator = createOperator();
  const account = createAccount();
  const operatorJwt = encodeJwt(operator, operator.getPublicKey(), 'test-operator', { type: 'operator', version: 2 });
  const accountJwt = encodeJwt(operator, account.getPublicKey(), 'scheduler-account', {
    limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
    default_permissions: { pub: {}, sub: {} },
    type: 'account',
    version: 2,
  });
  // JetStream in operator mode needs a system account
  const system = createAccount();
  const systemJwt = encodeJwt(operator, system.getPublicKey(), 'SYS', { limits: UNLIMITED, default_permissions: { pub: {}, sub: {} }, type: 'account', version: 2 });
  const userOf = (acc: KeyPair, userName: string): string => {
    const user = createUser();
    const jwt = encodeJwt(acc, user.getPublicKey(), userName, { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: 'user', version: 2 });
    return credsFile(jwt, str(user.getSeed()));
  };
  return {
    serverConfig: [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      `resolver: MEMORY`,
      `resolver_preload: {`,
      `  ${system.getPublicKey()}: ${systemJwt}`,
      `  ${account.getPublicKey()}: ${accountJwt}`,
      `}`,
    ].join('\n'),
    creds: (userName) => userOf(account, userName),
    strangerCreds: () => userOf(createAccount(), 'stranger'),
  };
}
