import {
  ControlPattern,
  ModelVersion,
  SourceDeclaration,
  sourceDescriptionSchema,
  Subjects,
} from '@dln/contracts';
import { NatsConnection, requestJson } from '@dln/messaging';
import { Objm, ObjectStore } from '@nats-io/obj';
import { BlobFetchThread } from './blob-fetch/blob-fetch-thread';

/**
 * Where model artifacts come from: the blobs of a catalogued version in the models Object
 * Store, and the declaration of the source a pipeline reads (asked of ingest, cached).
 */
export class ArtifactSource {
  private store: Promise<ObjectStore> | undefined;
  private readonly sources = new Map<string, Promise<SourceDeclaration | undefined>>();

  constructor(
    private readonly nats: NatsConnection,
    private readonly subjects: Subjects,
    /** Reads the blobs off the event loop when given; they are read here if it fails. */
    private readonly thread?: BlobFetchThread,
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  async blobs(version: ModelVersion): Promise<Map<string, Uint8Array>> {
    if (this.thread) {
      const bucket = this.subjects.bucket('models');
      const fetched = await this.thread.fetch(bucket, version.objects).catch((error: unknown) => {
        this.warn(
          `${version.model} v${version.version}: the blob fetch thread failed (${error instanceof Error ? error.message : String(error)}); reading on the event loop`,
        );
        return undefined;
      });
      if (fetched) return this.complete(version, fetched);
    }
    return this.blobsInline(version);
  }

  private async blobsInline(version: ModelVersion): Promise<Map<string, Uint8Array>> {
    this.store ??= new Objm(this.nats).open(this.subjects.bucket('models'));
    const store = await this.store.catch((error: unknown) => {
      this.store = undefined;
      throw error;
    });
    const fetched = new Map<string, Uint8Array | null>();
    for (const name of version.objects) fetched.set(name, await store.getBlob(name));
    return this.complete(version, fetched);
  }

  /** Every object of the version, or a precise error naming the first missing one. */
  private complete(
    version: ModelVersion,
    fetched: ReadonlyMap<string, Uint8Array | null>,
  ): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const name of version.objects) {
      const bytes = fetched.get(name);
      if (!bytes)
        throw new Error(
          `object ${name} of ${version.model} v${version.version} is not in ${this.subjects.bucket('models')}`,
        );
      out.set(name, bytes);
    }
    return out;
  }

  /** The source's declaration from ingest, or undefined when ingest does not answer in time. */
  declaration(source: string): Promise<SourceDeclaration | undefined> {
    let found = this.sources.get(source);
    if (!found) {
      found = requestJson(
        this.nats,
        this.subjects.control(ControlPattern.sourceDescribe),
        { name: source },
        {
          reply: sourceDescriptionSchema,
          what: `declaration of source ${source}`,
          timeoutMs: 2_000,
        },
      ).then(
        (description) => description.declaration,
        () => {
          this.sources.delete(source);
          return undefined;
        },
      );
      this.sources.set(source, found);
    }
    return found;
  }
}
