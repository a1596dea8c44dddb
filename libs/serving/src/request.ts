import { DlnError, ErrorCode, ValidationError } from '@dln/contracts';
import { DEFAULT_SIGNATURE, ServingLimits } from './limits';

/** What the client asked for: scores (`predict`) or class names with scores (`classify`). */
export type Verb = 'predict' | 'classify';

/** The instances of one request, each with where it came from (for error messages). */
export interface RequestInstances {
  form: 'row' | 'columnar';
  count: number;
  /** The i-th instance as a plain object. */
  instance(index: number): unknown;
  /** Where instance i (or its field) came from: `instances[3].x`, `inputs.x[3]`, `examples[3]`. */
  where(index: number, field?: string): string;
}

const KEYS: Record<Verb, ReadonlySet<string>> = {
  predict: new Set(['signature_name', 'instances', 'inputs']),
  classify: new Set(['signature_name', 'instances', 'inputs', 'examples', 'context']),
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tooMany(count: number, limits: ServingLimits): DlnError {
  return new DlnError(
    ErrorCode.PayloadTooLarge,
    `the request has ${count} instances; at most ${limits.maxInstances} per request`,
  );
}

function rows(list: unknown[], key: string, context?: Record<string, unknown>): RequestInstances {
  return {
    form: 'row',
    count: list.length,
    instance: context
      ? (i) => (isObject(list[i]) ? { ...context, ...list[i] } : list[i])
      : (i) => list[i],
    where: (i, field) => (field === undefined ? `${key}[${i}]` : `${key}[${i}].${field}`),
  };
}

/** Columnar `inputs`: one list per field, all of the same length (the batch). */
function columns(inputs: Record<string, unknown>, limits: ServingLimits): RequestInstances {
  const names = Object.keys(inputs);
  if (names.length === 0) throw new ValidationError('"inputs" names no field');
  let count = -1;
  for (const name of names) {
    const column = inputs[name];
    if (!Array.isArray(column)) {
      throw new ValidationError(`inputs.${name}: must be a list with one value per instance`, [
        { path: `inputs.${name}`, message: 'must be a list' },
      ]);
    }
    if (column.length > limits.maxInstances) throw tooMany(column.length, limits);
    if (count >= 0 && column.length !== count) {
      throw new ValidationError(
        `inputs.${name}: has ${column.length} values, "${names[0]}" has ${count}; every input needs one value per instance`,
        [{ path: `inputs.${name}`, message: `expected ${count} values` }],
      );
    }
    count = column.length;
  }
  if (count === 0)
    throw new ValidationError('inputs: the lists are empty; send at least one instance');
  const lists = names.map((name) => inputs[name] as unknown[]);
  return {
    form: 'columnar',
    count,
    instance: (i) => {
      const record: Record<string, unknown> = {};
      names.forEach((name, n) => {
        record[name] = (lists[n] as unknown[])[i];
      });
      return record;
    },
    where: (i, field) => (field === undefined ? `inputs[*][${i}]` : `inputs.${field}[${i}]`),
  };
}

/**
 * Reads TensorFlow Serving's request forms: `{"instances": [{...}, ...]}` (rows),
 * `{"inputs": {"field": [...], ...}}` (columns) and, for classify, `{"examples": [...],
 * "context": {...}}`. Refuses unknown keys, other signatures, and more than the configured cap.
 */
export function readInstances(body: unknown, verb: Verb, limits: ServingLimits): RequestInstances {
  if (!isObject(body)) throw new ValidationError('the request body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!KEYS[verb].has(key)) {
      throw new ValidationError(
        `unknown key "${key}" in a ${verb} request; expected one of ${[...KEYS[verb]].join(', ')}`,
        [{ path: key, message: 'unknown key' }],
      );
    }
  }
  const signature = body['signature_name'];
  if (signature !== undefined && signature !== DEFAULT_SIGNATURE) {
    throw new ValidationError(
      `signature_name: "${String(signature)}" is not served; use "${DEFAULT_SIGNATURE}" or leave it out`,
      [{ path: 'signature_name', message: 'unknown signature' }],
    );
  }
  const given = ['instances', 'inputs', 'examples'].filter((key) => body[key] !== undefined);
  if (given.length !== 1) {
    throw new ValidationError(
      given.length === 0
        ? `the request needs "instances" (a list of records) or "inputs" (a list per field)`
        : `the request has ${given.join(' and ')}; send exactly one of them`,
    );
  }
  const key = given[0] as string;
  const value = body[key];
  if (key === 'inputs' && isObject(value)) return columns(value, limits);
  if (!Array.isArray(value)) {
    throw new ValidationError(`${key}: must be a list of records`, [
      { path: key, message: 'must be a list' },
    ]);
  }
  if (value.length === 0) throw new ValidationError(`${key}: is empty; send at least one instance`);
  if (value.length > limits.maxInstances) throw tooMany(value.length, limits);
  const context = body['context'];
  if (context !== undefined && !isObject(context)) {
    throw new ValidationError('context: must be an object of fields shared by every example');
  }
  return rows(value, key, context as Record<string, unknown> | undefined);
}
