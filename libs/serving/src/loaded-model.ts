import * as tf from '@tensorflow/tfjs';
import { OutputSchema, outputUnits, PipelineSnapshot, SourceDeclaration } from '@dln/contracts';
import { InputName } from '@dln/ml';
import { inputFieldsOf } from './instances';
import { ServingLimits } from './limits';
import { EncodedBatch, EncodingSpec, RequestEncoder } from './request-encoder';

/** Everything serving needs from a model artifact, already deserialized. */
export interface ServableArtifact {
  model: tf.LayersModel;
  snapshot: PipelineSnapshot;
  /** The output schema the model was trained on; must equal the snapshot's. */
  outputSchema: OutputSchema;
  /** The source's declaration, when known: instances are then validated and coerced like ingest. */
  source?: SourceDeclaration;
  /** Job, data counts, validation metrics: shown in the metadata. */
  metadata?: Record<string, unknown>;
}

/**
 * One model version ready to score: the tfjs model, the request encoder built on its pinned
 * pipeline snapshot, and its output schema. `run` is one synchronous model call.
 */
export class LoadedModel {
  readonly encoder: RequestEncoder;
  readonly outputSchema: OutputSchema;
  readonly units: number;
  readonly inputFields: string[];
  private readonly inputOrder: string[];
  private disposed = false;

  constructor(
    readonly name: string,
    readonly version: number,
    readonly artifact: ServableArtifact,
    limits: ServingLimits,
  ) {
    this.encoder = new RequestEncoder(this.encodingSpec(limits));
    this.outputSchema = this.encoder.outputSchema;
    if (JSON.stringify(this.outputSchema) !== JSON.stringify(artifact.outputSchema)) {
      throw new Error(
        `model ${name} v${version}: the pipeline snapshot does not give the artifact's output schema`,
      );
    }
    this.units = outputUnits(this.outputSchema);
    this.inputFields = inputFieldsOf(artifact.snapshot);
    // tfjs makes layer names unique per process (dense, dense_1, ...): tell the inputs by dtype.
    this.inputOrder = artifact.model.inputs.map((input) =>
      input.dtype === 'int32' ? InputName.Ids : InputName.Dense,
    );
    if (new Set(this.inputOrder).size !== this.inputOrder.length) {
      throw new Error(
        `model ${name} v${version}: expected one float32 and at most one int32 input`,
      );
    }
    const outputShape = artifact.model.outputs[0]?.shape;
    if (artifact.model.outputs.length !== 1 || outputShape?.[1] !== this.units) {
      throw new Error(`model ${name} v${version}: expected one output of ${this.units} units`);
    }
  }

  /** Plain data to build the same encoder elsewhere (a parsing worker thread). */
  encodingSpec(limits: ServingLimits): EncodingSpec {
    return {
      snapshot: this.artifact.snapshot,
      ...(this.artifact.source ? { source: this.artifact.source } : {}),
      limits,
    };
  }

  /** Scores `batch.size` rows: a row-major Float32Array of size x units. */
  run(batch: EncodedBatch): Float32Array {
    if (this.disposed) throw new Error(`model ${this.name} v${this.version} was unloaded`);
    const { denseWidth } = this.outputSchema;
    const idCount = this.outputSchema.ids.length;
    const inputs = this.inputOrder.map((name) =>
      name === InputName.Dense
        ? tf.tensor2d(batch.dense, [batch.size, denseWidth], 'float32')
        : tf.tensor2d(batch.ids, [batch.size, idCount], 'int32'),
    );
    let output: tf.Tensor | undefined;
    try {
      output = this.artifact.model.predict(inputs.length === 1 ? inputs[0]! : inputs) as tf.Tensor;
      // Read outside tidy: tidy walks a returned TypedArray (PERFORMANCE.md).
      return output.dataSync() as Float32Array;
    } finally {
      output?.dispose();
      tf.dispose(inputs);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.artifact.model.dispose();
  }
}
