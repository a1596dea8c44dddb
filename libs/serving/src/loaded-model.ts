import * as tf from '@tensorflow/tfjs';
import { isDeepStrictEqual } from 'node:util';
import { OutputSchema, outputUnits, PipelineSnapshot, SourceDeclaration } from '@dln/contracts';
import { InputName } from '@dln/ml';
import { AggregateReader, readAggregates, StreamServing, writeAggregateSlots } from './aggregates';
import { compileInferencePlan, InferencePlan } from './inference-plan';
import { planAgreedBefore, planSignature, rememberAgreedPlan } from './plan-agreement';
import { nextTurn } from './stepwise-load';
import { modelShells } from './model-shells';
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
  /**
   * A stream model with per-key aggregates (`snapshot` is then its base): the aggregate slots
   * of every row are read from the feature service at the record's event time.
   */
  stream?: StreamServing;
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
  /** The model compiled into plain ops (same results, less per-call overhead), when it could be. */
  private plan: InferencePlan | undefined;
  private disposed = false;

  constructor(
    readonly name: string,
    readonly version: number,
    readonly artifact: ServableArtifact,
    limits: ServingLimits,
    /** Where a stream model's aggregates are read; required when the artifact has them. */
    private readonly aggregates?: AggregateReader,
    /** `later`: compile the op plan in `compilePlan()`, in steps (a load on a serving loop). */
    options: { plan?: 'now' | 'later' } = {},
  ) {
    if (artifact.stream && !aggregates)
      throw new Error(
        `model ${name} v${version}: its per-key aggregates need a reader of the feature service's state`,
      );
    this.encoder = new RequestEncoder(this.encodingSpec(limits));
    this.outputSchema = this.encoder.outputSchema;
    if (!isDeepStrictEqual(this.outputSchema, artifact.outputSchema)) {
      throw new Error(
        `model ${name} v${version}: the pipeline snapshot does not give the artifact's output schema`,
      );
    }
    this.units = outputUnits(this.outputSchema);
    this.inputFields = inputFieldsOf(artifact.snapshot);
    if (artifact.stream) {
      const { eventTime, snapshot } = artifact.stream;
      for (const field of [eventTime, ...snapshot.aggregates.map((a) => a.key)])
        if (!this.inputFields.includes(field)) this.inputFields.push(field);
    }
    // tfjs makes layer names unique per process (dense, dense_1, ...): tell the inputs by dtype.
    this.inputOrder = artifact.model.inputs.map((input) =>
      input.dtype === 'int32' ? InputName.Ids : InputName.Dense,
    );
    if (new Set(this.inputOrder).size !== this.inputOrder.length) {
      throw new Error(
        `model ${name} v${version}: expected one float32 and at most one int32 input`,
      );
    }
    artifact.model.inputs.forEach((input, i) => {
      const ids = this.inputOrder[i] === InputName.Ids;
      const width = ids ? this.outputSchema.ids.length : this.outputSchema.denseWidth;
      if (input.shape.length !== 2 || input.shape[1] !== width) {
        throw new Error(
          `model ${name} v${version}: its ${ids ? 'ids' : 'dense'} input is [${input.shape.map((d) => d ?? 'batch').join(', ')}], the pipeline gives ${width} values`,
        );
      }
    });
    const outputShape = artifact.model.outputs[0]?.shape;
    if (artifact.model.outputs.length !== 1 || outputShape?.[1] !== this.units) {
      throw new Error(`model ${name} v${version}: expected one output of ${this.units} units`);
    }
    if (options.plan !== 'later') this.plan = this.checkedPlan();
  }

  /**
   * Compiles and checks the op plan with a turn of the event loop between the two, for a model
   * built with `plan: 'later'` (it scores through predictOnBatch until then).
   */
  async compilePlan(): Promise<void> {
    if (this.plan || this.disposed) return;
    const plan = compileInferencePlan(this.artifact.model);
    if (!plan) return;
    const signature = planSignature(this.artifact.model);
    if (planAgreedBefore(signature)) {
      this.plan = plan;
      return;
    }
    await nextTurn();
    const probe = this.probeBatch();
    const expected = this.probe(probe, undefined);
    await nextTurn();
    if (expected && !this.disposed)
      this.plan = this.agreeing(signature, plan, expected, this.probe(probe, plan));
  }

  /** Whether scoring runs the compiled plan (else LayersModel.predictOnBatch). */
  get compiled(): boolean {
    return this.plan !== undefined;
  }

  /**
   * The compiled plan, kept only if it gives the layers model's own answers on a probe batch (or a
   * plan of the same architecture did before).
   */
  private checkedPlan(): InferencePlan | undefined {
    const plan = compileInferencePlan(this.artifact.model);
    if (!plan) return undefined;
    const signature = planSignature(this.artifact.model);
    if (planAgreedBefore(signature)) return plan;
    const probe = this.probeBatch();
    const expected = this.probe(probe, undefined);
    return expected && this.agreeing(signature, plan, expected, this.probe(probe, plan));
  }

  private probeBatch(): EncodedBatch {
    const rows = 3;
    return {
      size: rows,
      dense: Float32Array.from(
        { length: rows * this.outputSchema.denseWidth },
        (_, i) => ((i % 7) - 3) / 3,
      ),
      ids: Int32Array.from({ length: rows * this.outputSchema.ids.length }, (_, i) => {
        const column = this.outputSchema.ids[i % this.outputSchema.ids.length];
        return column ? Math.floor(i / this.outputSchema.ids.length) % column.cardinality : 0;
      }),
    };
  }

  /** The scores of `batch` through `plan` (or the layers model), undefined if it throws. */
  private probe(batch: EncodedBatch, plan: InferencePlan | undefined): Float32Array | undefined {
    try {
      return this.predict(batch, plan);
    } catch {
      return undefined;
    }
  }

  /** `plan` when its scores match the layers model's (remembered for its architecture). */
  private agreeing(
    signature: string,
    plan: InferencePlan,
    expected: Float32Array,
    got: Float32Array | undefined,
  ): InferencePlan | undefined {
    const agrees =
      got !== undefined &&
      got.length === expected.length &&
      expected.every(
        (value, i) => Math.abs(value - (got[i] as number)) <= 1e-5 * Math.max(1, Math.abs(value)),
      );
    if (!agrees) return undefined;
    rememberAgreedPlan(signature);
    return plan;
  }

  /** Plain data to build the same encoder elsewhere (a parsing worker thread). */
  encodingSpec(limits: ServingLimits): EncodingSpec {
    return {
      snapshot: this.artifact.snapshot,
      ...(this.artifact.source ? { source: this.artifact.source } : {}),
      ...(this.artifact.stream ? { stream: this.artifact.stream } : {}),
      limits,
    };
  }

  /**
   * Fills the aggregate slots of a stream model's rows (`batch.lookups`) with the values read
   * for each record's key and event time, in one bounded request per 1,024 rows. Rejects with
   * the reader's UNAVAILABLE error when the feature service does not answer.
   */
  async completeAggregates(batch: EncodedBatch): Promise<void> {
    const lookups = batch.lookups;
    const stream = this.artifact.stream;
    if (!lookups || !stream || !this.aggregates) return;
    if (lookups.length !== batch.size)
      throw new Error(`${batch.size} rows but ${lookups.length} aggregate reads`);
    if (lookups.length > 0) {
      const values = await readAggregates(this.aggregates, stream.snapshot.pipeline, lookups);
      writeAggregateSlots(
        batch.dense,
        this.outputSchema.denseWidth,
        stream.snapshot.aggregates,
        values,
      );
    }
    delete batch.lookups;
  }

  /** Scores `batch.size` rows: a row-major Float32Array of size x units. */
  run(batch: EncodedBatch): Float32Array {
    if (this.disposed) throw new Error(`model ${this.name} v${this.version} was unloaded`);
    return this.predict(batch, this.plan);
  }

  private predict(batch: EncodedBatch, plan: InferencePlan | undefined): Float32Array {
    const { denseWidth } = this.outputSchema;
    const idCount = this.outputSchema.ids.length;
    const inputs = this.inputOrder.map((name) =>
      name === InputName.Dense
        ? tf.tensor2d(batch.dense, [batch.size, denseWidth], 'float32')
        : tf.tensor2d(batch.ids, [batch.size, idCount], 'int32'),
    );
    let output: tf.Tensor | undefined;
    try {
      if (plan) {
        output = plan(
          inputs[this.inputOrder.indexOf(InputName.Dense)],
          inputs[this.inputOrder.indexOf(InputName.Ids)],
        );
      } else {
        // predictOnBatch: one pass over all rows (predict() splits them into batches of 32 and concatenates).
        output = this.artifact.model.predictOnBatch(
          inputs.length === 1 ? inputs[0]! : inputs,
        ) as tf.Tensor;
      }
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
    // Kept for a later version of the same topology when it was loaded through the shells.
    modelShells.recycle(this.artifact.model);
  }
}
