/**
 * The job store recognises a failed compare-and-set by JetStream's API error code (10071 "wrong
 * last sequence", 10164 its "unknown" variant), as src/cluster/leases.ts does, never by the text
 * of the message. A fake KV bucket throws what @nats-io/kv passes on from the server.
 */
import { describe, expect, it } from 'vitest';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { JobRecord } from '../../src/core/record.js';
import { JobStore, KeyExistsError, StaleRevisionError } from '../../src/store/jobStore.js';

const apiError = (err_code: number, description: string) => new JetStreamApiError({ code: 400, err_code, description });

/** A store over a KV whose writes all fail with `err`. */
function storeFailingWith(err: unknown): JobStore {
  const fail = async () => {
    throw err;
  };
  const kv = { create: fail, update: fail, delete: fail } as unknown as KV;
  const Ctor = JobStore as unknown as new (kv: KV, js: JetStreamClient, bucket: string) => JobStore;
  return new Ctor(kv, {} as JetStreamClient, 'b_jobs');
}

const record = { orchestratorId: 'o', jobId: 'j' } as JobRecord;
const writes = (s: JobStore) => ({
  create: () => s.create(record),
  save: () => s.save(record, 7),
  remove: () => s.remove('o', 'j', 7),
});

describe('JobStore: CAS failures by JetStream error code', () => {
  it.each([
    ['wrong last sequence', JetStreamApiCodes.StreamWrongLastSequence],
    ['wrong last sequence (unknown)', JetStreamApiCodes.StreamWrongLastSequenceUnknown],
  ])('%s: create is KeyExistsError, save and remove StaleRevisionError', async (_name, code) => {
    expect([10071, 10164]).toContain(code);
    const err = apiError(code, 'some text that says nothing about sequences');
    const w = writes(storeFailingWith(err));
    await expect(w.create()).rejects.toBeInstanceOf(KeyExistsError);
    await expect(w.create()).rejects.toMatchObject({ key: 'o.j' });
    const saved = await w.save().catch((e: unknown) => e);
    expect(saved).toBeInstanceOf(StaleRevisionError);
    expect((saved as StaleRevisionError).cause).toBe(err);
    expect((saved as StaleRevisionError).key).toBe('o.j');
    await expect(w.remove()).rejects.toBeInstanceOf(StaleRevisionError);
  });

  it('another JetStream API error passes through unchanged, whatever its text says', async () => {
    const err = apiError(JetStreamApiCodes.NoMessageFound, 'wrong last sequence: 3');
    const w = writes(storeFailingWith(err));
    for (const write of Object.values(w)) await expect(write()).rejects.toBe(err);
  });

  it('an error that is no JetStream API error is not taken for a CAS failure by its text', async () => {
    const err = new Error('wrong last sequence: 3');
    const w = writes(storeFailingWith(err));
    for (const write of Object.values(w)) await expect(write()).rejects.toBe(err);
  });
});
