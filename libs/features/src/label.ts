import { LabelSpec } from '@dln/contracts';
import {
  InputRecord,
  MISSING,
  Missing,
  readCategory,
  readNumber,
  RecordEncodeError,
} from './values';

const LABEL = 'label';

/** Binary label of a record: threshold on a number (`>`, or `>=` when inclusive), or a boolean. */
function binaryLabel(
  record: InputRecord,
  spec: Extract<LabelSpec, { kind: 'binary' }>,
): number | Missing {
  const value = record[spec.field];
  if (spec.threshold === undefined) {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value === undefined || value === null) return MISSING;
    throw new RecordEncodeError(LABEL, spec.field, `expected a boolean label, got ${typeof value}`);
  }
  const x = readNumber(record, spec.field, LABEL);
  if (x === MISSING) return MISSING;
  return (spec.inclusive ? x >= spec.threshold : x > spec.threshold) ? 1 : 0;
}

/**
 * The label value of a record, or MISSING. `classIndex` maps class text to its index (the
 * given classes, or the learned ones); a class outside it is an error.
 */
export function labelOf(
  record: InputRecord,
  spec: LabelSpec,
  classIndex: ReadonlyMap<string, number> | undefined,
): number | Missing {
  switch (spec.kind) {
    case 'binary':
      return binaryLabel(record, spec);
    case 'numeric':
      return readNumber(record, spec.field, LABEL);
    case 'class': {
      const text = readCategory(record, spec.field, LABEL);
      if (text === MISSING) return MISSING;
      if (classIndex === undefined) throw new Error('a class label needs its class index');
      const index = classIndex.get(text);
      if (index === undefined) {
        throw new RecordEncodeError(
          LABEL,
          spec.field,
          `"${text}" is not one of the ${classIndex.size} classes`,
        );
      }
      return index;
    }
  }
}

/** Class text of a record's class label (used while learning the classes). */
export function classTextOf(
  record: InputRecord,
  spec: Extract<LabelSpec, { kind: 'class' }>,
): string | Missing {
  return readCategory(record, spec.field, LABEL);
}
