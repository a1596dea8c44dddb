import type { JobSpecInput } from '@dln/contracts';

/**
 * The demo's training job: wide-and-deep over the flights examples (dense hour/weekday/distance
 * slice, embeddings of origin, destination and the hashed route), 2 workers and 1 ps in sync.
 */
export function flightsJobSpec(pipeline: string, version: number, model = 'flights'): JobSpecInput {
  return {
    name: 'flights-delay',
    mode: 'batch',
    examples: { pipeline, version },
    model: {
      kind: 'wide_and_deep',
      embeddings: [
        { column: 'origin', dim: 8 },
        { column: 'destination', dim: 8 },
        { column: 'route', dim: 8 },
      ],
      deepHidden: [64, 32],
      activation: 'relu',
      dropout: 0,
    },
    training: {
      epochs: 5,
      batchSize: 256,
      optimizer: { kind: 'adam', learningRate: 0.003 },
      updateMode: 'sync',
      checkpointEvery: 50,
      keepCheckpoints: 2,
      earlyStopping: { metric: 'auc', patience: 2, minDelta: 0.001 },
      seed: 7,
    },
    cluster: { workers: 2, ps: 1 },
    output: { model },
  };
}
