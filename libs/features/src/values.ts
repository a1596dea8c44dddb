import { ValidationError } from '@dln/contracts';

/**
 * A record that cannot be encoded: names the feature, the field and the reason (and the record
 * id when known), so the caller can tell the client exactly what to fix.
 */
export class RecordEncodeError extends ValidationError {
  constructor(
    readonly feature: string,
    readonly field: string,
    readonly reason: string,
    readonly recordId?: string,
  ) {
    super(
      `${recordId === undefined ? 'record' : `record "${recordId}"`}: field "${field}" (${feature}): ${reason}`,
      [{ path: field, message: reason }],
    );
  }
}

/** Marker for a missing input: absent, null, NaN, ±Infinity, or the empty string. */
export const MISSING = Symbol('missing');
export type Missing = typeof MISSING;

/** A record as the transforms see it: a JSON object (a stored raw record, or a serving request). */
export type InputRecord = Readonly<Record<string, unknown>>;

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** A numeric input: a finite number, or MISSING. Any other type is an error. */
export function readNumber(record: InputRecord, field: string, feature: string): number | Missing {
  const value = record[field];
  if (typeof value === 'number') return Number.isFinite(value) ? value : MISSING;
  if (value === undefined || value === null || value === '') return MISSING;
  throw new RecordEncodeError(feature, field, `expected a number, got ${typeName(value)}`);
}

/**
 * A categorical input as its canonical text: strings as they are, finite numbers as
 * `String(n)` (so 3 and 3.0 are "3"), booleans as "true"/"false"; or MISSING.
 */
export function readCategory(
  record: InputRecord,
  field: string,
  feature: string,
): string | Missing {
  const value = record[field];
  if (typeof value === 'string') return value === '' ? MISSING : value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : MISSING;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value === undefined || value === null) return MISSING;
  throw new RecordEncodeError(
    feature,
    field,
    `expected a string, number or boolean, got ${typeName(value)}`,
  );
}

/** ECMAScript's Date range: ±8.64e15 ms around the epoch. */
const MAX_EPOCH_MS = 8.64e15;

/** A timestamp input in epoch milliseconds (the stored raw format), or MISSING. */
export function readTimestamp(
  record: InputRecord,
  field: string,
  feature: string,
): number | Missing {
  const value = record[field];
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return MISSING;
    if (Math.abs(value) > MAX_EPOCH_MS) {
      throw new RecordEncodeError(
        feature,
        field,
        `timestamp ${value} is outside the representable range`,
      );
    }
    return value;
  }
  if (value === undefined || value === null || value === '') return MISSING;
  throw new RecordEncodeError(
    feature,
    field,
    `expected a timestamp in epoch milliseconds, got ${typeName(value)}`,
  );
}

/** Canonical text of a record id (strings as they are, numbers as `String(n)`). */
export function recordIdOf(record: InputRecord, idField: string): string {
  const value = record[idField];
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new RecordEncodeError('record id', idField, 'the record has no id');
}

/** Canonical text of a categorical default value (see readCategory). */
export function categoryText(value: string | number | boolean): string {
  return typeof value === 'string'
    ? value
    : typeof value === 'number'
      ? String(value)
      : value
        ? 'true'
        : 'false';
}
