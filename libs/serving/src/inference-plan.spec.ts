import * as tf from '@tensorflow/tfjs';
import { ModelSpec, modelSpecSchema } from '@dln/contracts';
import { PipelineEncoder } from '@dln/features';
import { buildModel } from '@dln/ml';
import { beforeAll, describe, expect, it } from 'vitest';
import { records, snapshotFor } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';

const specs: Record<string, unknown> = {
  logistic: { kind: 'logistic' },
  mlp: { kind: 'mlp', hidden: [16, 8], activation: 'tanh', dropout: 0.3 },
  softplus: { kind: 'mlp', hidden: [4], activation: 'softplus' },
  wide_and_deep: {
    kind: 'wide_and_deep',
    embeddings: [{ column: 'c', dim: 4 }],
    deepHidden: [8, 4],
    activation: 'selu',
    dropout: 0.2,
  },
  layers: {
    kind: 'layers',
    layers: [
      { className: 'Dense', config: { units: 6, activation: 'elu' } },
      { className: 'Dropout', config: { rate: 0.1 } },
      { className: 'Activation', config: { activation: 'relu6' } },
    ],
  },
};

describe('compiled inference plan', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const kind of ['binary', 'class', 'numeric'] as const) {
    for (const [name, raw] of Object.entries(specs)) {
      it(`scores a ${name} model with a ${kind} label exactly like LayersModel.predict`, () => {
        const snapshot = snapshotFor(kind);
        const schema = new PipelineEncoder(snapshot).outputSchema;
        const model = buildModel(modelSpecSchema.parse(raw) as ModelSpec, schema, 5);
        const loaded = new LoadedModel(
          'm',
          1,
          { model, snapshot, outputSchema: schema },
          DEFAULT_SERVING_LIMITS,
        );
        expect(loaded.compiled).toBe(true);
        const rows = records(37, 2).map(({ rid: _r, ...rest }) => rest);
        const batch = loaded.encoder.encode({ instances: rows }, 'predict');
        const inputs = model.inputs.map((input) =>
          input.dtype === 'int32'
            ? tf.tensor2d(batch.ids, [batch.size, schema.ids.length], 'int32')
            : tf.tensor2d(batch.dense, [batch.size, schema.denseWidth]),
        );
        const reference = model.predict(inputs.length === 1 ? inputs[0]! : inputs) as tf.Tensor;
        const expected = reference.dataSync();
        const before = tf.memory().numTensors;
        const got = loaded.run(batch);
        expect(tf.memory().numTensors).toBe(before);
        expect(got).toHaveLength(expected.length);
        got.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 6));
        tf.dispose([...inputs, reference]);
        loaded.dispose();
      });
    }
  }

  it('falls back to the layers model for layers it does not compile', () => {
    const snapshot = snapshotFor('binary');
    const schema = new PipelineEncoder(snapshot).outputSchema;
    const spec = modelSpecSchema.parse({
      kind: 'layers',
      layers: [{ className: 'LayerNormalization', config: {} }],
    }) as ModelSpec;
    const loaded = new LoadedModel(
      'm',
      1,
      { model: buildModel(spec, schema, 1), snapshot, outputSchema: schema },
      DEFAULT_SERVING_LIMITS,
    );
    expect(loaded.compiled).toBe(false);
    const batch = loaded.encoder.encode({ instances: records(3, 4) }, 'predict');
    expect(loaded.run(batch)).toHaveLength(3);
  });
});

describe('LoadedModel checks at load', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('refuses a model whose inputs do not fit the pipeline', () => {
    const snapshot = snapshotFor('binary');
    const schema = new PipelineEncoder(snapshot).outputSchema;
    const narrower = { ...schema, denseWidth: schema.denseWidth - 1 };
    const model = buildModel(modelSpecSchema.parse({ kind: 'logistic' }) as ModelSpec, narrower, 1);
    expect(
      () =>
        new LoadedModel('m', 2, { model, snapshot, outputSchema: schema }, DEFAULT_SERVING_LIMITS),
    ).toThrow(
      `model m v2: its dense input is [batch, ${schema.denseWidth - 1}], the pipeline gives ${schema.denseWidth} values`,
    );
    expect(
      () =>
        new LoadedModel(
          'm',
          2,
          { model, snapshot, outputSchema: narrower },
          DEFAULT_SERVING_LIMITS,
        ),
    ).toThrow(/does not give the artifact's output schema/);
  });
});
