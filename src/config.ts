import { z } from 'zod';
import { PREFIX_PATTERN } from './contract/ids.js';
import { parseDuration } from './schedule/index.js';
import { parseConsoleTokens, tokenProblem } from './console/auth.js';

const duration = z.string().transform((s, ctx) => {
  try {
    return parseDuration(/^\d+$/.test(s) ? Number(s) : s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'invalid duration' });
    return z.NEVER;
  }
});
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A console token (`SCHED_CONSOLE_TOKEN`): at least 16 characters, no blanks, `:`, `;` or `,`. */
const consoleToken = z.string().superRefine((s, ctx) => {
  const problem = tokenProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
/** `SCHED_CONSOLE_TOKENS`: `token:acme,beta;token2:*` (src/console/auth.ts). */
const consoleTokenList = z.string().transform((s, ctx) => {
  try {
    return parseConsoleTokens(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `${err instanceof Error ? err.message : 'invalid'} (format: <token>:<orchestratorId>,<orchestratorId>;<token>:*)` });
    return z.NEVER;
  }
});
/** `SCHED_CONSOLE_ORIGINS`: comma-separated origins (`https://console.example.com`). */
const originList = z.string().transform((s, ctx) => {
  const origins = s.split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const o of origins) {
    let ok = false;
    try {
      const u = new URL(o);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o.replace(/\/$/, '');
    } catch {
      ok = false;
    }
    if (!ok) {
      ctx.addIssue({ code: 'custom', message: `"${o}" is not an origin (scheme://host[:port], no path)` });
      return z.NEVER;
    }
  }
  return origins.map((o) => o.replace(/\/$/, ''));
});

/** Configuration by environment (SPEC §8). Bad values stop start-up with one clear message. */
const envSchema = z.object({
  NATS_URL: z.string().min(1).optional(),
  /** Port of the default address (`nats://127.0.0.1:<port>`) and of the embedded server. */
  SCHED_DEFAULT_NATS_PORT: int(1, 65535).default(4222),
  NATS_USER: z.string().optional(),
  NATS_PASS: z.string().optional(),
  NATS_TOKEN: z.string().optional(),
  NATS_CREDS: z.string().optional(),
  /** TLS: CA certificate file that signed the server's certificate (PEM). */
  NATS_CA: z.string().optional(),
  /** TLS client certificate (PEM), for a server with `verify: true`; goes with NATS_KEY. */
  NATS_CERT: z.string().optional(),
  /** TLS client private key (PEM). */
  NATS_KEY: z.string().optional(),
  SCHED_PREFIX: z
    .string()
    .regex(PREFIX_PATTERN, 'must be a single subject token of letters, digits, _ or - (at most 32)')
    .default('sched'),
  SCHED_HTTP_PORT: int(0, 65535).default(9464),
  /** Bind address of the HTTP endpoint; unset: every interface. */
  SCHED_HTTP_HOST: z.string().min(1).optional(),
  /** Where `npm start`'s embedded nats-server keeps its store (`<dir>/nats`), relative to the cwd. */
  SCHED_DATA_DIR: z.string().min(1).default('.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SCHED_MAX_INPUT_BYTES: int(1, 64 * 1024 * 1024).default(256 * 1024),
  SCHED_MAX_JOBS_PER_ORCHESTRATOR: int(1, 10_000_000).default(10_000),
  /** Slots that may wait under `buffer_all` (SPEC §10); beyond, a slot is skipped (`buffer_full`). */
  SCHED_MAX_BUFFERED: int(1, 100_000).default(1000),
  /** How long the write of an accepted dispatch may wait to go out with the job's next change (its completion); 0: at once. */
  SCHED_COALESCE_MS: int(0, 10_000).default(50),
  /** Slots one backfill may have (SPEC §10); more is `limit_exceeded`. */
  SCHED_MAX_BACKFILL: int(1, 1_000_000).default(10_000),
  SCHED_MIN_INTERVAL_MS: duration.default(1000),
  SCHED_EVENTS_MAX_AGE: duration.default(7 * 24 * 3600 * 1000),
  SCHED_LEASE_TTL_MS: duration.default(10_000),
  /** Replicas of every bucket and stream (SPEC §12); unset: 3 on a JetStream cluster of 3 or more, else 1. */
  SCHED_STREAM_REPLICAS: int(1, 5).optional(),
  /** Live inspection WebSocket (loopback); unset disables it. */
  SCHED_INSPECT_PORT: int(0, 65535).optional(),
  /** Commands a second per orchestrator (token bucket, burst twice that); 0 disables the limit. */
  SCHED_RATE_LIMIT: int(0, 1_000_000).default(500),
  /** The web console at `/console` on SCHED_HTTP_PORT (src/console): `on` (default) or `off`. */
  SCHED_CONSOLE: z.enum(['on', 'off']).default('on'),
  /** Operator token of the console: may act on every orchestrator. No token at all: the console is read-only. */
  SCHED_CONSOLE_TOKEN: consoleToken.optional(),
  /** Scoped console tokens: `token1:acme,beta;token2:*` (`*`: every orchestrator). */
  SCHED_CONSOLE_TOKENS: consoleTokenList.optional(),
  /** Origins besides the console's own (a reverse proxy's public address) allowed to send actions. */
  SCHED_CONSOLE_ORIGINS: originList.optional(),
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = envSchema.safeParse(present);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return r.data;
}
