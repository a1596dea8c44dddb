import type { LeaseEntry, LeaseStore } from '@dln/cluster';
import { LeaseRecord, leaseRecordSchema } from '@dln/contracts';
import { jetstream, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeJson, encodeJson } from './json-codec';

export interface KvLeaseStoreOptions {
  /** The lease bucket (`Subjects.bucket('lease')`). */
  bucket: string;
  key: string;
  /** The lease length: the bucket's max age, so a key nobody renews disappears after it. */
  leaseMs: number;
  replicas?: number;
  /** Timeout of each KV request; a renewal must not wait longer than the lease allows. */
  requestTimeoutMs: number;
}

function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * The lease key in a NATS KV bucket. Servers before 2.11 have no per-key TTL: the bucket's max
 * age is the lease length, and compare-and-set on the key's revision (expected last subject
 * sequence) decides every write. A value that does not parse reads as "held by someone unknown".
 */
export class KvLeaseStore implements LeaseStore {
  private constructor(
    private readonly kv: KV,
    private readonly options: KvLeaseStoreOptions,
  ) {}

  static async open(nc: NatsConnection, options: KvLeaseStoreOptions): Promise<KvLeaseStore> {
    const js = jetstream(nc, { timeout: options.requestTimeoutMs });
    const kv = await new Kvm(js).create(options.bucket, {
      history: 1,
      ttl: options.leaseMs,
      replicas: options.replicas ?? 1,
    });
    // The bucket may be older than this process: a max age below the lease would let the key
    // vanish while its holder still acts.
    const ttl = (await kv.status()).ttl;
    if (ttl !== 0 && ttl < options.leaseMs) {
      throw new Error(
        `lease bucket ${options.bucket} has a max age of ${ttl} ms, below the lease of ${options.leaseMs} ms: every AM must use the same lease length`,
      );
    }
    return new KvLeaseStore(kv, options);
  }

  async read(): Promise<LeaseEntry | undefined> {
    const entry = await this.kv.get(this.options.key);
    if (!entry || entry.operation !== 'PUT') return undefined;
    const parsed = leaseRecordSchema.safeParse(safeJson(entry.value));
    const record: LeaseRecord = parsed.success
      ? parsed.data
      : {
          holderId: '(unreadable lease value)',
          leaseMs: this.options.leaseMs,
          term: 'unknown',
          acquiredAt: entry.created.toISOString(),
        };
    return { record, revision: entry.revision };
  }

  async create(record: LeaseRecord): Promise<number | undefined> {
    try {
      return await this.kv.create(this.options.key, encodeJson(record));
    } catch (error) {
      if (isWrongLastSequence(error)) return undefined;
      throw error;
    }
  }

  async remove(revision: number): Promise<boolean> {
    try {
      await this.kv.delete(this.options.key, { previousSeq: revision });
      return true;
    } catch (error) {
      if (isWrongLastSequence(error)) return false;
      throw error;
    }
  }

  async update(record: LeaseRecord, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(this.options.key, encodeJson(record), revision);
    } catch (error) {
      if (isWrongLastSequence(error)) return undefined;
      throw error;
    }
  }
}

function safeJson(bytes: Uint8Array): unknown {
  try {
    return decodeJson(bytes);
  } catch {
    return undefined;
  }
}
