import {
  KeyAggregateState,
  StreamCheckpointManifest,
  streamCheckpointManifestSchema,
  StreamGroupStatus,
  StreamKeys,
  StreamPipelineRecord,
  streamPipelineRecordSchema,
  StreamSnapshot,
  streamSnapshotSchema,
  Subjects,
} from '@dln/contracts';
import { decodeJson, encodeJson, NatsConnection } from '@dln/messaging';
import { Kvm, type KV } from '@nats-io/kv';
import type { z } from 'zod';

/** Checkpoint JSON is split into chunks well below NATS's default 1 MiB max_payload. */
const CHUNK_BYTES = 512 * 1024;

function parsed<T extends z.ZodType>(
  schema: T,
  bytes: Uint8Array | undefined,
): z.infer<T> | undefined {
  return bytes === undefined ? undefined : schema.parse(decodeJson(bytes));
}

/** What a group restores from: the manifest and the checkpoint JSON it names. */
export interface LoadedCheckpoint<T> {
  manifest: StreamCheckpointManifest;
  state: T;
}

/**
 * The feature service's streaming state in the `features` KV bucket, laid out as StreamKeys
 * documents (contracts): specs, checkpoints (chunks first, the manifest last, so a checkpoint
 * without its manifest is ignored), published snapshot versions, per-key aggregate states.
 */
export class StreamStore {
  private constructor(private readonly kv: KV) {}

  static async open(
    nc: NatsConnection,
    subjects: Subjects,
    replicas: number,
  ): Promise<StreamStore> {
    const kvm = new Kvm(nc);
    const name = subjects.bucket('features');
    try {
      return new StreamStore(await kvm.create(name, { history: 1, replicas }));
    } catch {
      // Created earlier with other options: use it as it is.
      return new StreamStore(await kvm.open(name));
    }
  }

  private async value(key: string): Promise<Uint8Array | undefined> {
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return entry.value;
  }

  async spec(pipeline: string): Promise<StreamPipelineRecord | undefined> {
    return parsed(streamPipelineRecordSchema, await this.value(StreamKeys.spec(pipeline)));
  }

  async putSpec(record: StreamPipelineRecord): Promise<void> {
    await this.kv.put(StreamKeys.spec(record.spec.name), encodeJson(record));
  }

  /** Every declared stream pipeline. */
  async specs(): Promise<StreamPipelineRecord[]> {
    const out: StreamPipelineRecord[] = [];
    for await (const key of await this.kv.keys('stream.*.spec')) {
      const record = parsed(streamPipelineRecordSchema, await this.value(key));
      if (record) out.push(record);
    }
    return out.sort((a, b) => (a.spec.name < b.spec.name ? -1 : 1));
  }

  async snapshot(pipeline: string, version: number): Promise<StreamSnapshot | undefined> {
    return parsed(streamSnapshotSchema, await this.value(StreamKeys.snapshot(pipeline, version)));
  }

  async latestSnapshotVersion(pipeline: string): Promise<number> {
    const bytes = await this.value(StreamKeys.latestSnapshot(pipeline));
    return bytes ? (decodeJson(bytes) as { version: number }).version : 0;
  }

  /**
   * Publishes a snapshot under the first free version at or above its own (a version is never
   * overwritten: a model may have pinned it); returns the snapshot as stored.
   */
  async publishSnapshot(snapshot: StreamSnapshot): Promise<StreamSnapshot> {
    for (let version = snapshot.version; ; version += 1) {
      const stored = { ...snapshot, version };
      try {
        await this.kv.create(StreamKeys.snapshot(snapshot.pipeline, version), encodeJson(stored));
      } catch (err) {
        if (/exists|wrong last sequence/i.test(String(err))) continue;
        throw err;
      }
      await this.kv.put(StreamKeys.latestSnapshot(snapshot.pipeline), encodeJson({ version }));
      return stored;
    }
  }

  async checkpoint<T>(
    pipeline: string,
    group: number,
    groups: number,
  ): Promise<LoadedCheckpoint<T> | undefined> {
    const manifest = parsed(
      streamCheckpointManifestSchema,
      await this.value(StreamKeys.manifest(pipeline, group, groups)),
    );
    if (!manifest) return undefined;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < manifest.chunks; i += 1) {
      const chunk = await this.value(StreamKeys.chunk(pipeline, group, groups, manifest.epoch, i));
      if (!chunk)
        throw new Error(
          `checkpoint ${manifest.epoch} of ${pipeline} g${group}: chunk ${i} is missing`,
        );
      parts.push(chunk);
    }
    return { manifest, state: decodeJson(Buffer.concat(parts)) as T };
  }

  /** Writes the chunks of `epoch`, then its manifest, then drops the previous epoch's chunks. */
  async writeCheckpoint(
    pipeline: string,
    group: number,
    groups: number,
    epoch: number,
    state: unknown,
    previous?: StreamCheckpointManifest,
  ): Promise<StreamCheckpointManifest> {
    const bytes = encodeJson(state);
    const chunks = Math.max(1, Math.ceil(bytes.byteLength / CHUNK_BYTES));
    await Promise.all(
      Array.from({ length: chunks }, (_, i) =>
        this.kv.put(
          StreamKeys.chunk(pipeline, group, groups, epoch, i),
          bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES),
        ),
      ),
    );
    const manifest = {
      epoch,
      chunks,
      bytes: bytes.byteLength,
      writtenAt: new Date().toISOString(),
    };
    await this.kv.put(StreamKeys.manifest(pipeline, group, groups), encodeJson(manifest));
    if (previous && previous.epoch !== epoch) {
      await Promise.all(
        Array.from({ length: previous.chunks }, (_, i) =>
          this.kv.purge(StreamKeys.chunk(pipeline, group, groups, previous.epoch, i)),
        ),
      );
    }
    return manifest;
  }

  async putStatus(pipeline: string, status: StreamGroupStatus): Promise<void> {
    await this.kv.put(StreamKeys.status(pipeline, status.group, status.groups), encodeJson(status));
  }

  async statuses(pipeline: string): Promise<StreamGroupStatus[]> {
    const out: StreamGroupStatus[] = [];
    for await (const key of await this.kv.keys(`stream.${pipeline}.*.status`)) {
      const bytes = await this.value(key);
      if (bytes) out.push(decodeJson(bytes) as StreamGroupStatus);
    }
    return out.sort((a, b) => a.groups - b.groups || a.group - b.group);
  }

  async putAggregates(
    pipeline: string,
    states: { feature: string; key: string; state: KeyAggregateState }[],
  ): Promise<void> {
    await Promise.all(
      states.map((s) =>
        this.kv.put(StreamKeys.aggregate(pipeline, s.feature, s.key), encodeJson(s.state)),
      ),
    );
  }

  async aggregate(
    pipeline: string,
    feature: string,
    key: string,
  ): Promise<KeyAggregateState | undefined> {
    const bytes = await this.value(StreamKeys.aggregate(pipeline, feature, key));
    return bytes ? (decodeJson(bytes) as KeyAggregateState) : undefined;
  }
}
