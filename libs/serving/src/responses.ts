import { OutputSchema } from '@dln/contracts';

/** One classify result: class names with their scores, in output order. */
export type Classification = [string, number][];

/**
 * `predictions` of TensorFlow Serving's row format: binary -> the probability of the positive
 * class, numeric -> the value, class -> the per-class scores in output order.
 */
export function predictionsOf(
  scores: Float32Array,
  size: number,
  schema: OutputSchema,
): (number | number[])[] {
  const out: (number | number[])[] = new Array(size);
  if (schema.label.kind !== 'class') {
    for (let i = 0; i < size; i += 1) out[i] = scores[i] as number;
    return out;
  }
  const units = schema.label.classes.length;
  for (let i = 0; i < size; i += 1)
    out[i] = Array.from(scores.subarray(i * units, (i + 1) * units));
  return out;
}

/** Class names of a label in output order; a binary label reads as "0" and "1". */
export function classNamesOf(schema: OutputSchema): string[] | undefined {
  if (schema.label.kind === 'class') return schema.label.classes;
  return schema.label.kind === 'binary' ? ['0', '1'] : undefined;
}

/** `result` of TensorFlow Serving's classify: per instance, [class, score] pairs in output order. */
export function classificationsOf(
  scores: Float32Array,
  size: number,
  schema: OutputSchema,
): Classification[] {
  const out: Classification[] = new Array(size);
  if (schema.label.kind === 'binary') {
    for (let i = 0; i < size; i += 1) {
      const p = scores[i] as number;
      out[i] = [
        ['0', 1 - p],
        ['1', p],
      ];
    }
    return out;
  }
  if (schema.label.kind !== 'class') throw new Error('classify needs a class or binary label');
  const classes = schema.label.classes;
  const units = classes.length;
  for (let i = 0; i < size; i += 1) {
    out[i] = classes.map((name, c) => [name, scores[i * units + c] as number]);
  }
  return out;
}
