import {
  DEFAULT_ID_FIELD,
  FieldDeclaration,
  FieldType,
  RawRecord,
  RawValue,
  SourceDeclaration,
  SourceLimits,
} from '@dln/contracts';
import { parseTimestamp, TimestampError } from './timestamps';

/** Why one record was refused: the field (null for the record as a whole) and the reason. */
export interface RecordProblem {
  field: string | null;
  reason: string;
}

export type ValidationOutcome =
  { record: RawRecord; problem?: undefined } | { record?: undefined; problem: RecordProblem };

/** Turns one record (a parsed object) into its stored form, or says what is wrong with it. */
export type RecordValidator = (value: unknown, textValues: boolean) => ValidationOutcome;

class Problem {
  constructor(readonly reason: string) {}
}

type Coerce = (
  value: string | number | boolean | object,
  textValues: boolean,
) => RawValue | Problem;

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NOT_FINITE = new Problem('must be a finite number');

function numberFromText(text: string): number | Problem {
  if (!DECIMAL.test(text)) {
    return /^[+-]?(?:nan|inf(?:inity)?)$/i.test(text.trim())
      ? NOT_FINITE
      : new Problem('must be a number');
  }
  const value = Number(text);
  return Number.isFinite(value) ? value : NOT_FINITE;
}

function coerceNumber(
  value: string | number | boolean | object,
  textValues: boolean,
): number | Problem {
  if (typeof value === 'number') return Number.isFinite(value) ? value : NOT_FINITE;
  if (textValues && typeof value === 'string') return numberFromText(value);
  return new Problem(`must be a number, got ${typeof value}`);
}

const coerceInteger: Coerce = (value, textValues) => {
  const number = coerceNumber(value, textValues);
  if (number instanceof Problem) return number;
  return Number.isSafeInteger(number) ? number : new Problem('must be an integer (within ±2^53)');
};

const coerceBoolean: Coerce = (value, textValues) => {
  if (typeof value === 'boolean') return value;
  if (textValues && typeof value === 'string') {
    const lower = value.toLowerCase();
    if (lower === 'true' || lower === '1') return true;
    if (lower === 'false' || lower === '0') return false;
  }
  return new Problem('must be a boolean');
};

function stringCoercer(maxLength: number): Coerce {
  return (value) => {
    if (typeof value !== 'string') return new Problem(`must be a string, got ${typeof value}`);
    return value.length > maxLength ? new Problem(`longer than ${maxLength} characters`) : value;
  };
}

function timestampCoercer(timeZone: string | undefined): Coerce {
  return (value, textValues) => {
    if (
      typeof value === 'number' ||
      (textValues && typeof value === 'string' && /^-?\d+$/.test(value))
    ) {
      const ms = Number(value);
      return Number.isSafeInteger(ms)
        ? ms
        : new Problem('epoch milliseconds must be a safe integer');
    }
    if (typeof value !== 'string')
      return new Problem('must be an ISO 8601 text or epoch milliseconds');
    try {
      return parseTimestamp(value, timeZone);
    } catch (error) {
      if (error instanceof TimestampError) return new Problem(error.message);
      throw error;
    }
  };
}

function coercerFor(field: FieldDeclaration): Coerce {
  switch (field.type) {
    case FieldType.Number:
      return coerceNumber;
    case FieldType.Integer:
      return coerceInteger;
    case FieldType.Boolean:
      return coerceBoolean;
    case FieldType.String:
      return stringCoercer(field.maxLength ?? SourceLimits.maxStringLength);
    case FieldType.Timestamp:
      return timestampCoercer(field.timezone);
  }
}

interface CompiledField {
  name: string;
  nullable: boolean;
  /** CSV: an empty unquoted value of a non-nullable string field is the empty string. */
  emptyTextIsEmptyString: boolean;
  coerce: Coerce;
}

/**
 * Compiles a validator for one source. `skipField` is left out of validation and output (the
 * generated id field, filled in afterwards). Absent and null nullable fields become null; NaN and
 * ±Infinity are refused; unknown fields are refused or dropped per `unknownFields`.
 */
export function compileRecordValidator(
  decl: SourceDeclaration,
  skipField?: string,
): RecordValidator {
  const fields: CompiledField[] = decl.fields
    .filter((field) => field.name !== skipField)
    .map((field) => ({
      name: field.name,
      nullable: field.nullable,
      emptyTextIsEmptyString: field.type === FieldType.String && !field.nullable,
      coerce: coercerFor(field),
    }));
  const known = new Set(decl.fields.map((field) => field.name));
  if (decl.idField === undefined) known.add(DEFAULT_ID_FIELD);
  const rejectUnknown = decl.unknownFields === 'reject';

  return (value, textValues) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { problem: { field: null, reason: 'a record must be a JSON object' } };
    }
    const input = value as Record<string, unknown>;
    if (rejectUnknown) {
      for (const key in input) {
        if (!known.has(key)) return { problem: { field: key, reason: 'is not a declared field' } };
      }
    }
    const record: RawRecord = {};
    for (const field of fields) {
      const raw = input[field.name];
      if (raw === undefined || raw === null) {
        if (textValues && raw === null && field.emptyTextIsEmptyString) record[field.name] = '';
        else if (field.nullable) record[field.name] = null;
        else return { problem: { field: field.name, reason: 'is required' } };
        continue;
      }
      const coerced = field.coerce(raw as string | number | boolean | object, textValues);
      if (coerced instanceof Problem)
        return { problem: { field: field.name, reason: coerced.reason } };
      record[field.name] = coerced;
    }
    return { record };
  };
}
