import { MicroBatcher } from './batcher';
import { LoadedModel } from './loaded-model';
import { ServingLimits } from './limits';
import { EncodedBatch } from './request-encoder';

/**
 * A loaded version as the registry serves it: its micro-batcher, and a count of the requests
 * using it, so that unloading waits for them (a default swap never fails a request in flight).
 */
export class ServedVersion {
  readonly batcher: MicroBatcher;
  private users = 0;
  private retired = false;

  constructor(
    readonly model: LoadedModel,
    limits: ServingLimits,
  ) {
    const schema = model.outputSchema;
    this.batcher = new MicroBatcher(
      (batch) => model.run(batch),
      model.units,
      schema.denseWidth,
      schema.ids.length,
      limits.maxBatchRows,
    );
  }

  get version(): number {
    return this.model.version;
  }

  get inUse(): number {
    return this.users;
  }

  /** Runs `work` holding the version; take it in the same turn as the registry lookup. */
  async use<T>(work: (served: ServedVersion) => Promise<T>): Promise<T> {
    this.users += 1;
    try {
      return await work(this);
    } finally {
      this.users -= 1;
      if (this.retired && this.users === 0) this.model.dispose();
    }
  }

  /** Scores encoded rows; a stream model's aggregate slots are read first (batch.lookups). */
  score(batch: EncodedBatch): Promise<Float32Array> {
    if (batch.lookups)
      return this.model.completeAggregates(batch).then(() => this.batcher.submit(batch));
    return this.batcher.submit(batch);
  }

  /** No new lookups reach it any more; the model is freed when the last user is done. */
  retire(): void {
    this.retired = true;
    if (this.users === 0) this.model.dispose();
  }
}
