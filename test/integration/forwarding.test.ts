/**
 * Replica-to-replica forwarding (src/transport/forwarding.ts) over a real nats-server: the
 * envelope is checked on both sides, errors keep their code across the hop, a silent owner is
 * `unavailable`, and nothing published on the subject crashes the serving side.
 */
import fc from 'fast-check';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/contract/errors.js';
import { forward, serveForwarding, type ForwardRequest } from '../../src/transport/forwarding.js';
import { forwardSubject } from '../../src/transport/subjects.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';

let server: NatsServerHandle;
let nc: NatsConnection;
const seen: ForwardRequest[] = [];
const log = pino({ level: 'silent' });

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  serveForwarding(nc, 'fw', 'owner1', async (req) => {
    seen.push(req);
    if (req.kind === 'command' && req.op === 'show') throw new SchedulerError('not_found', 'no such job', { details: { jobId: 'x' } });
    if (req.kind === 'command' && req.op === 'delete') throw new Error('boom');
    return { echoed: req.kind };
  }, log);
});

afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: SchedulerError) => e.code);

describe('forwarding', () => {
  it('carries a command and an execution message to the owner and its answer back', async () => {
    await expect(forward(nc, 'fw', 'owner1', { kind: 'command', o: 'acme', op: 'list', body: { limit: 5 } })).resolves.toEqual({ echoed: 'command' });
    await expect(forward(nc, 'fw', 'owner1', { kind: 'execution', o: 'acme', execKind: 'completed', subject: 'fw.acme.execution.completed', data: Buffer.from('{}').toString('base64') })).resolves.toEqual({ echoed: 'execution' });
    expect(seen.at(-1)).toMatchObject({ kind: 'execution', subject: 'fw.acme.execution.completed' });
  });

  it('keeps the error code and details across the hop; an unexpected error is internal', async () => {
    const e = await forward(nc, 'fw', 'owner1', { kind: 'command', o: 'acme', op: 'show', body: {} }).then(
      () => null,
      (x: unknown) => x as SchedulerError,
    );
    expect(e).toBeInstanceOf(SchedulerError);
    if (!e) return;
    expect([e.code, e.details]).toEqual(['not_found', { jobId: 'x' }]);
    expect(await codeOf(forward(nc, 'fw', 'owner1', { kind: 'command', o: 'acme', op: 'delete', body: {} }))).toBe('internal');
  });

  it('an owner that does not answer is unavailable (retryable), not an error of the request', async () => {
    expect(await codeOf(forward(nc, 'fw', 'gone', { kind: 'command', o: 'acme', op: 'list', body: {} }, 300))).toBe('unavailable');
  });

  it('anything else published on the subject gets a structured refusal and reaches no handler', async () => {
    const before = seen.length;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json(), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1'))), async (raw) => {
        const m = await nc.request(forwardSubject('fw', 'owner1'), raw, { timeout: 2_000 });
        const r = m.json<{ ok: boolean; error?: { code: string } }>();
        // a body that happens to be a valid envelope is served; anything else is invalid_request
        if (!r.ok) expect(r.error?.code).toBe('invalid_request');
      }),
      { numRuns: 150 },
    );
    expect(seen.length).toBe(before);
    // still serving
    await expect(forward(nc, 'fw', 'owner1', { kind: 'command', o: 'acme', op: 'list', body: {} })).resolves.toEqual({ echoed: 'command' });
  });
});
