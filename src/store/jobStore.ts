import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { upgradeRecord, type JobRecord } from '../core/record.js';
import type { JsPublisher } from '../transport/pipeline.js';

export const jobKey = (orchestratorId: string, jobId: string): string => `${orchestratorId}.${jobId}`;

/** The stored revision did not match: someone else wrote the record (CAS failure). */
export class StaleRevisionError extends Error {
  override readonly name = 'StaleRevisionError';
  constructor(readonly key: string, options?: { cause?: unknown }) {
    super(`job record ${key} was changed by another writer`, options);
  }
}

/** The key exists already (create). */
export class KeyExistsError extends Error {
  override readonly name = 'KeyExistsError';
  constructor(readonly key: string) {
    super(`job record ${key} exists`);
  }
}

export interface StoredRecord {
  record: JobRecord;
  revision: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The server refused a compare-and-set: the key's last revision is not the one expected (by error code). */
function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** What the store holds for a key: a record, a delete marker, or nothing at all. */
export type Lookup = { kind: 'present'; record: JobRecord; revision: number } | { kind: 'deleted'; revision: number } | { kind: 'absent' };

/**
 * Job records in the KV bucket `P_jobs`, one JSON value per job under `<orchestratorId>.<jobId>`.
 * Every write is a compare-and-set on the KV revision, so two writers can never silently
 * overwrite each other.
 */
export class JobStore {
  private constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    readonly bucket: string,
    private readonly writer: JsPublisher | null,
  ) {}

  /**
   * With `writer` (the scheduler's `Pipeline`), record updates are JetStream publishes to the
   * bucket's subject with the expected revision, sent with the other writes of the same turn of
   * the event loop: exactly what `kv.update` sends, without its per-request costs.
   */
  static async open(js: JetStreamClient, bucket: string, replicas = 1, writer: JsPublisher | null = null): Promise<JobStore> {
    const kvm = new Kvm(js);
    const kv = await kvm.create(bucket, { history: 1, replicas });
    return new JobStore(kv, js, bucket, writer);
  }

  /** Writes a new record (`value`: its JSON, when the caller has it already); `KeyExistsError` when the key holds one. */
  async create(record: JobRecord, value: string = JSON.stringify(record)): Promise<number> {
    const key = jobKey(record.orchestratorId, record.jobId);
    try {
      if (this.writer) {
        // a key never written (or purged): one publish expecting nothing on the subject; a key
        // deleted before holds a delete marker, which `kv.create` knows how to write over
        const first = await this.writer.publish(`$KV.${this.bucket}.${key}`, value, { expect: { lastSubjectSequence: 0 } }).catch((err: unknown) => {
          if (isWrongLastSequence(err)) return null;
          throw err;
        });
        if (first !== null) return first.seq;
      }
      return await this.kv.create(key, enc.encode(value));
    } catch (err) {
      if (isWrongLastSequence(err)) throw new KeyExistsError(key);
      throw err;
    }
  }

  async save(record: JobRecord, revision: number): Promise<number> {
    const key = jobKey(record.orchestratorId, record.jobId);
    try {
      const value = JSON.stringify(record);
      if (this.writer) return (await this.writer.publish(`$KV.${this.bucket}.${key}`, value, { expect: { lastSubjectSequence: revision } })).seq;
      return await this.kv.update(key, enc.encode(value), revision);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new StaleRevisionError(key, { cause: err });
      throw err;
    }
  }

  async remove(orchestratorId: string, jobId: string, revision: number): Promise<void> {
    const key = jobKey(orchestratorId, jobId);
    try {
      await this.kv.delete(key, { previousSeq: revision });
    } catch (err) {
      if (isWrongLastSequence(err)) throw new StaleRevisionError(key, { cause: err });
      throw err;
    }
  }

  async get(orchestratorId: string, jobId: string): Promise<StoredRecord | null> {
    const l = await this.lookup(orchestratorId, jobId);
    return l.kind === 'present' ? { record: l.record, revision: l.revision } : null;
  }

  async lookup(orchestratorId: string, jobId: string): Promise<Lookup> {
    const e = await this.kv.get(jobKey(orchestratorId, jobId));
    if (!e) return { kind: 'absent' };
    if (e.operation !== 'PUT') return { kind: 'deleted', revision: e.revision };
    return { kind: 'present', record: upgradeRecord(JSON.parse(dec.decode(e.value)) as JobRecord), revision: e.revision };
  }

  /**
   * Every stored record (of one orchestrator, when given), in batches, read through one ordered
   * consumer delivering the last value per key (one pass over the bucket's stream, no request per
   * key). A delete or purge marker (an empty value: a record is never empty) is skipped without
   * decoding its headers.
   */
  async *loadAll(orchestratorId?: string): AsyncGenerator<StoredRecord[]> {
    const stream = `KV_${this.bucket}`;
    const c = await this.js.consumers.get(stream, {
      filter_subjects: orchestratorId === undefined ? `$KV.${this.bucket}.>` : `$KV.${this.bucket}.${orchestratorId}.>`,
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    const info = await c.info(true);
    if (info.num_pending === 0) return;
    // Batches that end on their own: a record replaced or deleted between the count and its
    // delivery (a write of the previous owner landing late) is never delivered, and waiting for
    // the count to reach 0 would then wait forever. A batch that brings nothing more ends the read.
    for (;;) {
      const batch = await c.fetch({ max_messages: 1_000, expires: 2_000 });
      const records: StoredRecord[] = [];
      let got = 0;
      let last = -1;
      for await (const m of batch) {
        got++;
        const { pending, streamSequence } = m.info;
        last = pending;
        if (m.data.length > 0) records.push({ record: upgradeRecord(JSON.parse(dec.decode(m.data)) as JobRecord), revision: streamSequence });
        if (last === 0) break;
      }
      if (records.length > 0) yield records;
      if (got === 0 || last === 0) return;
    }
  }

  static async ensureDeleted(jsm: JetStreamManager, bucket: string): Promise<void> {
    await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
  }
}
