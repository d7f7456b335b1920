import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import { jobMachine } from '../machines/jobMachine.js';
import { previewRuns } from '../schedule/preview.js';
import { authenticate, mayActOn, type Caller, type ConsoleToken } from './auth.js';
import { machineChart, type MachineChart } from './machine.js';
import { OrchestratorList } from './trail.js';
import { JetStreamTrail } from '../transport/trail.js';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const STATES = new Set(['idle', 'due', 'dispatched', 'running', 'paused']);
/** What the console may ask of a job; creating and updating jobs stays with the orchestrators. */
const ACTIONS = new Set(['pause', 'resume', 'run_now', 'backfill', 'delete']);
const MAX_BODY = 64 * 1024;
const MAX_STREAMS = 200;
/** The most events one timeline read returns (a job firing every second fills a day with 86,400 slots). */
const MAX_TRAIL_EVENTS = 20_000;
const DAY = 24 * 3600 * 1000;
/** The longest timeline range. */
const MAX_RANGE = 31 * DAY;

export interface ConsoleOptions {
  /** The scheduler's NATS connection: commands go to `P.<o>.schedule.<op>` like any client's. */
  nc: NatsConnection;
  prefix: string;
  /** Tokens that may act (src/console/auth.ts); none: the console is read-only. */
  tokens: readonly ConsoleToken[];
  /** Origins other than the console's own host that may send actions (a proxy's public address). */
  allowedOrigins?: readonly string[];
  log: Logger;
  /** Where the built page is (default: `dist/console/public` of this package). */
  assetsDir?: string;
  /** The replica serving the page, shown in its header. */
  replicaId?: () => string | null;
  version?: string;
  /** Timeout of each command request (ms). */
  requestTimeoutMs?: number;
}

export interface ConsoleHandler {
  /** Answers the request when its path is under `/console`; false when it is not the console's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Ends the live streams (at shutdown). */
  close(): void;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** The built page: next to this module once compiled (dist/console/public), or in dist/ when run from src/ by tsx. */
export function defaultAssetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'public'), path.resolve(here, '../../dist/console/public')];
  return candidates.find((d) => existsSync(path.join(d, 'console.js'))) ?? candidates[0]!;
}

function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const body = readFileSync(path.join(dir, name));
    out.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return out;
}

/**
 * Scripts and styles only from the scheduler itself (no inline script, no CDN), connections only
 * back to it, no framing, no forms posting elsewhere.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const HTTP_STATUS: Record<string, number> = {
  invalid_request: 400,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  overlap: 409,
  limit_exceeded: 429,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Reply {
  ok: boolean;
  error?: { code: string; message: string; details?: unknown };
  [k: string]: unknown;
}

/**
 * The web console (`/console`): pages, their assets and a small JSON API. Reads and actions are
 * commands to `P.<o>.schedule.<op>` on the scheduler's connection, so whichever replica serves the
 * page, the orchestrator's owner answers (forwarded as for any client). The timeline reads the
 * job's own subjects of `P_EVENTS` from a start time; the live view is a core subscription to
 * `P.<o>.events.<jobId>.>` sent on as server-sent events.
 */
export function createConsole(opts: ConsoleOptions): ConsoleHandler {
  const { nc, prefix, tokens, log } = opts;
  const js = jetstream(nc);
  const orchestrators = new OrchestratorList(js, `${prefix}_orchestrators`);
  const trail = new JetStreamTrail(js, prefix, `${prefix}_EVENTS`);
  const timeout = opts.requestTimeoutMs ?? 10_000;
  const assetsDir = opts.assetsDir ?? defaultAssetsDir();
  let assets: Map<string, Asset> | null = null;
  const assetsNow = (): Map<string, Asset> => {
    // loaded on first use; loaded again while missing (a build finishing after the start)
    if (!assets || assets.size === 0) assets = loadAssets(assetsDir);
    return assets;
  };
  let chart: MachineChart | null = null;
  const live = new Set<{ res: ServerResponse; sub: Subscription; ping: NodeJS.Timeout }>();

  const command = async (o: string, op: string, body: object): Promise<Reply> => {
    try {
      const m = await nc.request(`${prefix}.${o}.schedule.${op}`, JSON.stringify(body), { timeout });
      return m.json<Reply>();
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      const code = /no responders/i.test(text) || (err as { code?: string }).code === '503' ? 'unavailable' : 'timeout';
      return { ok: false, error: { code, message: code === 'unavailable' ? `no scheduler answers ${op} (${text})` : `${op}: no answer within ${timeout} ms` } };
    }
  };

  const statusOf = (r: Reply): number => (r.ok ? 200 : (HTTP_STATUS[r.error?.code ?? ''] ?? (r.error?.code === 'timeout' ? 504 : 502)));

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  };

  const shell = (res: ServerResponse, head: boolean): void => {
    const a = assetsNow();
    const js = a.get('console.js');
    const css = a.get('console.css');
    if (!js) {
      res.writeHead(503, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end(`the console's page is not built (${assetsDir}): run npm run build\n`);
      return;
    }
    const v = (x: Asset | undefined): string => (x ? `?v=${encodeURIComponent(x.etag.slice(1, 11))}` : '');
    const html =
      '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
      '<title>nats-scheduler console</title>\n<link rel="icon" href="data:,">\n' +
      (css ? `<link rel="stylesheet" href="/console/assets/console.css${v(css)}">\n` : '') +
      `<script type="module" src="/console/assets/console.js${v(js)}"></script>\n` +
      '</head>\n<body>\n<div id="app"><noscript>The console needs JavaScript.</noscript></div>\n</body>\n</html>\n';
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
    res.end(head ? undefined : html);
  };

  const asset = (req: IncomingMessage, res: ServerResponse, name: string): void => {
    const a = assetsNow().get(name);
    if (!a) throw new HttpError(404, 'not_found', 'no such asset');
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, { etag: a.etag }).end();
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': a.type, etag: a.etag, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  };

  const readBody = (req: IncomingMessage): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(new HttpError(413, 'invalid_request', `body larger than ${MAX_BODY} bytes`));
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => {
        try {
          const text = Buffer.concat(chunks).toString('utf8');
          const v: unknown = text === '' ? {} : JSON.parse(text);
          if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
          resolve(v as Record<string, unknown>);
        } catch (err) {
          reject(new HttpError(400, 'invalid_request', `body is not a JSON object: ${(err as Error).message}`));
        }
      });
      req.on('error', reject);
    });

  /**
   * CSRF: an action comes from the console's own page, by `fetch` with the token in an
   * Authorization header (never a cookie) and a JSON body; a browser sends an Origin with it,
   * which must be this host's (or one of SCHED_CONSOLE_ORIGINS). A form elsewhere can send neither.
   */
  const checkOrigin = (req: IncomingMessage): void => {
    const origin = req.headers.origin;
    if (origin === undefined) return; // not a browser (curl, a script): the bearer token is what counts
    const host = req.headers.host;
    const ok = (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)) || (opts.allowedOrigins ?? []).includes(origin);
    if (!ok) throw new HttpError(403, 'forbidden', `origin ${origin} may not send actions to this console`);
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'invalid_request', 'actions take a JSON body (content-type: application/json)');
  };

  const requireActor = (caller: Caller, o: string): void => {
    if (caller.kind === 'read-only') throw new HttpError(403, 'read_only', 'this console is read-only: no SCHED_CONSOLE_TOKEN or SCHED_CONSOLE_TOKENS is configured');
    if (caller.kind === 'anonymous') throw new HttpError(401, 'unauthorized', 'actions need a console token (Authorization: Bearer <token>)', { 'www-authenticate': 'Bearer realm="console"' });
    if (caller.kind === 'invalid') throw new HttpError(401, 'unauthorized', 'the console token is not valid', { 'www-authenticate': 'Bearer realm="console", error="invalid_token"' });
    if (!mayActOn(caller, o)) throw new HttpError(403, 'forbidden', `the console token may not act on orchestrator ${o}`);
  };

  const listJobs = async (o: string, q: URLSearchParams): Promise<Reply> => {
    const state = q.get('state') ?? '';
    if (state !== '' && !STATES.has(state)) throw new HttpError(400, 'invalid_request', `state must be one of ${[...STATES].join(', ')}`);
    const labels: Record<string, string> = {};
    for (const l of q.getAll('label')) {
      const i = l.indexOf('=');
      if (i <= 0) throw new HttpError(400, 'invalid_request', `label filter "${l}" is not key=value`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    const limit = Math.min(Math.max(Number(q.get('limit') ?? 50) || 50, 1), 500);
    const base = { ...(state !== '' && { state }), ...(Object.keys(labels).length > 0 && { labels }) };
    const cursor = q.get('cursor') || undefined;
    const search = (q.get('q') ?? '').trim().toLowerCase();
    if (search === '') return command(o, 'list', { ...base, limit, ...(cursor && { cursor }) });
    // search by id or name: pages of the list, at most SEARCH_BUDGET jobs a request, continued by its cursor
    const jobs: Record<string, unknown>[] = [];
    let next: string | undefined = cursor;
    let scanned = 0;
    for (let page = 0; page < 10; page++) {
      const r = await command(o, 'list', { ...base, limit: 250, ...(next && { cursor: next }) });
      if (!r.ok) return r;
      const got = (r.jobs as Record<string, unknown>[]) ?? [];
      scanned += got.length;
      for (const j of got) {
        if (String(j.jobId).toLowerCase().includes(search) || String(j.name ?? '').toLowerCase().includes(search)) jobs.push(j);
      }
      next = r.nextCursor as string | undefined;
      if (next === undefined || jobs.length >= limit) break;
    }
    return { ok: true, jobs, ...(next !== undefined && { nextCursor: next }), scanned, search };
  };

  /** The next runs: `preview` (SPEC §11) when the scheduler answers it, else `show`'s `nextRuns` annotated here. */
  const nextRuns = async (o: string, jobId: string, count: number): Promise<Reply> => {
    const shown = await command(o, 'show', { jobId });
    if (!shown.ok) return shown;
    const job = shown.job as { schedule: { kind: string; timezone?: string }; nextRunAt: string | null; startAt: string | null; endAt: string | null; jitterMs?: number; nextRuns?: string[] };
    if (job.nextRunAt === null) return { ok: true, runs: [], source: 'show' };
    const from = job.nextRunAt;
    const body = {
      schedule: job.schedule,
      ...(job.schedule.kind === 'interval' ? { startAt: from } : job.startAt !== null && { startAt: job.startAt }),
      ...(job.endAt !== null && { endAt: job.endAt }),
      from,
      count,
    };
    const p = await command(o, 'preview', body);
    if (p.ok && Array.isArray(p.runs)) return { ok: true, runs: p.runs, source: 'preview' };
    const zone = job.schedule.timezone ?? 'UTC';
    const runs = (job.nextRuns ?? []).map((at) => {
      const t = DateTime.fromISO(at, { zone });
      let note: string | undefined;
      if (job.schedule.kind === 'cron') {
        try {
          note = previewRuns({ schedule: { ...(job.schedule as object), kind: 'cron' } as never, from: Date.parse(at), count: 1 })[0]?.note;
        } catch {
          note = undefined;
        }
      }
      return { at, local: t.toFormat("yyyy-MM-dd'T'HH:mm:ss"), offset: t.toFormat('ZZ'), ...(note && { note }) };
    });
    return { ok: true, runs, source: 'show', previewError: p.error ?? null };
  };

  const explain = async (o: string, jobId: string, at: string): Promise<Reply> => {
    if (Number.isNaN(Date.parse(at))) throw new HttpError(400, 'invalid_request', 'at must be an ISO instant');
    return command(o, 'explain', { jobId, at });
  };

  const timeline = async (o: string, jobId: string, q: URLSearchParams): Promise<unknown> => {
    const to = q.get('to') ? Date.parse(q.get('to')!) : Date.now();
    const from = q.get('from') ? Date.parse(q.get('from')!) : to - DAY;
    if (Number.isNaN(from) || Number.isNaN(to) || from >= to) throw new HttpError(400, 'invalid_request', 'from and to must be ISO instants, from before to');
    if (to - from > MAX_RANGE) throw new HttpError(400, 'invalid_request', 'a timeline covers at most 31 days');
    const page = await trail.page({ orchestratorId: o, jobId, from, to, limit: MAX_TRAIL_EVENTS });
    return { ok: true, from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...page };
  };

  const liveStream = (req: IncomingMessage, res: ServerResponse, o: string, jobId: string): void => {
    if (live.size >= MAX_STREAMS) throw new HttpError(503, 'unavailable', `more than ${MAX_STREAMS} live views open`);
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    const sub = nc.subscribe(`${prefix}.${o}.events.${jobId}.>`, {
      callback: (err, m) => {
        if (err) return;
        let id = '';
        try {
          id = String((m.json<{ id?: unknown }>().id as string | undefined) ?? '');
        } catch {
          return;
        }
        res.write(`id: ${id.replace(/[\r\n]/g, '')}\nevent: audit\ndata: ${m.string().replace(/[\r\n]+/g, ' ')}\n\n`);
      },
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    const entry = { res, sub, ping };
    live.add(entry);
    const end = (): void => {
      clearInterval(ping);
      sub.unsubscribe();
      live.delete(entry);
    };
    req.on('close', end);
    // the subscription is in place once the server has it: then the page reads the job, missing nothing between
    void nc.flush().then(
      () => res.write('event: ready\ndata: {}\n\n'),
      () => undefined,
    );
  };

  const route = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const p = url.pathname;
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    let parts: string[];
    try {
      parts = p.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    } catch {
      throw new HttpError(400, 'invalid_request', 'malformed path');
    }
    // parts[0] === 'console'
    if (parts.length === 1 || (parts[1] === 'o' && (parts.length === 3 || (parts.length === 5 && parts[3] === 'jobs')))) {
      if (!get) throw new HttpError(405, 'invalid_request', 'GET only');
      if (parts.length >= 3 && !ID.test(parts[2]!)) throw new HttpError(404, 'not_found', 'not an orchestrator id');
      if (parts.length === 5 && !ID.test(parts[4]!)) throw new HttpError(404, 'not_found', 'not a job id');
      shell(res, method === 'HEAD');
      return;
    }
    if (parts[1] === 'assets' && parts.length === 3) {
      if (!get) throw new HttpError(405, 'invalid_request', 'GET only');
      asset(req, res, parts[2]!);
      return;
    }
    if (parts[1] !== 'api') throw new HttpError(404, 'not_found', 'no such page');
    const caller = authenticate(tokens, req.headers.authorization);
    const api = parts.slice(2);
    if (get && api.length === 1 && api[0] === 'info') {
      sendJson(res, 200, {
        ok: true,
        prefix,
        readOnly: tokens.length === 0,
        replicaId: opts.replicaId?.() ?? null,
        version: opts.version ?? null,
      });
      return;
    }
    if (get && api.length === 1 && api[0] === 'whoami') {
      if (caller.kind === 'invalid') throw new HttpError(401, 'unauthorized', 'the console token is not valid');
      sendJson(res, 200, { ok: true, readOnly: tokens.length === 0, caller: caller.kind, scope: caller.kind === 'token' ? caller.scope : null });
      return;
    }
    if (get && api.length === 1 && api[0] === 'orchestrators') {
      try {
        sendJson(res, 200, { ok: true, orchestrators: await orchestrators.list() });
      } catch (err) {
        throw new HttpError(503, 'unavailable', `cannot read ${prefix}_orchestrators: ${(err as Error).message}`);
      }
      return;
    }
    if (get && api.length === 1 && api[0] === 'machine') {
      chart ??= machineChart(jobMachine);
      sendJson(res, 200, { ok: true, machine: chart });
      return;
    }
    if (api[0] !== 'o' || api.length < 3 || !ID.test(api[1] ?? '') || api[2] !== 'jobs') throw new HttpError(404, 'not_found', 'no such endpoint');
    const o = api[1]!;
    if (api.length === 3) {
      if (!get) throw new HttpError(405, 'invalid_request', 'GET only');
      const r = await listJobs(o, url.searchParams);
      sendJson(res, statusOf(r), r);
      return;
    }
    const jobId = api[3]!;
    if (!ID.test(jobId)) throw new HttpError(404, 'not_found', 'not a job id');
    const sub = api.length === 4 ? '' : api[4]!;
    if (api.length > 5) throw new HttpError(404, 'not_found', 'no such endpoint');
    if (get) {
      let r: Reply;
      if (sub === '') r = await command(o, 'show', { jobId });
      else if (sub === 'runs') r = await nextRuns(o, jobId, Math.min(Math.max(Number(url.searchParams.get('count') ?? 10) || 10, 1), 100));
      else if (sub === 'explain') r = await explain(o, jobId, url.searchParams.get('at') ?? '');
      else if (sub === 'events') r = (await timeline(o, jobId, url.searchParams)) as Reply;
      else if (sub === 'live') return liveStream(req, res, o, jobId);
      else throw new HttpError(404, 'not_found', 'no such endpoint');
      sendJson(res, statusOf(r), r);
      return;
    }
    if (method !== 'POST') throw new HttpError(405, 'invalid_request', 'GET or POST');
    if (!ACTIONS.has(sub)) throw new HttpError(404, 'not_found', `no action ${sub}; actions: ${[...ACTIONS].join(', ')}`);
    checkOrigin(req);
    const b = await readBody(req);
    const dryRun = sub === 'backfill' && b.dryRun === true;
    if (!dryRun) requireActor(caller, o); // a dry run changes nothing: anyone who may read may preview it
    let body: Record<string, unknown>;
    if (sub === 'pause') body = { jobId, ...(typeof b.reason === 'string' && b.reason.trim() !== '' && { reason: b.reason.trim().slice(0, 500) }) };
    else if (sub === 'run_now') body = { jobId, ...(b.ignoreOverlap === true && { ignoreOverlap: true }) };
    else if (sub === 'backfill')
      body = { jobId, from: b.from, to: b.to, ...(typeof b.overlapPolicy === 'string' && { overlapPolicy: b.overlapPolicy }), ...(dryRun && { dryRun: true }) };
    else body = { jobId };
    const r = await command(o, sub, body);
    if (!dryRun) log.info({ orchestratorId: o, jobId, action: sub, ok: r.ok, code: r.error?.code, scope: caller.kind === 'token' ? caller.scope : null }, 'console action');
    sendJson(res, statusOf(r), r);
  };

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://console.invalid');
      if (url.pathname !== '/console' && !url.pathname.startsWith('/console/')) return false;
      route(req, res, url).catch((err: unknown) => {
        if (res.headersSent) {
          res.end();
          return;
        }
        if (err instanceof HttpError) {
          sendJson(res, err.status, { ok: false, error: { code: err.code, message: err.message } }, err.headers);
        } else {
          log.error({ err, path: url.pathname }, 'console request failed');
          sendJson(res, 500, { ok: false, error: { code: 'internal', message: 'console request failed' } });
        }
      });
      return true;
    },
    close() {
      for (const l of live) {
        clearInterval(l.ping);
        l.sub.unsubscribe();
        l.res.end();
      }
      live.clear();
    },
  };
}
