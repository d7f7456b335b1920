import { readFileSync } from 'node:fs';
import { credsAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';

/** The connection settings of SPEC §8, as the scheduler and `schedctl` read them from the environment. */
export interface NatsSettings {
  NATS_URL: string;
  NATS_USER?: string | undefined;
  NATS_PASS?: string | undefined;
  NATS_TOKEN?: string | undefined;
  NATS_CREDS?: string | undefined;
}

/** Options for `connect()`: servers, credentials, and reconnecting forever. */
export function connectionOptions(s: NatsSettings, name: string): ConnectionOptions {
  return {
    servers: s.NATS_URL.split(','),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    ...(s.NATS_USER !== undefined && { user: s.NATS_USER, pass: s.NATS_PASS ?? '' }),
    ...(s.NATS_TOKEN !== undefined && { token: s.NATS_TOKEN }),
    ...(s.NATS_CREDS !== undefined && { authenticator: credsAuthenticator(readFileSync(s.NATS_CREDS)) }),
  };
}
