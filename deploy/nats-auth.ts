/**
 * Generates the `accounts { ... }` block of a nats-server (v2.9+) configuration for one scheduler
 * deployment (SPEC §3). `deploy/nats-server.conf` is this generator's output for prefix `sched`
 * and orchestrators `acme` and `globex`; test/integration/auth.test.ts checks that the two agree
 * and runs the scheduler against the same block with a test prefix.
 *
 *   npx tsx deploy/nats-auth.ts <prefix> <orchestratorId>... > nats-server.conf
 *
 * Why accounts and not only per-user permissions in one account: NATS permissions check the
 * subject a client publishes to, never the reply subject it asks for. In a single account an
 * orchestrator can send a command, or publish a completion as a request, with a reply subject of
 * its choosing; the scheduler (allowed to publish events) or JetStream (which sends the PubAck
 * with the account's authority) then publishes on it for them: a reply lands in another
 * orchestrator's `events` subject (and so in the audit stream), `$JS.API.STREAM.PURGE.P_EVENTS`
 * purges the audit stream, `$KV.P_jobs.<other>.<job>` overwrites another orchestrator's job.
 * Across accounts a service import replaces the reply subject with a private `_R_.…` one, so
 * nothing an orchestrator sends can make anyone publish in the scheduler's account.
 *
 * Layout: the scheduler's account holds JetStream (KV buckets, streams) and exports the services
 * `P.*.schedule.*` (commands) and `P.*.execution.*` (completions, heartbeats) and the stream
 * `P.*.events.>`; each orchestrator has an account that imports exactly its own subtree of those
 * and exports `P.<id>.dispatch.>` to the scheduler's account, which imports it. Users' permissions
 * in each account repeat the same limits (defence in depth, and a clear error instead of silence).
 *
 * Passwords are not in the file: each is a nats-server variable (`$NATS_PASS_<USER>`) that the
 * server reads from its environment when it starts.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface AuthOptions {
  /** SCHED_PREFIX of the deployment (a single subject token) */
  prefix: string;
  /** orchestrator ids (SPEC §2); each gets an account `ORCH_<id>` with one user named `<id>` */
  orchestrators: readonly string[];
  /** user name of the scheduler (every replica connects as this user); default `scheduler` */
  schedulerUser?: string;
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** The environment variable nats-server takes a user's password from: `NATS_PASS_ACME` for `acme`. */
export function passwordVariable(user: string): string {
  return `NATS_PASS_${user.toUpperCase().replace(/-/g, '_')}`;
}

/** Account of the scheduler of deployment `prefix` (holds its JetStream streams and buckets). */
export const schedulerAccount = (prefix: string): string => `SCHEDULER_${prefix}`;
/** Account of one orchestrator. */
export const orchestratorAccount = (id: string): string => `ORCH_${id}`;

/** Subjects the scheduler publishes to (directly or through JetStream), in its account. */
export function schedulerPublish(prefix: string): string[] {
  return [
    `${prefix}.*.dispatch.>`, // dispatch requests (SPEC §5), imported from each orchestrator's account
    `${prefix}.*.events.>`, // audit events, published through JetStream (SPEC §7)
    `$JS.API.>`, // JetStream API: streams, consumers, KV buckets, message gets, pull requests
    `$KV.${prefix}_jobs.>`, // job records
    `$KV.${prefix}_leases.>`, // replica leases (SPEC §9)
    `$KV.${prefix}_orchestrators.>`, // the orchestrators that have jobs (replicas share them out)
    `$JS.ACK.${prefix}_EXECUTIONS.>`, // acks of the durable consumer on P_EXECUTIONS
    `_SCHED.${prefix}.>`, // a command forwarded to the replica that owns the orchestrator
  ];
}

/** Subjects the scheduler subscribes to, in its account. */
export function schedulerSubscribe(prefix: string): string[] {
  return [
    `${prefix}.*.schedule.*`, // commands (queue group P_scheduler)
    `_INBOX.>`, // its own replies: JetStream API, pulled messages, dispatch replies
    `_SCHED.${prefix}.>`, // commands forwarded by another replica
    `$SRV.>`, // service discovery (nats micro): PING, INFO, STATS
  ];
}

export function orchestratorPublish(prefix: string, id: string): string[] {
  return [`${prefix}.${id}.schedule.*`, `${prefix}.${id}.execution.*`];
}

export function orchestratorSubscribe(prefix: string, id: string): string[] {
  return [`${prefix}.${id}.dispatch.>`, `${prefix}.${id}.events.>`, `_INBOX.>`];
}

const q = (s: string): string => JSON.stringify(s);
const list = (indent: string, items: readonly string[]): string =>
  `[\n${items.map((s) => `${indent}  ${q(s)}`).join('\n')}\n${indent}]`;

function user(name: string, publish: string[], subscribe: string[]): string[] {
  const i = '          ';
  return [
    `      {`,
    `        user: ${q(name)}`,
    `        password: $${passwordVariable(name)}`,
    `        permissions: {`,
    `          publish: { allow: ${list(i, publish)} }`,
    `          subscribe: { allow: ${list(i, subscribe)} }`,
    `          # may answer the requests it receives (one reply each, to the request's reply subject)`,
    `          allow_responses: true`,
    `        }`,
    `      }`,
  ];
}

/** The `accounts { ... }` block (nats-server 2.9 configuration syntax). */
export function accountsBlock(o: AuthOptions): string {
  const P = o.prefix;
  const schedUser = o.schedulerUser ?? 'scheduler';
  for (const t of [P, schedUser, ...o.orchestrators]) {
    if (!TOKEN.test(t)) throw new Error(`"${t}" is not a single subject token (^[A-Za-z0-9_-]{1,64}$)`);
  }
  const S = schedulerAccount(P);
  const orchAccounts = o.orchestrators.map(orchestratorAccount);
  const to = `accounts: [${orchAccounts.map(q).join(', ')}]`;
  const lines: string[] = [
    `accounts {`,
    `  # the scheduler of deployment "${P}": JetStream (buckets ${P}_jobs, ${P}_leases; streams ${P}_EXECUTIONS, ${P}_EVENTS)`,
    `  ${q(S)}: {`,
    `    jetstream: enabled`,
    `    users: [`,
    ...user(schedUser, schedulerPublish(P), schedulerSubscribe(P)),
    `    ]`,
    `    exports: [`,
    `      # each orchestrator's account imports only its own part of these`,
    `      { service: ${q(`${P}.*.schedule.*`)}, ${to} }`,
    `      { service: ${q(`${P}.*.execution.*`)}, ${to} }`,
    `      { stream: ${q(`${P}.*.events.>`)}, ${to} }`,
    `    ]`,
    `    imports: [`,
    ...o.orchestrators.map((id) => `      { service: { account: ${q(orchestratorAccount(id))}, subject: ${q(`${P}.${id}.dispatch.>`)} } }`),
    `    ]`,
    `  }`,
  ];
  for (const id of o.orchestrators) {
    lines.push(
      `  # orchestrator "${id}"`,
      `  ${q(orchestratorAccount(id))}: {`,
      `    users: [`,
      ...user(id, orchestratorPublish(P, id), orchestratorSubscribe(P, id)),
      `    ]`,
      `    exports: [`,
      `      { service: ${q(`${P}.${id}.dispatch.>`)}, accounts: [${q(S)}] }`,
      `    ]`,
      `    imports: [`,
      `      { service: { account: ${q(S)}, subject: ${q(`${P}.${id}.schedule.*`)} } }`,
      `      { service: { account: ${q(S)}, subject: ${q(`${P}.${id}.execution.*`)} } }`,
      `      { stream: { account: ${q(S)}, subject: ${q(`${P}.${id}.events.>`)} } }`,
      `    ]`,
      `  }`,
    );
  }
  lines.push(`}`, ``);
  return lines.join('\n');
}

/** The whole example file (deploy/nats-server.conf): server settings and the accounts block. */
export function exampleConfig(o: AuthOptions): string {
  const vars = [o.schedulerUser ?? 'scheduler', ...o.orchestrators].map((u) => `$${passwordVariable(u)}`).join(', ');
  return [
    `# nats-server (v2.9+) configuration for a scheduler deployment with SCHED_PREFIX=${o.prefix}.`,
    `# Generated by: npx tsx deploy/nats-auth.ts ${o.prefix} ${o.orchestrators.join(' ')}`,
    `# (see deploy/README.md). Passwords are read from the server's environment:`,
    `# ${vars}.`,
    ``,
    `listen: 0.0.0.0:4222`,
    ``,
    `jetstream {`,
    `  store_dir: /var/lib/nats`,
    `}`,
    ``,
    `# To require TLS with client certificates signed by your CA, uncomment:`,
    `# tls {`,
    `#   cert_file: /etc/nats/server-cert.pem`,
    `#   key_file: /etc/nats/server-key.pem`,
    `#   ca_file: /etc/nats/ca.pem`,
    `#   verify: true`,
    `# }`,
    ``,
    accountsBlock(o),
  ].join('\n');
}

// CLI: npx tsx deploy/nats-auth.ts <prefix> <orchestratorId>...
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [prefix, ...orchestrators] = process.argv.slice(2);
  if (prefix === undefined) {
    process.stderr.write('usage: npx tsx deploy/nats-auth.ts <prefix> <orchestratorId>...\n');
    process.exit(2);
  }
  process.stdout.write(exampleConfig({ prefix, orchestrators }));
}
