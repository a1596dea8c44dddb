import { ModelSpec, OutputSchema, ParameterLayout } from '@dln/contracts';
import {
  buildModel,
  describeVariables,
  packShard,
  planParameterLayout,
  readWeights,
} from '@dln/ml';

/**
 * The initial flat parameters of a job: the model built with the job's seed, as the reference
 * loop builds it, so a ps shard and single-process training start from the same values.
 */
export function initialParameters(
  spec: ModelSpec,
  schema: OutputSchema,
  seed: number,
): Float32Array {
  const model = buildModel(spec, schema, seed);
  try {
    return readWeights(model);
  } finally {
    model.dispose();
  }
}

/** The layout of a job's variables over `shards` ps shards (what the AM hands every role). */
export function parameterLayoutFor(
  spec: ModelSpec,
  schema: OutputSchema,
  shards: number,
): ParameterLayout {
  const model = buildModel(spec, schema, 1);
  try {
    return planParameterLayout(describeVariables(model), shards);
  } finally {
    model.dispose();
  }
}

/** One shard's initial packed values. */
export function initialShardParameters(
  spec: ModelSpec,
  schema: OutputSchema,
  seed: number,
  layout: ParameterLayout,
  shard: number,
): Float32Array {
  return packShard(layout, shard, initialParameters(spec, schema, seed));
}
