import type { JobSpecInput } from '@dln/contracts';

/**
 * The flights training job of the demo and the e2e tests: wide-and-deep over the flights
 * pipeline's examples (dense hour/weekday/distance slice; embeddings of the calendar day, origin
 * and destination), 2 workers and 1 ps in sync. Single-process it reaches a validation AUC of
 * about 0.67 on flights-20k.
 */
export function flightsJobSpec(pipeline: string, version: number, model = 'flights'): JobSpecInput {
  return {
    name: 'flights-delay',
    mode: 'batch',
    examples: { pipeline, version },
    model: {
      kind: 'wide_and_deep',
      embeddings: [
        { column: 'day', dim: 4 },
        { column: 'origin', dim: 4 },
        { column: 'destination', dim: 4 },
      ],
      deepHidden: [32],
      activation: 'relu',
      dropout: 0,
      l2: 0.001,
    },
    training: {
      epochs: 6,
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
