import { CheckpointManifest, checkpointManifestSchema, Subjects } from '@dln/contracts';
import { artifactToBlobs, ModelArtifact } from '@dln/ml';
import { Objm, ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';

/** Object Store name of one shard's part of a checkpoint (next to the AM's manifest). */
export function shardCheckpointName(
  jobId: string,
  generation: number,
  step: number,
  shard: number,
): string {
  return `${jobId}/g${generation}/step-${step}/shard-${shard}.bin`;
}

/** The Object Store buckets a role writes to: checkpoints and models. */
export class RoleObjects {
  private readonly buckets = new Map<string, Promise<ObjectStore>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
  ) {}

  async putCheckpoint(name: string, bytes: Uint8Array): Promise<void> {
    const store = await this.open('checkpoints');
    await store.putBlob({ name }, bytes);
  }

  async getBlob(purpose: 'checkpoints' | 'models', name: string): Promise<Uint8Array> {
    const store = await this.open(purpose);
    const data = await store.getBlob(name);
    if (data === null)
      throw new Error(`object ${name} is missing from ${this.subjects.bucket(purpose)}`);
    return data;
  }

  /** The manifest the AM wrote (restoreFrom), validated. */
  async getManifest(name: string): Promise<CheckpointManifest> {
    const bytes = await this.getBlob('checkpoints', name);
    return checkpointManifestSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
  }

  /** Stores an artifact's blobs under `prefix/`; returns their object names. */
  async putArtifact(prefix: string, artifact: ModelArtifact): Promise<string[]> {
    const store = await this.open('models');
    const names: string[] = [];
    for (const [file, bytes] of artifactToBlobs(artifact)) {
      const name = `${prefix}/${file}`;
      await store.putBlob({ name }, bytes);
      names.push(name);
    }
    return names;
  }

  private open(purpose: 'checkpoints' | 'models'): Promise<ObjectStore> {
    let bucket = this.buckets.get(purpose);
    if (!bucket) {
      bucket = new Objm(this.nc).create(this.subjects.bucket(purpose));
      bucket.catch(() => this.buckets.delete(purpose));
      this.buckets.set(purpose, bucket);
    }
    return bucket;
  }
}
