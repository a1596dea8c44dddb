import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelSpecSchema, OutputSchema } from '@dln/contracts';
import { buildModel, validateModelSpec } from './model-builder';
import { describeVariables, readWeights } from './variables';
import { batchInputs } from './gradients';
import { batchFromExamples } from './batch';

const schema = (label: OutputSchema['label']): OutputSchema => ({
  formatVersion: 1,
  dense: [{ name: 'x', offset: 0, width: 3 }],
  denseWidth: 3,
  ids: [
    { name: 'origin', cardinality: 10 },
    { name: 'dest', cardinality: 6 },
  ],
  label,
});
const binary = schema({ kind: 'binary' });

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => tf.disposeVariables());

describe('buildModel', () => {
  it('builds an mlp with a sigmoid output for binary labels, same weights for the same seed', () => {
    const spec = modelSpecSchema.parse({ kind: 'mlp', hidden: [4, 2], dropout: 0.5 });
    const a = buildModel(spec, binary, 11);
    const b = buildModel(spec, binary, 11);
    const c = buildModel(spec, binary, 12);
    expect(describeVariables(a).map((v) => `${v.name}:${v.shape.join('x')}`)).toEqual([
      'hidden_0/kernel:3x4',
      'hidden_0/bias:4',
      'hidden_1/kernel:4x2',
      'hidden_1/bias:2',
      'output/kernel:2x1',
      'output/bias:1',
    ]);
    expect(Array.from(readWeights(a))).toEqual(Array.from(readWeights(b)));
    expect(Array.from(readWeights(a))).not.toEqual(Array.from(readWeights(c)));
    expect(a.layers.at(-1)?.getConfig()['activation']).toBe('sigmoid');
    expect(a.layers.some((layer) => layer.getClassName() === 'Dropout')).toBe(true);
    for (const model of [a, b, c]) model.dispose();
  });

  it('follows the label: softmax over the classes, linear for numbers', () => {
    const spec = modelSpecSchema.parse({ kind: 'logistic' });
    const classes = buildModel(spec, schema({ kind: 'class', classes: ['a', 'b', 'c'] }), 1);
    expect(classes.outputs[0]?.shape).toEqual([null, 3]);
    expect(classes.layers.at(-1)?.getConfig()['activation']).toBe('softmax');
    const numeric = buildModel(spec, schema({ kind: 'numeric' }), 1);
    expect(numeric.layers.at(-1)?.getConfig()['activation']).toBe('linear');
    classes.dispose();
    numeric.dispose();
  });

  it('builds wide-and-deep with a dense and an ids input and one embedding per column', () => {
    const spec = modelSpecSchema.parse({
      kind: 'wide_and_deep',
      embeddings: [
        { column: 'dest', dim: 2 },
        { column: 'origin', dim: 3 },
      ],
      deepHidden: [5],
    });
    const model = buildModel(spec, binary, 3);
    expect(model.inputNames).toEqual(['dense', 'ids']);
    const names = describeVariables(model).map((v) => `${v.name}:${v.shape.join('x')}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'embed_dest/embeddings:6x2',
        'embed_origin/embeddings:10x3',
        'deep_0/kernel:8x5',
        'wide/kernel:3x1',
      ]),
    );
    const batch = batchFromExamples(
      [
        { dense: new Float32Array([1, 2, 3]), ids: new Int32Array([9, 5]), label: 1 },
        { dense: new Float32Array([0, 0, 0]), ids: new Int32Array([0, 0]), label: 0 },
      ],
      binary,
    );
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => (model.predict(batchInputs(model, batch)) as tf.Tensor).dataSync());
    expect(out).toHaveLength(2);
    expect(Array.from(out).every((p) => p > 0 && p < 1)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('builds a plain stack of layer configs and appends the output layer', () => {
    const spec = modelSpecSchema.parse({
      kind: 'layers',
      layers: [
        { className: 'Dense', config: { units: 4, activation: 'tanh', inputShape: [3] } },
        { className: 'LayerNormalization', config: {} },
        { className: 'Dropout', config: { rate: 0.1 } },
        { className: 'Activation', config: { activation: 'relu' } },
      ],
    });
    const model = buildModel(spec, binary, 5);
    expect(model.layers.map((layer) => layer.name)).toEqual([
      'dense',
      'layer_0',
      'layer_1',
      'layer_2',
      'layer_3',
      'output',
    ]);
    expect(model.countParams()).toBe(16 + 8 + 5);
    model.dispose();
  });
});

describe('validateModelSpec', () => {
  it('passes a spec that builds and reports contract issues with their paths', () => {
    const numTensors = tf.memory().numTensors;
    expect(validateModelSpec(modelSpecSchema.parse({ kind: 'mlp', hidden: [3] }), binary)).toEqual(
      [],
    );
    expect(tf.memory().numTensors).toBe(numTensors);
    const unknown = modelSpecSchema.parse({
      kind: 'wide_and_deep',
      embeddings: [{ column: 'carrier', dim: 2 }],
      deepHidden: [2],
    });
    expect(validateModelSpec(unknown, binary, 'job.model')).toEqual([
      {
        path: 'job.model.embeddings.0.column',
        message: 'unknown id column "carrier" (the output schema has: origin, dest)',
      },
    ]);
  });
});
