import * as tf from '@tensorflow/tfjs';
import { ParameterLayout, VariableSlot } from '@dln/contracts';

/** One trainable variable: stable name, shape, and its slice of the flat parameter vector. */
export interface VariableInfo {
  name: string;
  shape: number[];
  size: number;
  offset: number;
}

/**
 * The model's trainable variables in a stable order (layer order, then each layer's own order),
 * named by their original names (`hidden_0/kernel`): tfjs adds suffixes to the unique names
 * when the same model is built twice in one process, so those would differ between processes.
 */
export function describeVariables(model: tf.LayersModel): VariableInfo[] {
  let offset = 0;
  return model.trainableWeights.map((weight) => {
    const shape = [...weight.shape].map((dim) => dim ?? 0);
    const size = shape.reduce((product, dim) => product * dim, 1);
    const info = { name: weight.originalName, shape, size, offset };
    offset += size;
    return info;
  });
}

export function totalSize(variables: readonly { size: number }[]): number {
  return variables.reduce((sum, variable) => sum + variable.size, 0);
}

/** Copies every trainable weight into one Float32Array (in describeVariables order). */
export function readWeights(model: tf.LayersModel): Float32Array {
  const weights = model.trainableWeights;
  const flat = new Float32Array(totalSize(describeVariables(model)));
  let offset = 0;
  for (const weight of weights) {
    const values = weight.read().dataSync();
    flat.set(values, offset);
    offset += values.length;
  }
  return flat;
}

/**
 * Sets every trainable weight from a flat vector. Uses `assign`: writing into a variable's
 * WASM memory directly leaves the backend computing with the old weights.
 */
export function writeWeights(model: tf.LayersModel, flat: Float32Array): void {
  const variables = describeVariables(model);
  if (flat.length !== totalSize(variables)) {
    throw new Error(
      `parameter vector has ${flat.length} values, the model has ${totalSize(variables)}`,
    );
  }
  model.trainableWeights.forEach((weight, index) => {
    const { offset, size, shape } = variables[index] as VariableInfo;
    const value = tf.tensor(flat.subarray(offset, offset + size), shape, 'float32');
    weight.write(value);
    value.dispose();
  });
}

/**
 * Splits variables across `shardCount` ps shards by size: largest first, each to the least
 * loaded shard (lowest index on a tie); equal sizes are taken in name order. Deterministic
 * from the variables alone, so every role computes the same layout.
 */
export function planParameterLayout(
  variables: readonly VariableInfo[],
  shardCount: number,
): ParameterLayout {
  if (!Number.isInteger(shardCount) || shardCount < 1)
    throw new Error(`shard count must be a positive integer, got ${shardCount}`);
  const names = new Set(variables.map((variable) => variable.name));
  if (names.size !== variables.length) throw new Error('variable names must be unique');
  const shardOf = new Map<string, number>();
  const load = new Array<number>(shardCount).fill(0);
  const bySize = [...variables].sort(
    (a, b) => b.size - a.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  for (const variable of bySize) {
    let target = 0;
    for (let shard = 1; shard < shardCount; shard += 1)
      if ((load[shard] as number) < (load[target] as number)) target = shard;
    shardOf.set(variable.name, target);
    load[target] = (load[target] as number) + variable.size;
  }
  const fill = new Array<number>(shardCount).fill(0);
  const slots: VariableSlot[] = variables.map((variable) => {
    const shard = shardOf.get(variable.name) as number;
    const shardOffset = fill[shard] as number;
    fill[shard] = shardOffset + variable.size;
    return { ...variable, shape: [...variable.shape], shard, shardOffset };
  });
  return { totalSize: totalSize(variables), shardSizes: load, variables: slots };
}

/** The variables of one shard as one Float32Array, taken from a full flat vector. */
export function packShard(
  layout: ParameterLayout,
  shard: number,
  full: Float32Array,
): Float32Array {
  checkShard(layout, shard, full.length, layout.totalSize, 'full vector');
  const packed = new Float32Array(layout.shardSizes[shard] as number);
  for (const slot of layout.variables) {
    if (slot.shard === shard)
      packed.set(full.subarray(slot.offset, slot.offset + slot.size), slot.shardOffset);
  }
  return packed;
}

/** Writes one shard's packed values back into their places of a full flat vector. */
export function unpackShard(
  layout: ParameterLayout,
  shard: number,
  packed: Float32Array,
  full: Float32Array,
): void {
  checkShard(layout, shard, full.length, layout.totalSize, 'full vector');
  checkShard(
    layout,
    shard,
    packed.length,
    layout.shardSizes[shard] as number,
    `shard ${shard} vector`,
  );
  for (const slot of layout.variables) {
    if (slot.shard === shard)
      full.set(packed.subarray(slot.shardOffset, slot.shardOffset + slot.size), slot.offset);
  }
}

function checkShard(
  layout: ParameterLayout,
  shard: number,
  actual: number,
  expected: number,
  what: string,
): void {
  if (!Number.isInteger(shard) || shard < 0 || shard >= layout.shardSizes.length) {
    throw new Error(`shard ${shard} does not exist (the layout has ${layout.shardSizes.length})`);
  }
  if (actual !== expected) throw new Error(`${what} has ${actual} values, expected ${expected}`);
}
