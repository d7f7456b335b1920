import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { commandSchemas, looseEvent } from '../../src/actors/supervisor.js';
import { EventType, Operation, values } from '../../src/contract/constants.js';
import { slotExecutionId } from '../../src/contract/ids.js';
import {
  auditEventSchema,
  commandRequestSchemas,
  dispatchRequestSchema,
  errorReplySchema,
  eventDataSchemas,
  jobViewSchema,
  listReplySchema,
  showReplySchema,
} from '../../src/contract/messages.js';
import type { AuditEvent } from '../../src/core/record.js';
import { toView, type JobView } from '../../src/core/view.js';
import { emitEvent, enterState } from '../../src/machines/jobLogic.js';
import { Watchdog } from '../../src/runtime/watchdog.js';
import type { DispatchRequest } from '../../src/transport/dispatcher.js';
import { commandEndpoints, commandSchemaFiles } from '../../src/transport/discovery.js';
import {
  asyncApiDocument,
  generateProtocol,
  jsonSchemaOf,
  packageVersion,
  protocolMessages,
  ROOT,
  SCHEMA_DIR,
  toYaml,
} from '../../scripts/gen-protocol.js';
import { Driver, LIMITS, record, T0 } from './machine-helpers.js';

const S = 1000;
const STALE = 'docs/protocol is stale: run `npm run gen:protocol` and commit the result';

// Compile-time checks: every message that passes the schema is a value of the type the code uses.
export const viewFromMessage = (m: z.output<typeof jobViewSchema>): JobView => m;
export const dispatchFromMessage = (m: z.output<typeof dispatchRequestSchema>): DispatchRequest => m;
export const dispatchToMessage = (d: DispatchRequest): z.input<typeof dispatchRequestSchema> => d;

/** Job views in every shape the scheduler produces them: fresh, running with a buffered slot, paused, done. */
function realViews(): { view: JobView; show: JobView }[] {
  const out: { view: JobView; show: JobView }[] = [];
  const cron = record({ jobId: 'cron1', name: 'Nightly', labels: { team: 'billing' }, schedule: { kind: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin' }, startAt: T0 + 3_600_000 });
  out.push({ view: toView(cron, T0), show: toView(cron, T0, true) });

  const d = new Driver(record({ overlapPolicy: 'buffer_one', target: { type: 'command', command: 'run', args: ['x'] } }));
  d.tick(T0 + 10 * S);
  const [first] = d.dispatchesOfLastStep();
  d.send({ type: 'DISPATCH_ACCEPTED', executionId: first! });
  d.tick(T0 + 20 * S); // buffered
  d.send({ type: 'RUN_NOW', inputs: { a: 2 }, ignoreOverlap: true }); // a second, dispatched execution
  expect(d.ctx.active.length).toBe(2);
  expect(d.ctx.buffered.length).toBeGreaterThan(0);
  out.push({ view: toView(d.ctx, d.now), show: toView(d.ctx, d.now, true) });
  d.send({ type: 'COMPLETED', executionId: first!, status: 'failed', error: { message: 'boom' } });
  d.send({ type: 'PAUSE', reason: 'maintenance' });
  expect(d.ctx.lastResult).not.toBeNull();
  out.push({ view: toView(d.ctx, d.now), show: toView(d.ctx, d.now, true) });

  const once = new Driver(record({ schedule: { kind: 'once', at: T0 + 5 * S }, startAt: null, endAt: T0 + 3_600_000, dispatchRetry: { attempts: 1 } }));
  once.tick(T0 + 5 * S);
  const [id] = once.dispatchesOfLastStep();
  once.send({ type: 'DISPATCH_FAILED', executionId: id!, reason: 'no_responders' });
  expect(once.ctx.nextRunAt).toBeNull();
  out.push({ view: toView(once.ctx, once.now), show: toView(once.ctx, once.now, true) });
  return out;
}

/** Audit events as the job machine (and the supervisor, and the actor on a fault) write them. */
function realEvents(): AuditEvent[] {
  const events: AuditEvent[] = [];
  const take = (evs: AuditEvent[]) => events.push(...evs);

  const r = record({ overlapPolicy: 'buffer_one', dispatchRetry: { attempts: 3 } });
  take(r.outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : []))); // job.created
  const d = new Driver(r);
  take(d.tick(T0 + 10 * S));
  const [a] = d.dispatchesOfLastStep();
  take(d.send({ type: 'DISPATCH_ATTEMPT', executionId: a!, attempt: 2 }));
  take(d.send({ type: 'DISPATCH_ACCEPTED', executionId: a! }));
  take(d.tick(T0 + 20 * S)); // trigger.buffered
  take(d.send({ type: 'COMPLETED', executionId: a!, status: 'succeeded', output: { rows: 1 } })); // + buffered dispatch
  take(d.send({ type: 'COMPLETED', executionId: a!, status: 'succeeded' })); // duplicate
  take(d.send({ type: 'COMPLETED', executionId: 'nobody', status: 'failed' })); // unknown
  const b = slotExecutionId('inc1', T0 + 20 * S);
  take(d.send({ type: 'DISPATCH_FAILED', executionId: b, reason: 'rejected', detail: 'busy' }));
  take(d.tick(T0 + 1_000 * S)); // misfire.fired_once
  take(d.tick(T0 + 1_000 * S + 3_600_000 + 1)); // execution.timed_out (maxRuntimeMs 1 h)
  take(d.send({ type: 'PAUSE', reason: null }));
  take(d.send({ type: 'RESUME' }));
  take(d.send({ type: 'UPDATE', patch: { schedule: { kind: 'interval', every: 60_000 } }, limits: LIMITS }));
  take(d.send({ type: 'DELETE' }));

  const skip = new Driver(record({ overlapPolicy: 'skip', misfirePolicy: 'skip_missed' }));
  skip.tick(T0 + 10 * S);
  take(skip.tick(T0 + 20 * S)); // trigger.skipped
  take(skip.tick(T0 + 10_000 * S)); // misfire.skipped

  // SPEC §10: cancel_other, terminate_other (its last run: job.exhausted), backfill
  const cancel = new Driver(record({ overlapPolicy: 'cancel_other' }));
  cancel.tick(T0 + 10 * S);
  take(cancel.tick(T0 + 20 * S)); // execution.cancel_requested
  const term = new Driver(record({ overlapPolicy: 'terminate_other', maxRuns: 2 }));
  term.tick(T0 + 10 * S);
  take(term.tick(T0 + 20 * S)); // execution.cancel_requested, execution.terminated, job.exhausted
  const bf = new Driver(record({}));
  take(bf.send({ type: 'BACKFILL', from: T0 - 30 * S, to: T0 - 10 * S, maxSlots: 100 })); // backfill.started
  for (const id of bf.dispatchesOfLastStep()) take(bf.send({ type: 'COMPLETED', executionId: id, status: 'succeeded' }));
  const [second] = bf.dispatchesOfLastStep();
  take(bf.send({ type: 'COMPLETED', executionId: second!, status: 'succeeded' })); // backfill.completed

  // a state change with no lifecycle event in its step is a `transition` event of its own
  take(enterState(d.ctx, 997, T0, 'paused', 'PAUSE').outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : [])));
  // the watchdog's event for a stalled job (its publish is called synchronously by scan)
  const stalled = record({ misfireGraceMs: 1000 });
  void new Watchdog({ records: () => [stalled], now: () => T0 + 60 * S, publish: async (evs) => void take(evs), replicaId: () => 'replica-1' }).scan();
  // the supervisor's event for a completion naming no valid job, and the actor's fault event
  events.push(looseEvent('acme', null, null, T0, { reason: 'malformed', issues: [{ path: 'jobId', message: 'Required' }] }));
  events.push(looseEvent('acme', 'gone', 'gone-s1', T0, { reason: 'unknown_job', status: 'succeeded' }));
  // same data as JobActor.fault (src/actors/jobActor.ts)
  take(emitEvent(d.ctx, 999, T0, 'job.faulted', { error: 'boom', event: 'TICK', faults: 1 }).outbox.flatMap((e) => (e.kind === 'event' ? [e.event] : [])));
  return events;
}

const keysOf = (s: z.ZodType): string[] => Object.keys((s as unknown as { shape: Record<string, unknown> }).shape);

describe('protocol documentation (docs/protocol)', () => {
  const files = generateProtocol();

  it('is up to date with the zod schemas (else: npm run gen:protocol)', () => {
    const stale: string[] = [];
    for (const f of files) {
      const p = path.join(ROOT, f.path);
      if (!existsSync(p) || readFileSync(p, 'utf8') !== f.content) stale.push(f.path);
    }
    const onDisk = existsSync(path.join(ROOT, SCHEMA_DIR)) ? readdirSync(path.join(ROOT, SCHEMA_DIR)).map((n) => `${SCHEMA_DIR}/${n}`) : [];
    const extra = onDisk.filter((p) => !files.some((f) => f.path === p));
    expect(stale, `${STALE} (differs: ${stale.join(', ')})`).toEqual([]);
    expect(extra, `${STALE} (not generated any more: ${extra.join(', ')})`).toEqual([]);
  });

  it('has one JSON Schema per message and the AsyncAPI document, deterministically', () => {
    expect(files.some((f) => f.path === 'docs/protocol/asyncapi.yaml')).toBe(true);
    for (const m of protocolMessages()) expect(files.some((f) => f.path === `${SCHEMA_DIR}/${m.file}`), m.file).toBe(true);
    expect(generateProtocol()).toEqual(files);
    for (const f of files.filter((x) => x.path.endsWith('.json'))) {
      const s = JSON.parse(f.content) as Record<string, unknown>;
      expect(s.$schema, f.path).toBe('http://json-schema.org/draft-07/schema#');
      expect(s.title, f.path).toBeTypeOf('string');
    }
  });

  it('names every schema that service discovery advertises', () => {
    for (const e of commandEndpoints('sched')) {
      for (const file of Object.values(commandSchemaFiles(e.name as Operation))) {
        expect(files.some((f) => f.path === `${SCHEMA_DIR}/${file}`), file).toBe(true);
      }
    }
  });
});

describe('AsyncAPI document', () => {
  const doc = asyncApiDocument(packageVersion()) as {
    asyncapi: string;
    channels: Record<string, { address: string | null; parameters?: Record<string, unknown>; messages: Record<string, { $ref: string }> }>;
    operations: Record<string, { action: string; channel: { $ref: string }; messages?: { $ref: string }[]; reply?: { channel: { $ref: string }; messages: { $ref: string }[] } }>;
    components: { messages: Record<string, { payload?: { schema: { $ref: string } }; headers?: { schema: { $ref: string } }; examples?: { payload: unknown }[] }> };
  };
  const resolve = (pointer: string): unknown => {
    expect(pointer.startsWith('#/'), pointer).toBe(true);
    return pointer
      .slice(2)
      .split('/')
      .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  };

  it('is AsyncAPI 3.0 and describes every subject of SPEC §3 plus service discovery', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    const addresses = Object.values(doc.channels).map((c) => c.address);
    expect(addresses).toEqual(
      expect.arrayContaining([
        '{prefix}.{orchestratorId}.schedule.{op}',
        '{prefix}.{orchestratorId}.dispatch.{actionType}',
        '{prefix}.{orchestratorId}.execution.completed',
        '{prefix}.{orchestratorId}.execution.heartbeat',
        '{prefix}.{orchestratorId}.events.{jobId}.{eventType}',
        '$SRV.PING',
        '$SRV.INFO',
        '$SRV.STATS',
      ]),
    );
    const commands = doc.channels.commands!;
    expect((commands.parameters?.op as { enum: string[] }).enum).toEqual(values(Operation));
    expect((doc.channels.events!.parameters?.eventType as { enum: string[] }).enum).toEqual(values(EventType));
    // one receive operation with a reply per command, the error reply among its replies
    for (const op of values(Operation)) {
      const o = doc.operations[`schedule_${op}`];
      expect(o?.action, op).toBe('receive');
      expect(o?.reply?.messages.map((m) => m.$ref)).toContain('#/channels/commandReplies/messages/errorReply');
    }
    expect(doc.operations.dispatch?.action).toBe('send');
    expect(doc.operations.publishEvent?.action).toBe('send');
  });

  it('documents the error contract: error reply with the NATS micro error headers', () => {
    const err = doc.components.messages.errorReply!;
    const headers = JSON.parse(readFileSync(path.join(ROOT, SCHEMA_DIR, path.basename(err.headers!.schema.$ref)), 'utf8')) as { required: string[]; properties: Record<string, { enum?: string[] }> };
    expect(headers.required).toEqual(['Nats-Service-Error', 'Nats-Service-Error-Code']);
    expect(headers.properties['Nats-Service-Error-Code']?.enum).toEqual(['400', '404', '409', '429', '500', '503']);
  });

  it('has only references that resolve, and channel parameters that match the addresses', () => {
    const refs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref' && typeof x === 'string') refs.push(x);
          else walk(x);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(50);
    for (const r of refs) {
      if (r.startsWith('./schemas/')) expect(existsSync(path.join(ROOT, 'docs/protocol', r)), r).toBe(true);
      else expect(resolve(r), r).toBeDefined();
    }
    for (const [name, c] of Object.entries(doc.channels)) {
      const placeholders = [...(c.address ?? '').matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(Object.keys(c.parameters ?? {}).sort(), name).toEqual(placeholders);
    }
    // an operation's messages belong to its channel, its reply messages to the reply channel
    for (const [name, o] of Object.entries(doc.operations)) {
      for (const m of o.messages ?? []) expect(m.$ref.startsWith(`${o.channel.$ref}/messages/`), `${name} ${m.$ref}`).toBe(true);
      for (const m of o.reply?.messages ?? []) expect(m.$ref.startsWith(`${o.reply!.channel.$ref}/messages/`), `${name} ${m.$ref}`).toBe(true);
    }
  });

  it('has examples that the scheduler accepts / that match the message schemas', () => {
    const byKey = new Map(protocolMessages().map((m) => [m.key, m]));
    let n = 0;
    for (const [key, m] of Object.entries(doc.components.messages)) {
      for (const e of m.examples ?? []) {
        const r = byKey.get(key)!.schema.safeParse(e.payload);
        expect(r.success, `${key}: ${JSON.stringify(r.error?.issues)}`).toBe(true);
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(10);
  });
});

describe('message schemas (src/contract/messages.ts) match what the scheduler sends', () => {
  it('uses the same request schemas as the command handler', () => {
    for (const op of values(Operation)) expect(commandRequestSchemas[op], op).toBe(commandSchemas[op]);
  });

  it('accepts real job views from toView(), which carry no undocumented field', () => {
    const documented = new Set(keysOf(jobViewSchema));
    for (const { view, show } of realViews()) {
      const json = JSON.parse(JSON.stringify(view)) as Record<string, unknown>;
      const r = jobViewSchema.safeParse(json);
      expect(r.success, JSON.stringify(r.error?.issues)).toBe(true);
      expect(Object.keys(json).filter((k) => !documented.has(k))).toEqual([]);
      expect(showReplySchema.safeParse({ ok: true, job: JSON.parse(JSON.stringify(show)) }).success).toBe(true);
      expect(listReplySchema.safeParse({ ok: true, jobs: [json], nextCursor: 'abc' }).success).toBe(true);
    }
  });

  it('rejects job views that break the contract', () => {
    const { view } = realViews()[0]!;
    expect(jobViewSchema.safeParse({ ...view, state: 'sleeping' }).success).toBe(false);
    expect(jobViewSchema.safeParse({ ...view, nextRunAt: '2026-01-01T00:00:00Z' }).success).toBe(false); // no milliseconds
    expect(showReplySchema.safeParse({ ok: true, job: view }).success).toBe(false); // show has nextRuns
    expect(errorReplySchema.safeParse({ ok: false, error: { code: 'teapot', message: 'x' } }).success).toBe(false);
  });

  it('accepts real audit events of every type, whose data carry no undocumented field', () => {
    const events = realEvents();
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(values(EventType)));
    for (const e of events) {
      const json = JSON.parse(JSON.stringify(e)) as AuditEvent;
      const r = auditEventSchema.safeParse(json);
      expect(r.success, `${e.type}: ${JSON.stringify(r.error?.issues)} in ${JSON.stringify(json)}`).toBe(true);
      // every lifecycle event may carry the state change it caused (`data.transition`, SPEC §7)
      const documented = [...keysOf(eventDataSchemas[e.type]), ...(e.type === 'transition' ? [] : ['transition'])];
      expect(Object.keys(json.data).filter((k) => !documented.includes(k)), e.type).toEqual([]);
    }
    // an event whose data does not fit its type is refused
    const created = events.find((e) => e.type === 'job.created')!;
    expect(auditEventSchema.safeParse({ ...created, data: { revision: 'one' } }).success).toBe(false);
  });

  it('accepts a real dispatch request', () => {
    const req: DispatchRequest = {
      executionId: slotExecutionId('inc1', T0),
      orchestratorId: 'acme',
      jobId: 'job1',
      scheduledAt: new Date(T0).toISOString(),
      firedAt: new Date(T0 + 3).toISOString(),
      trigger: 'schedule',
      attempt: 1,
      action: { type: 'workflow_start', workflowId: 'wf', inputs: { a: 1 } },
    };
    expect(dispatchRequestSchema.safeParse(JSON.parse(JSON.stringify(req))).success).toBe(true);
    expect(dispatchRequestSchema.safeParse({ ...req, trigger: 'manual' }).success).toBe(false);
  });
});

/** ajv comes with the dev tooling (not a declared dependency): validate against the JSON files when it is there. */
const AJV = 'ajv'; // a variable, so that type-checking does not need the package
const ajvModule: unknown = await import(AJV).catch(() => null);

describe.skipIf(ajvModule === null)('generated JSON Schemas validate the real messages (ajv, draft-07)', () => {
  const load = (file: string) => JSON.parse(readFileSync(path.join(ROOT, SCHEMA_DIR, file), 'utf8')) as object;
  const validator = () => {
    const Ajv = (ajvModule as unknown as { default: new (o: object) => { compile(s: object): ((d: unknown) => boolean) & { errors?: unknown } } }).default;
    return new Ajv({ strict: false, validateFormats: false, allErrors: true });
  };

  it('job views, events, dispatches and requests', () => {
    const ajv = validator();
    const compiled = new Map<string, ReturnType<ReturnType<typeof validator>['compile']>>();
    const check = (file: string, data: unknown, valid = true) => {
      let v = compiled.get(file);
      if (!v) compiled.set(file, (v = ajv.compile(load(file))));
      expect(v(data), `${file}: ${JSON.stringify(v.errors)}`).toBe(valid);
    };
    for (const { view, show } of realViews()) {
      check('command.create.reply.json', JSON.parse(JSON.stringify({ ok: true, job: view })));
      check('command.show.reply.json', JSON.parse(JSON.stringify({ ok: true, job: show })));
    }
    for (const e of realEvents()) check('event.json', JSON.parse(JSON.stringify(e)));
    check('event.json', { id: 'x', type: 'job.created', at: '2026-01-01T00:00:00.000Z', orchestratorId: 'acme', jobId: 'j', data: {} }, false);
    const spec = { jobId: 'a', schedule: { kind: 'interval', every: '15m' }, target: { type: 'command', command: 'x' }, misfireGraceMs: 'PT1M' };
    check('command.create.request.json', spec);
    check('command.create.request.json', { ...spec, colour: 'red' }, false); // strict: unknown field
    check('command.create.request.json', { ...spec, jobId: 'a.b' }, false); // bad id
    check('command.update.request.json', { jobId: 'a', patch: { paused: true }, expectedRevision: 2 });
    check('command.error.reply.json', { ok: false, error: { code: 'not_found', message: 'job "a" not found' } });
  });

  it('and the schema of a zod schema is what the generator writes', () => {
    const m = protocolMessages().find((x) => x.key === 'completion')!;
    expect(jsonSchemaOf(m.schema, { title: m.title, description: m.summary })).toEqual(load(m.file));
  });
});

describe('toYaml', () => {
  it('writes JSON values as block YAML, quoting whatever a YAML reader could take for something else', () => {
    expect(
      toYaml({
        a: 'plain text',
        b: 'yes',
        c: '3.0.0',
        d: 'x: y',
        e: 'two\nlines',
        f: [1, { g: null, h: [] }],
        i: {},
        $ref: '#/x',
        '$SRV.PING': true,
      }),
    ).toBe(
      [
        'a: plain text',
        'b: "yes"',
        'c: "3.0.0"',
        'd: "x: y"',
        'e: |-',
        '  two',
        '  lines',
        'f:',
        '  - 1',
        '  - g: null',
        '    h: []',
        'i: {}',
        '$ref: "#/x"',
        '$SRV.PING: true',
        '',
      ].join('\n'),
    );
  });
});
