import {
  BackendName,
  buildModel,
  describeVariables,
  planParameterLayout,
  selectBackend,
} from '@dln/ml';
import { Logger } from '@nestjs/common';
import type { LayoutPlanner } from './jobs.tokens';

const logger = new Logger('LayoutPlanner');
let backend: Promise<BackendName> | undefined;

/**
 * Builds the model once (TensorFlow.js on the CPU backend: no training happens in the AM) to
 * read its trainable variables, and shards them with the same function the roles use.
 */
export const tfjsLayoutPlanner: LayoutPlanner = async (model, schema, shards, seed) => {
  backend ??= selectBackend(
    { log: (m) => logger.log(m), warn: (m) => logger.warn(m) },
    { force: BackendName.Cpu },
  );
  await backend;
  const built = buildModel(model, schema, seed);
  try {
    return planParameterLayout(describeVariables(built), shards);
  } finally {
    built.dispose();
  }
};
