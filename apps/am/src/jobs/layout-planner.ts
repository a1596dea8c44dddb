import { buildModel, describeVariables, planParameterLayout } from '@dln/ml';
import type { LayoutPlanner } from './jobs.tokens';

/**
 * Builds the model once (TensorFlow.js, CPU backend, no training) to read its trainable
 * variables, and shards them with the same function the roles use.
 */
export const tfjsLayoutPlanner: LayoutPlanner = (model, schema, shards, seed) => {
  const built = buildModel(model, schema, seed);
  try {
    return planParameterLayout(describeVariables(built), shards);
  } finally {
    built.dispose();
  }
};
