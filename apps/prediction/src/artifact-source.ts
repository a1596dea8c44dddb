import {
  ControlPattern,
  ModelVersion,
  SourceDeclaration,
  sourceDescriptionSchema,
  Subjects,
} from '@dln/contracts';
import { NatsConnection, requestJson } from '@dln/messaging';
import { Objm, ObjectStore } from '@nats-io/obj';

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
  ) {}

  async blobs(version: ModelVersion): Promise<Map<string, Uint8Array>> {
    this.store ??= new Objm(this.nats).open(this.subjects.bucket('models'));
    const store = await this.store.catch((error: unknown) => {
      this.store = undefined;
      throw error;
    });
    const out = new Map<string, Uint8Array>();
    for (const name of version.objects) {
      const bytes = await store.getBlob(name);
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
