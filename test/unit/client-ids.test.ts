/**
 * The client tests identifiers and instants with the contract's own patterns (src/contract/ids.ts),
 * so it refuses exactly what the scheduler refuses.
 */
import { describe, expect, it, vi } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { sinceToEpochMs, SchedulerClient } from '../../src/client/client.js';
import { InvalidRequestError } from '../../src/client/errors.js';
import { OrchestratorWorker } from '../../src/client/worker.js';
import { loadConfig } from '../../src/config.js';
import { instantSchema, idSchema } from '../../src/contract/schemas.js';
import { INSTANT_PATTERN, PREFIX_PATTERN, parseInstant } from '../../src/contract/ids.js';

const NOW = Date.UTC(2026, 0, 1);
const nc = { options: {}, subscribe: () => ({ unsubscribe: () => undefined }), flush: async () => undefined } as unknown as NatsConnection;
const startWorker = (orchestratorId: string, prefix?: string) =>
  OrchestratorWorker.start({ nc, orchestratorId, ...(prefix !== undefined && { prefix }), handler: async () => undefined });

describe('sinceToEpochMs takes instants as the scheduler does (instantSchema)', () => {
  it('refuses an hour-only offset, which the scheduler refuses too', () => {
    for (const s of ['2026-01-01T10:00:00+01', '2026-01-01T10:00-05', '2026-01-01T10:00:00.000+01']) {
      expect(instantSchema.safeParse(s).success, s).toBe(false);
      expect(sinceToEpochMs(s, NOW), s).toBeNull();
    }
  });

  it('refuses the hour-only offset by the pattern, not because Date.parse happens to (V8 does, other engines need not)', () => {
    expect(INSTANT_PATTERN.test('2026-01-01T10:00:00+01')).toBe(false);
    // An engine whose Date.parse reads `+01`: the old client pattern let it through to Date.parse.
    const parse = vi.spyOn(Date, 'parse').mockReturnValue(NOW);
    try {
      expect(sinceToEpochMs('2026-01-01T10:00:00+01', NOW)).toBeNull();
      expect(sinceToEpochMs('2026-01-01T10:00:00+01:00', NOW)).toBe(NOW);
    } finally {
      parse.mockRestore();
    }
  });

  it('accepts what the scheduler accepts, with the same epoch ms', () => {
    for (const s of ['2026-01-01T10:00:00Z', '2026-01-01T10:00Z', '2026-01-01T10:00:00.123+01:00', '2026-01-01T10:00:00-0530', '2026-01-01t10:00:00z']) {
      const server = instantSchema.safeParse(s);
      expect(server.success, s).toBe(true);
      expect(sinceToEpochMs(s, NOW), s).toBe(server.data);
    }
  });

  it('refuses an instant without an offset and other text that is neither instant nor duration', () => {
    for (const s of ['2026-01-01T10:00:00', '2026-01-01', 'yesterday', '']) {
      expect(instantSchema.safeParse(s).success, s).toBe(false);
      expect(sinceToEpochMs(s, NOW), s).toBeNull();
    }
  });

  it('still takes durations, epoch ms and Dates', () => {
    expect(sinceToEpochMs('15m', NOW)).toBe(NOW - 15 * 60_000);
    expect(sinceToEpochMs('PT1H', NOW)).toBe(NOW - 3_600_000);
    expect(sinceToEpochMs(1234, NOW)).toBe(1234);
    expect(sinceToEpochMs(new Date(5678), NOW)).toBe(5678);
    expect(sinceToEpochMs(new Date(Number.NaN), NOW)).toBeNull();
    expect(sinceToEpochMs(Number.POSITIVE_INFINITY, NOW)).toBeNull();
  });

  it('parseInstant is null for a date-time that Date cannot read', () => {
    expect(parseInstant('2026-13-45T99:99Z')).toBeNull();
    expect(parseInstant('2026-01-01T00:00:00.000Z')).toBe(NOW);
  });
});

describe('client, worker and config take the same ids and prefixes', () => {
  const ids = ['a', 'A-b_9', 'x'.repeat(64)];
  const badIds = ['', 'a.b', 'a*', 'a>', 'a b', 'é', 'x'.repeat(65)];
  const prefixes = ['sched', 'p_1-x', 'p'.repeat(32)];
  const badPrefixes = ['', 'a.b', 'a*', 'p'.repeat(33)];

  it('orchestratorId: the client and the worker refuse what idSchema refuses', async () => {
    for (const id of ids) {
      expect(idSchema.safeParse(id).success).toBe(true);
      expect(() => new SchedulerClient({ nc, orchestratorId: id })).not.toThrow();
      await expect(startWorker(id)).resolves.toBeInstanceOf(OrchestratorWorker);
    }
    for (const id of badIds) {
      expect(idSchema.safeParse(id).success).toBe(false);
      expect(() => new SchedulerClient({ nc, orchestratorId: id })).toThrow(InvalidRequestError);
      await expect(startWorker(id)).rejects.toThrow('must match ^[A-Za-z0-9_-]{1,64}$');
    }
  });

  it('prefix: the client and the worker refuse what SCHED_PREFIX refuses', async () => {
    for (const p of prefixes) {
      expect(loadConfig({ SCHED_PREFIX: p }).SCHED_PREFIX).toBe(p);
      expect(() => new SchedulerClient({ nc, orchestratorId: 'o', prefix: p })).not.toThrow();
      await expect(startWorker('o', p)).resolves.toBeInstanceOf(OrchestratorWorker);
    }
    for (const p of badPrefixes.filter((x) => x !== '')) {
      expect(() => loadConfig({ SCHED_PREFIX: p })).toThrow(/SCHED_PREFIX/);
      expect(() => new SchedulerClient({ nc, orchestratorId: 'o', prefix: p })).toThrow(`prefix must match ${PREFIX_PATTERN.source}`);
      await expect(startWorker('o', p)).rejects.toThrow(`prefix "${p}" must match ^[A-Za-z0-9_-]{1,32}$`);
    }
    expect(() => new SchedulerClient({ nc, orchestratorId: 'o', prefix: '' })).toThrow(InvalidRequestError);
  });

  it('events refuses a jobId the scheduler would refuse', () => {
    const client = new SchedulerClient({ nc, orchestratorId: 'o' });
    expect(() => client.events({ jobId: 'a.b' })).toThrow('jobId "a.b" must match ^[A-Za-z0-9_-]{1,64}$');
    expect(() => client.events({ since: '2026-01-01T10:00:00+01' })).toThrow(InvalidRequestError);
  });
});
