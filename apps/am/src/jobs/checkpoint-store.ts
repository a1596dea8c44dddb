import { CheckpointManifest, Subjects } from '@dln/contracts';
import { encodeJson } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { Objm, ObjectStore } from '@nats-io/obj';
import { Inject, Injectable } from '@nestjs/common';

/**
 * The checkpoints Object Store bucket (Subjects.bucket('checkpoints')): the shards write their
 * parts, the AM writes each manifest last and deletes checkpoints beyond the last K.
 */
@Injectable()
export class CheckpointStore {
  private bucket: Promise<ObjectStore> | undefined;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
  ) {}

  async putManifest(name: string, manifest: CheckpointManifest): Promise<void> {
    const store = await this.open();
    await store.putBlob(
      { name, description: `checkpoint manifest of ${manifest.jobId} step ${manifest.step}` },
      encodeJson(manifest),
    );
  }

  async getManifest(name: string): Promise<CheckpointManifest | null> {
    const store = await this.open();
    const data = await store.getBlob(name);
    return data === null
      ? null
      : (JSON.parse(new TextDecoder().decode(data)) as CheckpointManifest);
  }

  /** Deletes objects in the given order (manifest first: a checkpoint without one is ignored). */
  async delete(names: readonly string[]): Promise<void> {
    const store = await this.open();
    for (const name of names) {
      const info = await store.info(name);
      if (info !== null && !info.deleted) await store.delete(name);
    }
  }

  private open(): Promise<ObjectStore> {
    this.bucket ??= new Objm(this.nats)
      .create(this.subjects.bucket('checkpoints'))
      .catch((error: unknown) => {
        this.bucket = undefined;
        throw error;
      });
    return this.bucket;
  }
}
