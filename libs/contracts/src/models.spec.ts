import { describe, expect, it } from 'vitest';
import { OutputSchema } from './examples';
import {
  checkModelSpec,
  checkTrainingSettings,
  countModelParameters,
  modelSpecSchema,
  trainingSettingsSchema,
} from './models';
import { parseInput } from './validation';
import { ValidationError } from './errors';

const schema: OutputSchema = {
  formatVersion: 1,
  dense: [
    { name: 'hour', offset: 0, width: 4 },
    { name: 'distance', offset: 4, width: 1 },
  ],
  denseWidth: 5,
  ids: [
    { name: 'origin', cardinality: 100 },
    { name: 'dest', cardinality: 50 },
  ],
  label: { kind: 'binary' },
};

describe('model spec', () => {
  it('applies defaults to an mlp and counts its parameters', () => {
    const spec = modelSpecSchema.parse({ kind: 'mlp', hidden: [8, 4] });
    expect(spec).toEqual({ kind: 'mlp', hidden: [8, 4], activation: 'relu', dropout: 0, l2: 0 });
    expect(countModelParameters(spec, schema)).toBe(6 * 8 + 9 * 4 + 5 * 1);
    expect(checkModelSpec(spec, schema)).toEqual([]);
  });

  it('refuses out-of-range numbers with a path to the field', () => {
    const parse = () =>
      parseInput(modelSpecSchema, { kind: 'mlp', hidden: [0], dropout: 1 }, 'model');
    expect(parse).toThrow(ValidationError);
    try {
      parse();
    } catch (error) {
      const paths = (error as ValidationError).options.issues?.map((issue) => issue.path);
      expect(paths).toEqual(['hidden.0', 'dropout']);
    }
    expect(modelSpecSchema.safeParse({ kind: 'logistic', l2: Infinity }).success).toBe(false);
    expect(modelSpecSchema.safeParse({ kind: 'mlp', hidden: [NaN] }).success).toBe(false);
    expect(modelSpecSchema.safeParse({ kind: 'mlp', hidden: new Array(17).fill(4) }).success).toBe(
      false,
    );
  });

  it('finds embeddings over unknown or repeated id columns', () => {
    const spec = modelSpecSchema.parse({
      kind: 'wide_and_deep',
      embeddings: [
        { column: 'origin', dim: 4 },
        { column: 'carrier', dim: 4 },
        { column: 'origin', dim: 2 },
      ],
      deepHidden: [8],
    });
    expect(checkModelSpec(spec, schema)).toEqual([
      {
        path: 'model.embeddings.1.column',
        message: 'unknown id column "carrier" (the output schema has: origin, dest)',
      },
      { path: 'model.embeddings.2.column', message: 'id column "origin" is embedded twice' },
    ]);
  });

  it('finds layer configs whose input does not fit the dense width', () => {
    const spec = modelSpecSchema.parse({
      kind: 'layers',
      layers: [
        { className: 'Dense', config: { units: 8, activation: 'relu', inputShape: [6] } },
        { className: 'Dropout', config: { rate: 0.2 } },
        { className: 'Dense', config: { units: 4, batchInputShape: [null, 8] } },
      ],
    });
    expect(checkModelSpec(spec, schema)).toEqual([
      {
        path: 'model.layers.0.config',
        message: 'layer input width 6 does not fit the dense width 5 of the output schema',
      },
      { path: 'model.layers.2.config', message: 'only the first layer may declare an input shape' },
    ]);
    expect(
      modelSpecSchema.safeParse({ kind: 'layers', layers: [{ className: 'Conv2D', config: {} }] })
        .success,
    ).toBe(false);
    expect(
      modelSpecSchema.safeParse({
        kind: 'layers',
        layers: [{ className: 'Dense', config: { units: 2, kernelInitializer: 'x' } }],
      }).success,
    ).toBe(false);
  });

  it('refuses dense models on a schema without dense features and oversized models', () => {
    const idsOnly = { ...schema, dense: [], denseWidth: 0 };
    expect(checkModelSpec(modelSpecSchema.parse({ kind: 'logistic' }), idsOnly)[0]?.path).toBe(
      'model.kind',
    );
    const huge = modelSpecSchema.parse({ kind: 'mlp', hidden: [4096, 4096, 4096] });
    expect(checkModelSpec(huge, { ...schema, denseWidth: 4096 })[0]?.message).toMatch(
      /more than 20000000/,
    );
  });
});

describe('training settings', () => {
  it('applies defaults and validates the optimizer', () => {
    const settings = trainingSettingsSchema.parse({
      epochs: 2,
      batchSize: 256,
      optimizer: { kind: 'adam', learningRate: 0.01 },
    });
    expect(settings.optimizer).toEqual({
      kind: 'adam',
      learningRate: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-7,
    });
    expect(settings).toMatchObject({
      updateMode: 'sync',
      checkpointEvery: 1000,
      keepCheckpoints: 3,
      seed: 1,
    });
    const bad = trainingSettingsSchema.safeParse({
      epochs: 0,
      batchSize: 1,
      optimizer: { kind: 'sgd', learningRate: -1 },
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      'epochs',
      'optimizer.learningRate',
    ]);
  });

  it('checks class weights and the early-stopping metric against the label', () => {
    const settings = trainingSettingsSchema.parse({
      epochs: 1,
      batchSize: 8,
      optimizer: { kind: 'sgd', learningRate: 0.1 },
      classWeights: { '1': 3, yes: 2 },
      earlyStopping: { metric: 'rmse', patience: 2 },
    });
    expect(checkTrainingSettings(settings, schema)).toEqual([
      {
        path: 'training.classWeights.yes',
        message: 'unknown label value "yes" (expected one of: 0, 1)',
      },
      {
        path: 'training.earlyStopping.metric',
        message: 'metric "rmse" does not apply to a binary label (use one of: loss, auc, accuracy)',
      },
    ]);
  });
});
