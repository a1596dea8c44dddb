import { describe, expect, it } from 'vitest';
import { inferenceJobSpecSchema, jobSpecSchema } from '@dln/contracts';
import { inferenceJobSpecOf, inferenceRoleSettingsOf } from './inference-jobs';

const trained = jobSpecSchema.parse({
  name: 'delays',
  examples: { pipeline: 'flights', version: 3 },
  model: { kind: 'mlp', hidden: [4] },
  training: {
    epochs: 2,
    batchSize: 16,
    updateMode: 'sync',
    optimizer: { kind: 'adam', learningRate: 0.01 },
    earlyStopping: { metric: 'loss', patience: 1 },
    seed: 9,
  },
  cluster: { workers: 2, ps: 1 },
  output: { model: 'delays' },
});

const submitted = inferenceJobSpecSchema.parse({
  name: 'score',
  mode: 'inference',
  inference: { model: 'delays', input: { pipeline: 'flights' }, batchSize: 64 },
  cluster: { workers: 3, ps: 2 },
});

describe('inference job spec resolution', () => {
  it('records the version, takes the trained model and seed, reads the pinned pipeline version', () => {
    const spec = inferenceJobSpecOf(submitted, {
      version: 5,
      pipeline: 'flights',
      pipelineVersion: 3,
      trainedBy: trained,
    });
    expect(spec.mode).toBe('inference');
    expect(spec.inference).toMatchObject({
      model: 'delays',
      version: 5,
      input: { pipeline: 'flights', version: 3 },
      batchSize: 64,
    });
    expect(spec.examples).toEqual({ pipeline: 'flights', version: 3 });
    expect(spec.model).toEqual(trained.model);
    expect(spec.training.seed).toBe(9);
    // No sync barrier and no early stopping: nothing trains.
    expect(spec.training.updateMode).toBe('async');
    expect(spec.training.earlyStopping).toBeUndefined();
    expect(spec.cluster).toEqual({ workers: 3, ps: 2 });
    expect(spec.output.model).toBe('delays');
  });

  it('keeps a raw stream input and pins the pipeline version that encodes its records', () => {
    const stream = inferenceJobSpecOf(
      inferenceJobSpecSchema.parse({
        ...submitted,
        inference: { model: 'delays', input: { source: 'flights_raw' } },
      }),
      { version: 5, pipeline: 'flights', pipelineVersion: 3, trainedBy: trained },
    );
    expect(stream.inference?.input).toEqual({ source: 'flights_raw', startAt: 'first' });
    expect(stream.examples).toEqual({ pipeline: 'flights', version: 3 });
  });

  it('gives roles the artifact, source and the job consumer only for inference jobs', () => {
    const spec = inferenceJobSpecOf(submitted, {
      version: 5,
      pipeline: 'flights',
      pipelineVersion: 3,
      trainedBy: trained,
    });
    const prepared = { objects: ['delays/j/model.json'], source: 'flights_raw' };
    expect(inferenceRoleSettingsOf(spec, 'score-1', prepared)).toEqual({
      settings: spec.inference,
      objects: prepared.objects,
      source: 'flights_raw',
      consumer: 'infer_score-1',
    });
    expect(inferenceRoleSettingsOf(trained, 'delays-1', prepared)).toBeUndefined();
    expect(inferenceRoleSettingsOf(spec, 'score-1', undefined)).toBeUndefined();
  });
});
