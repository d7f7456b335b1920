/**
 * Hostile input (issue 4, points 3 and 5): every command subject, the completion and the heartbeat
 * subjects take generated payloads (garbage bytes, invalid UTF-8, JSON non-objects, 10,000-deep
 * nesting, `__proto__` keys, hostile ids, dates and durations at the edges, rare/never-matching
 * cron expressions, random valid specs and mutations of them) against a real scheduler.
 *
 * Properties: every command gets a well-formed reply whose error code is one of SPEC §4 (never
 * `internal`) with the matching `Nats-Service-Error-Code`; the process never throws out
 * (uncaughtException/unhandledRejection recorder) and keeps answering; refused commands and
 * garbage completions/heartbeats change no job; every garbage completion is audited as
 * `execution.completion_rejected`; refusals are logged at warn with orchestrator, subject and
 * reason, never the payload.
 *
 * HOSTILE_RUNS (default 1000) sets the cases per subject.
 */
import { Writable } from 'node:stream';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { MAX_JSON_DEPTH } from '../../src/transport/commandServer.js';
import * as A from '../helpers/arbitraries.js';
import { Orchestrator, TestBed, sleep, uniquePrefix, until, type AuditEventWire, type SchedulerUnderTest } from '../helpers/harness.js';

const RUNS = Number(process.env.HOSTILE_RUNS ?? 1000);
const PROPERTY_TIMEOUT = 120_000;

/** SPEC §4 codes a client may see; `internal` is a bug and never acceptable here. */
const CODES: Record<string, number> = {
  invalid_request: 400,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  overlap: 409,
  limit_exceeded: 429,
  unavailable: 503,
};
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const EXEC_ID = /^[A-Za-z0-9_-]{1,128}$/;
const OPS = ['create', 'list', 'show', 'update', 'pause', 'resume', 'run_now', 'delete', 'backfill', 'preview', 'explain'] as const;
const OUTCOMES = ['dispatched', 'skipped', 'buffered', 'cancelled_other', 'missed', 'paused', 'exhausted', 'not_yet', 'before_start', 'after_end', 'no_slot', 'unknown'];

interface WireReply {
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

async function send(nc: NatsConnection, subject: string, payload: A.Payload): Promise<WireReply> {
  const m = await nc.request(subject, payload.bytes, { timeout: 10_000 });
  const headers: Record<string, string> = {};
  if (m.headers) for (const [k, v] of m.headers) headers[k] = v.join(',');
  return { body: JSON.parse(m.string()) as Record<string, unknown>, headers };
}

/** Depth of arrays/objects in JSON text (strings skipped), like a parser would count it. */
function jsonDepth(bytes: Uint8Array): number {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

/** Every `…At` member of a job view is an ISO instant or null. */
function checkInstants(job: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(job)) {
    if (!k.endsWith('At')) continue;
    if (v === null) continue;
    expect(typeof v, k).toBe('string');
    expect(Number.isNaN(Date.parse(v as string)), `${k}=${String(v)}`).toBe(false);
  }
}

/** Outcomes per op (`ok` or the error code), printed with HOSTILE_STATS=1 to see what the generators reach. */
const outcomes: Record<string, Record<string, number>> = {};

/** The reply contract of SPEC §4 for one command. */
function checkReply(op: string, orchestratorToken: string, payload: A.Payload, r: WireReply): void {
  const b = r.body;
  expect(typeof b === 'object' && b !== null && !Array.isArray(b)).toBe(true);
  const outcome = b.ok === true ? 'ok' : String((b.error as { code?: unknown } | undefined)?.code);
  (outcomes[op] ??= {})[outcome] = (outcomes[op]?.[outcome] ?? 0) + 1;
  // a bad orchestrator token, a body that is not a JSON object, one nested too deep or with a
  // `__proto__` key: invalid_request
  const mustFail =
    !ID.test(orchestratorToken) ||
    (payload.bytes.length > 0 && !A.isPlainObjectJson(payload.bytes)) ||
    jsonDepth(payload.bytes) > MAX_JSON_DEPTH ||
    A.hasProtoKey(payload.bytes);
  if (mustFail) expect(b.error, JSON.stringify(b)).toMatchObject({ code: 'invalid_request' });
  if (b.ok === true) {
    expect(b.error).toBeUndefined();
    expect(r.headers['Nats-Service-Error-Code']).toBeUndefined();
    expect(ID.test(orchestratorToken)).toBe(true);
    const body = A.parseJson(payload.bytes);
    const sent = body.ok && typeof body.value === 'object' && body.value !== null ? (body.value as Record<string, unknown>) : {};
    switch (op) {
      case 'create':
      case 'show':
      case 'update':
      case 'pause':
      case 'resume': {
        const job = b.job as Record<string, unknown>;
        expect(job.orchestratorId).toBe(orchestratorToken);
        expect(job.jobId).toMatch(ID);
        if (typeof sent.jobId === 'string') expect(job.jobId).toBe(sent.jobId);
        checkInstants(job);
        if (op === 'show') for (const t of job.nextRuns as string[]) expect(Number.isNaN(Date.parse(t))).toBe(false);
        break;
      }
      case 'list': {
        const jobs = b.jobs as Record<string, unknown>[];
        expect(Array.isArray(jobs)).toBe(true);
        for (const j of jobs) expect(j.orchestratorId).toBe(orchestratorToken);
        break;
      }
      case 'delete':
        expect(Object.keys(b)).toEqual(['ok']);
        break;
      case 'run_now':
        expect(b.executionId).toMatch(EXEC_ID);
        break;
      case 'backfill': {
        expect(Number.isInteger(b.count) && (b.count as number) >= 0).toBe(true);
        const slots = b.scheduledAt as string[];
        expect(slots.length).toBe(Math.min(b.count as number, 1000));
        for (const t of slots) expect(Number.isNaN(Date.parse(t))).toBe(false);
        break;
      }
      case 'preview':
        for (const run of b.runs as { at: string; offset: string }[]) {
          expect(Number.isNaN(Date.parse(run.at))).toBe(false);
          expect(run.offset).toMatch(/^[+-]\d{2}:\d{2}$/);
        }
        break;
      case 'explain':
        expect(OUTCOMES).toContain(b.outcome);
        expect(typeof b.sentence).toBe('string');
        expect(Array.isArray(b.eventIds)).toBe(true);
        break;
    }
    return;
  }
  expect(b.ok).toBe(false);
  const error = b.error as { code: string; message: string };
  expect(Object.keys(CODES), JSON.stringify(b)).toContain(error.code);
  expect(typeof error.message).toBe('string');
  expect(error.message.length).toBeGreaterThan(0);
  expect(r.headers['Nats-Service-Error-Code']).toBe(String(CODES[error.code]));
  expect(r.headers['Nats-Service-Error']).toBeTruthy();
}

describe('hostile input: every subject survives generated payloads (issue 4, points 3 and 5)', () => {
  let bed: TestBed;
  let sched: SchedulerUnderTest;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let stable: Orchestrator;
  let fuzz: Orchestrator;
  let baseline: string;
  let runningExec: string;
  const P = uniquePrefix();
  const crashes: unknown[] = [];
  const onCrash = (e: unknown): void => {
    crashes.push(e);
  };

  /** Jobs of `stable`: paused, far-away schedules, one with a running execution. Nothing moves. */
  const STABLE_IDS = ['s-cron', 's-int', 's-once', 's-rare', 's-run', '__proto__'] as const;
  const FUZZ_POOL = ['j0', 'j1', 'j2', 'j3', 'j4', 'j5', ...A.AWKWARD_VALID_IDS, ...STABLE_IDS];
  const target = { type: 'workflow_start', workflowId: 'wf', inputs: { region: 'eu' } };

  /** list (limit 1000) and show of each job: the orchestrator's whole visible state. */
  async function snapshot(o: Orchestrator): Promise<string> {
    const l = await o.cmd('list', { limit: 1000 });
    expect(l.ok).toBe(true);
    const jobs = l.jobs as { jobId: string }[];
    const shows = await Promise.all(jobs.map((j) => o.cmd('show', { jobId: j.jobId })));
    return JSON.stringify({ jobs, shows });
  }

  async function caughtUp(): Promise<void> {
    const info = () => jsm.consumers.info(`${P}_EXECUTIONS`, `${P}_scheduler`);
    try {
      await until(async () => {
        const i = await info();
        return i.num_pending === 0 && i.num_ack_pending === 0;
      }, 20_000, 'execution consumer caught up');
    } catch (err) {
      const i = await info();
      throw new Error(`${(err as Error).message}: pending ${i.num_pending}, ack pending ${i.num_ack_pending}, redelivered ${i.num_redelivered}`);
    }
  }

  async function alive(): Promise<void> {
    const r = await fuzz.cmd('list', { limit: 1 });
    expect(r.ok).toBe(true);
    expect(sched.scheduler.isReady).toBe(true);
    expect(crashes).toEqual([]);
  }

  beforeAll(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    bed = await TestBed.start();
    // no rate limit: the properties pipeline thousands of commands a second, and each should reach the handler
    sched = await bed.scheduler({ SCHED_PREFIX: P, SCHED_MAX_INPUT_BYTES: '4096', SCHED_MAX_JOBS_PER_ORCHESTRATOR: '400', SCHED_RATE_LIMIT: '0' });
    nc = await connect({ servers: bed.server.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);

    stable = (await bed.orchestrator(P, 'stable')).serveDispatches();
    const far = '2099-01-01T00:00:00Z';
    const creates = [
      { jobId: 's-cron', schedule: { kind: 'cron', expression: '0 0 1 1 *', timezone: 'Europe/Berlin' }, startAt: far, labels: { team: 'billing' } },
      { jobId: 's-int', schedule: { kind: 'interval', every: '1h' }, startAt: far, overlapPolicy: 'buffer_one' },
      { jobId: 's-once', schedule: { kind: 'once', at: '9999-12-31T23:59:59.999Z' }, misfirePolicy: 'skip_missed' },
      { jobId: 's-rare', schedule: { kind: 'cron', expression: '0 0 29 2 1', timezone: 'Pacific/Kiritimati' }, startAt: '9990-01-01T00:00:00Z' },
      { jobId: 's-run', schedule: { kind: 'interval', every: '1d' }, startAt: far, maxRuntimeMs: '7d', overlapPolicy: 'skip' },
      { jobId: '__proto__', schedule: { kind: 'cron', expression: '59 23 31 12 *' }, startAt: '9999-12-31T23:59:59.999Z' },
    ];
    for (const c of creates) {
      const r = await stable.cmd('create', { ...c, target, paused: true });
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    const run = await stable.cmd('run_now', { jobId: 's-run' });
    expect(run.ok).toBe(true);
    runningExec = run.executionId as string;
    await until(async () => {
      const j = (await stable.cmd('show', { jobId: 's-run' })).job as { activeExecutions: { state: string }[] };
      return j.activeExecutions[0]?.state === 'running';
    }, 10_000, 's-run running');
    baseline = await snapshot(stable);

    // The fuzzed orchestrator accepts dispatches and completes them at once, so run_now keeps working.
    fuzz = (await bed.orchestrator(P, 'fuzz')).serveDispatches();
    fuzz.answer = (d) => {
      setTimeout(() => void fuzz.complete(d.executionId, d.jobId).catch(() => undefined), 5);
      return { accepted: true };
    };
  });

  afterAll(async () => {
    if (process.env.HOSTILE_STATS) console.log(JSON.stringify(outcomes, null, 1));
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await nc?.close();
    await bed?.dispose();
  });

  const orchestratorToken = fc.oneof(
    { weight: 12, arbitrary: fc.constant('fuzz') },
    { weight: 1, arbitrary: fc.constantFrom(...A.BAD_ORCHESTRATOR_TOKENS) },
  );
  const bodies = A.commandBodies(FUZZ_POOL);

  it(
    `${OPS.join(', ')}: ${RUNS} generated payloads each get SPEC replies, never internal, with matching error headers`,
    async () => {
      // The eight properties run at once, so creates, updates, run_nows and deletes of the same
      // jobs interleave (and the requests are pipelined); each failure names its op.
      const results = await Promise.allSettled(
        OPS.map((op) =>
          fc.assert(
            fc.asyncProperty(orchestratorToken, bodies[op]!, async (o, payload) => {
              const r = await send(nc, `${P}.${o}.schedule.${op}`, payload);
              checkReply(op, o, payload, r);
            }),
            { numRuns: RUNS },
          ),
        ),
      );
      const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${OPS[i]}: ${(r.reason as Error).message}`] : []));
      expect(failures, failures.join('\n\n')).toEqual([]);
      for (const op of OPS) expect(Object.values(outcomes[op] ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(RUNS);
      await alive();

      // Whatever the fuzz created (mutated specs may fire every second) is paged through and
      // deleted, so the properties below run on a quiet scheduler.
      fuzz.answer = () => ({ accepted: false, reason: 'test over' });
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await fuzz.cmd('list', { limit: 50, ...(cursor !== undefined && { cursor }) });
        expect(page.ok, JSON.stringify(page)).toBe(true);
        ids.push(...(page.jobs as { jobId: string }[]).map((j) => j.jobId));
        cursor = page.nextCursor as string | undefined;
      } while (cursor !== undefined);
      expect(new Set(ids).size).toBe(ids.length);
      for (const jobId of ids) expect((await fuzz.cmd('delete', { jobId })).ok).toBe(true);
      expect((await fuzz.cmd('list', {})).jobs).toEqual([]);
    },
    PROPERTY_TIMEOUT,
  );

  it('edge schedules: rare or never-matching crons, edge instants and huge durations answer at once, never internal', async () => {
    const edge = uniquePrefix();
    const o = new Orchestrator(nc, P, 'edge');
    const cases: [Record<string, unknown>, 'ok' | string][] = [
      [{ schedule: { kind: 'cron', expression: '0 0 29 2 1' } }, 'ok'],
      [{ schedule: { kind: 'cron', expression: '0 0 31 2 *' } }, 'invalid_request'],
      [{ schedule: { kind: 'cron', expression: '59 23 31 12 *', timezone: 'Pacific/Kiritimati' }, startAt: '9999-12-31T23:59:59.999Z' }, 'ok'],
      [{ schedule: { kind: 'cron', expression: '0 0 29 2 1' }, startAt: '9990-01-01T00:00:00Z' }, 'ok'],
      [{ schedule: { kind: 'cron', expression: '* * * * * *' }, endAt: '2000-01-01T00:00:00Z' }, 'ok'],
      [{ schedule: { kind: 'once', at: '9999-12-31T23:59:59.999Z' } }, 'ok'],
      [{ schedule: { kind: 'once', at: '+275760-09-13T00:00:00.000Z' } }, 'invalid_request'],
      [{ schedule: { kind: 'once', at: '-271821-04-20T00:00:00.000Z' } }, 'invalid_request'],
      [{ schedule: { kind: 'once', at: '0000-01-01T00:00:00.000Z' } }, 'invalid_request'],
      [{ schedule: { kind: 'once', at: '2016-12-31T23:59:60Z' } }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: '365250d' } }, 'ok'],
      [{ schedule: { kind: 'interval', every: '1h' }, startAt: '9999-12-31T23:59:59.999Z' }, 'ok'],
      // these replied `internal` before the 1000-year duration cap (slots beyond what Date holds)
      [{ schedule: { kind: 'interval', every: Number.MAX_SAFE_INTEGER } }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: '365251d' } }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: 8e15 }, startAt: '9999-12-31T00:00:00Z' }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: '1h' }, maxRuntimeMs: Number.MAX_SAFE_INTEGER }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: 1e308 } }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: 'Infinity' } }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: '999999999d' } }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: -1000 } }, 'invalid_request'],
      [{ schedule: { kind: 'interval', every: 1000.5 } }, 'invalid_request'],
      // and this one before the nesting limit (the size check overflowed the stack)
      [{ schedule: { kind: 'interval', every: '1h' }, target: { type: 'command', command: 'x', args: A.RAW.deepArray } }, 'invalid_request'],
    ];
    let n = 0;
    for (const [spec, expected] of cases) {
      const jobId = `${edge}-${n++}`;
      const r = await send(nc, `${P}.edge.schedule.create`, new A.Payload(A.render({ jobId, target, paused: true, ...spec })));
      checkReply('create', 'edge', new A.Payload(A.render({ jobId })), r);
      expect(r.body.ok ? 'ok' : (r.body.error as { code: string }).code, JSON.stringify(spec)).toBe(expected);
      if (r.body.ok) {
        const show = await o.cmd('show', { jobId });
        expect(show.ok, JSON.stringify(show)).toBe(true);
        checkInstants(show.job as Record<string, unknown>);
        const run = await o.cmd('run_now', { jobId });
        expect(run.ok || run.error?.code === 'overlap', JSON.stringify(run)).toBe(true);
        expect((await o.cmd('delete', { jobId })).ok).toBe(true);
      }
    }
  });

  it('a `__proto__` key is refused anywhere in a body; `constructor` and `prototype` are ordinary keys', async () => {
    const o = new Orchestrator(nc, P, 'proto');
    const spec = `"schedule":{"kind":"interval","every":"1h"},"target":{"type":"command","command":"x"}`;
    const raw = (op: string, text: string) => send(nc, `${P}.proto.schedule.${op}`, new A.Payload(new TextEncoder().encode(text)));
    // zod's record used to drop this label silently and reply ok
    for (const text of [
      `{"jobId":"p1","labels":{"__proto__":"x","team":"a"},${spec}}`,
      `{"jobId":"p1","labels":{"\\u005f_proto__":{"polluted":true}},${spec}}`,
      `{"jobId":"p1","__proto__":{"paused":true},${spec}}`,
      `{"jobId":"p1","target":{"type":"command","command":"x","args":{"a":[{"__proto__":1}]}},"schedule":{"kind":"interval","every":"1h"}}`,
    ]) {
      const r = await raw('create', text);
      expect(r.body, text).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    }
    const ok = await raw('create', `{"jobId":"p2","labels":{"constructor":"c","prototype":"p"},${spec}}`);
    expect((ok.body.job as { labels: unknown }).labels).toEqual({ constructor: 'c', prototype: 'p' });
    // a list filter on `__proto__` used to be dropped, matching every job
    expect((await raw('list', '{"labels":{"__proto__":"nomatch"}}')).body).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect((await o.cmd('list', { labels: { constructor: 'c' } })).jobs).toHaveLength(1);
    expect((await o.cmd('list', { labels: { constructor: 'nomatch' } })).jobs).toHaveLength(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('an orchestrator token that is not a valid id is invalid_request on every op', async () => {
    for (const token of ['ac%me', 'ünï', '日本語', 'a'.repeat(65)]) {
      for (const op of OPS) {
        const r = await send(nc, `${P}.${token}.schedule.${op}`, new A.Payload(A.render({ jobId: 'j0', schedule: { kind: 'interval', every: '1h' }, target })));
        expect(r.body).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
        expect(r.headers['Nats-Service-Error-Code']).toBe('400');
      }
    }
  });

  it(
    'refused commands against existing jobs change nothing (list + show before and after each batch)',
    async () => {
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(A.failingCommand(STABLE_IDS, 's-run'), { minLength: 1, maxLength: 20 }), async (batch) => {
          const replies = await Promise.all(batch.map((c) => send(nc, `${P}.stable.schedule.${c.op}`, c.payload)));
          replies.forEach((r, i) => {
            expect(r.body.ok, `${batch[i]!.op} ${batch[i]!.payload.text.slice(0, 300)} → ${JSON.stringify(r.body)}`).toBe(false);
            checkReply(batch[i]!.op, 'stable', batch[i]!.payload, r);
          });
          sent += batch.length;
          expect(await snapshot(stable)).toBe(baseline);
        }),
        { numRuns: Math.max(10, Math.ceil(RUNS / 10)) },
      );
      expect(sent).toBeGreaterThanOrEqual(Math.max(10, Math.ceil(RUNS / 10)));
      await alive();
    },
    PROPERTY_TIMEOUT,
  );

  describe('completions and heartbeats through the durable consumer', () => {
    const execTokens = fc.oneof(
      { weight: 8, arbitrary: fc.constant('stable') },
      { weight: 3, arbitrary: fc.constant('fuzz') },
      { weight: 1, arbitrary: fc.constant('nobody') },
      { weight: 2, arbitrary: fc.constantFrom(...A.BAD_ORCHESTRATOR_TOKENS) },
    );
    /** What would legitimately act on s-run's execution: excluded, everything else must change nothing. */
    const wouldApply = (o: string, p: A.Payload, kind: 'completed' | 'heartbeat'): boolean => {
      const c = A.readExecutionBody(p.bytes, kind);
      return o === 'stable' && c !== null && c.jobId === 's-run' && c.executionId === runningExec && jsonDepth(p.bytes) <= MAX_JSON_DEPTH;
    };

    it(
      `completed: ${RUNS} garbage completions change no job and each is audited as execution.completion_rejected`,
      async () => {
        await caughtUp();
        await sleep(200); // completions sent by the fuzz orchestrator's dispatch handler land first
        await caughtUp();
        const rejected: AuditEventWire[] = [];
        const sub: Subscription = nc.subscribe(`${P}.*.events.*.execution.completion_rejected`, {
          callback: (_e, m: Msg) => {
            rejected.push(m.json<AuditEventWire>());
          },
        });
        await nc.flush();
        let published = 0;
        let malformed = 0;
        await fc.assert(
          fc.asyncProperty(
            fc
              .tuple(execTokens, A.executionBodies(STABLE_IDS, [runningExec, `${runningExec.slice(0, -1)}2`]))
              .filter(([o, p]) => !wouldApply(o, p, 'completed')),
            async ([o, payload]) => {
              const ack = await js.publish(`${P}.${o}.execution.completed`, payload.bytes);
              expect(ack.stream).toBe(`${P}_EXECUTIONS`);
              published++;
              if (A.readExecutionBody(payload.bytes, 'completed') === null || jsonDepth(payload.bytes) > MAX_JSON_DEPTH) malformed++;
            },
          ),
          { numRuns: RUNS },
        );
        await caughtUp();
        await until(() => rejected.length >= published, 10_000, `${published} completion_rejected events (have ${rejected.length})`);
        sub.unsubscribe();
        expect(rejected.length).toBe(published);
        const byReason = (reason: string) => rejected.filter((e) => e.data.reason === reason).length;
        expect(byReason('malformed')).toBe(malformed);
        for (const e of rejected) expect(['malformed', 'unknown_job', 'unknown_execution', 'duplicate']).toContain(e.data.reason);
        // the events name only what was well-formed: ids or the `$invalid` placeholder
        for (const e of rejected) {
          expect(e.jobId === '$invalid' || ID.test(e.jobId)).toBe(true);
          if (e.executionId !== undefined) expect(e.executionId).toMatch(EXEC_ID);
        }
        expect(await snapshot(stable)).toBe(baseline);
        await alive();
      },
      PROPERTY_TIMEOUT,
    );

    it(
      `heartbeat: ${RUNS} garbage heartbeats change no job`,
      async () => {
        await fc.assert(
          fc.asyncProperty(
            fc
              .tuple(execTokens, A.executionBodies(STABLE_IDS, [runningExec, `${runningExec.slice(0, -1)}2`]))
              .filter(([o, p]) => !wouldApply(o, p, 'heartbeat')),
            async ([o, payload]) => {
              const ack = await js.publish(`${P}.${o}.execution.heartbeat`, payload.bytes);
              expect(ack.stream).toBe(`${P}_EXECUTIONS`);
            },
          ),
          { numRuns: RUNS },
        );
        await caughtUp();
        expect(await snapshot(stable)).toBe(baseline);
        await alive();
      },
      PROPERTY_TIMEOUT,
    );
  });

  it('after everything: the stable orchestrator is untouched, the scheduler answers, nothing was thrown', async () => {
    expect(await snapshot(stable)).toBe(baseline);
    const good = await fuzz.cmd('create', { jobId: 'after-all', schedule: { kind: 'interval', every: '1h' }, target });
    expect(good.ok || good.error?.code === 'already_exists' || good.error?.code === 'limit_exceeded').toBe(true);
    await alive();
  });

  describe('logging of refused requests (point 5)', () => {
    const MARKER = 'S3CR3T-MARKER-7f3a';
    const lines: Record<string, unknown>[] = [];
    const raw: string[] = [];
    let logged: Scheduler;
    let lnc: NatsConnection;
    const Q = uniquePrefix();

    beforeAll(async () => {
      let partial = '';
      const dest = new Writable({
        write(chunk: Buffer, _enc, cb) {
          partial += chunk.toString('utf8');
          const parts = partial.split('\n');
          partial = parts.pop() ?? '';
          for (const l of parts) {
            if (l === '') continue;
            raw.push(l);
            lines.push(JSON.parse(l) as Record<string, unknown>);
          }
          cb();
        },
      });
      const config = loadConfig({ NATS_URL: bed.server.url, SCHED_HTTP_PORT: '0', LOG_LEVEL: 'info', SCHED_PREFIX: Q, SCHED_MAX_INPUT_BYTES: '4096', SCHED_RATE_LIMIT: '0' });
      lnc = await connect({ servers: bed.server.url });
      // info, not just warn: no line at any level the service logs by default may carry the payload
      logged = await Scheduler.start({ config, nc: lnc, log: pino({ level: 'info' }, dest) });
    });

    afterAll(async () => {
      await logged?.stop();
      await lnc?.drain().catch(() => undefined);
    });

    it('denied and malformed requests are logged at warn with orchestrator, subject and reason, never the payload', async () => {
      const enc = new TextEncoder();
      const spec = { schedule: { kind: 'interval', every: '1h' }, target };
      const p = (v: unknown) => new A.Payload(A.render(v));
      const alpha = (op: string) => `${Q}.alpha.schedule.${op}`;
      expect((await send(nc, alpha('create'), p({ jobId: 'owned', ...spec }))).body.ok).toBe(true);

      const refused: [string, A.Payload, string][] = [
        [alpha('create'), p({ jobId: 'x1', ...spec, name: MARKER, schedule: { kind: 'interval', every: MARKER } }), 'invalid_request'],
        [alpha('create'), p({ jobId: 'x2', ...spec, [MARKER]: MARKER }), 'invalid_request'],
        [alpha('create'), p({ jobId: 'x3', ...spec, schedule: { kind: 'cron', expression: `${MARKER} * * * *` } }), 'invalid_request'],
        [alpha('create'), p({ jobId: 'x4', ...spec, schedule: { kind: 'cron', expression: '0 2 * * *', timezone: MARKER } }), 'invalid_request'],
        [alpha('create'), p({ jobId: 'x5', ...spec, startAt: MARKER }), 'invalid_request'],
        [alpha('create'), p({ jobId: 'x6', ...spec, target: { type: 'command', command: MARKER, args: { blob: MARKER.repeat(400) } } }), 'limit_exceeded'],
        [alpha('create'), p({ jobId: 'owned', ...spec, name: MARKER }), 'already_exists'],
        [alpha('create'), new A.Payload(enc.encode(`${MARKER} is not json`)), 'invalid_request'],
        [alpha('create'), new A.Payload(Uint8Array.from([...enc.encode(`{"name":"${MARKER}`), 0xff, 0xfe, ...enc.encode('"}')])), 'invalid_request'],
        [alpha('create'), new A.Payload(enc.encode(`[${JSON.stringify(MARKER)}]`)), 'invalid_request'],
        [alpha('create'), p({ jobId: 'x7', ...spec, target: { ...target, inputs: A.RAW.deepArray }, name: MARKER }), 'invalid_request'],
        [alpha('update'), p({ jobId: 'owned', patch: { name: MARKER }, expectedRevision: 99 }), 'conflict'],
        [alpha('run_now'), p({ jobId: 'owned', inputs: { secret: MARKER }, ignoreOverlap: MARKER }), 'invalid_request'],
        [alpha('explode'), p({ name: MARKER }), 'invalid_request'],
        // denied: another orchestrator's job is not found
        [`${Q}.beta.schedule.update`, p({ jobId: 'owned', patch: { name: MARKER } }), 'not_found'],
        [`${Q}.beta.schedule.show`, p({ jobId: 'owned' }), 'not_found'],
        // a bad orchestrator token in the subject
        [`${Q}.ac%me.schedule.create`, p({ jobId: 'x8', ...spec, name: MARKER }), 'invalid_request'],
      ];
      for (const [subject, payload, code] of refused) {
        const r = await send(nc, subject, payload);
        expect(r.body, subject).toMatchObject({ ok: false, error: { code } });
      }
      // garbage completions and heartbeats carrying the marker
      await js.publish(`${Q}.alpha.execution.completed`, enc.encode(`{"executionId":"e1","jobId":"owned","status":"${MARKER}","output":"${MARKER}"}`));
      await js.publish(`${Q}.alpha.execution.completed`, enc.encode(`${MARKER}{`));
      await js.publish(`${Q}.alpha.execution.heartbeat`, enc.encode(`{"executionId":"${MARKER}.x","jobId":"owned","note":"${MARKER}"}`));

      const warns = () => lines.filter((l) => l.level === 40);
      await until(() => warns().filter((l) => l.msg === 'completion rejected').length >= 2 && warns().some((l) => /heartbeat/.test(String(l.msg))), 10_000, 'execution warn lines');
      for (const [subject, , code] of refused) {
        const token = subject.split('.')[1];
        const line = warns().find((l) => l.subject === subject && l.code === code);
        expect(line, `warn line for ${subject} (${code})`).toBeDefined();
        expect(line!.orchestratorId).toBe(token);
        expect(typeof line!.reason).toBe('string');
        expect((line!.reason as string).length).toBeGreaterThan(0);
      }
      for (const l of warns().filter((x) => x.msg === 'completion rejected' || /heartbeat/.test(String(x.msg)))) {
        expect(l.orchestratorId).toBe('alpha');
      }
      for (const l of warns().filter((x) => x.msg === 'completion rejected')) expect(typeof l.reason).toBe('string');
      // the payload never reaches the log, at any level
      const leaking = raw.filter((l) => l.includes(MARKER));
      expect(leaking).toEqual([]);
    });
  });
});
