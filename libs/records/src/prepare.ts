import {
  effectiveIdField,
  FieldType,
  IngestOptions,
  RawRecord,
  RecordRejection,
  SourceDeclaration,
  SourceLimits,
  ValidationError,
} from '@dln/contracts';
import { BodyItem } from './body';
import { partitionOf } from './hash';
import { compileRecordValidator } from './validator';

/** A valid record ready to publish: its id, partition and JSON body (the stored raw record). */
export interface PreparedRecord {
  index: number;
  id: string;
  partition: number;
  payload: string;
}

/** A refused record with the value it came with (for dead letters). */
export interface RefusedRecord extends RecordRejection {
  value: unknown;
}

export interface PreparedBatch {
  records: PreparedRecord[];
  refused: RefusedRecord[];
}

// Record ids travel in NATS headers: no control characters, bounded length.
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function idProblem(id: string): string | undefined {
  if (id.length === 0) return 'the record id is empty';
  if (id.length > SourceLimits.maxRecordIdLength)
    return `the record id is longer than ${SourceLimits.maxRecordIdLength}`;
  return hasControlCharacter(id) ? 'the record id contains control characters' : undefined;
}

/** How ids are made for this request; a source without an id field needs `idFrom=row`. */
export function resolveIdMode(
  decl: SourceDeclaration,
  options: Pick<IngestOptions, 'idFrom'>,
): 'field' | 'row' {
  const mode = options.idFrom ?? (decl.idField === undefined ? undefined : 'field');
  if (mode === undefined || (mode === 'field' && decl.idField === undefined)) {
    throw new ValidationError(
      `source "${decl.name}" declares no idField: send idFrom=row (and idOffset) to number the records`,
      [{ path: 'idFrom', message: 'required for a source without an idField' }],
    );
  }
  return mode;
}

/**
 * Validates and normalizes the items of one request into stored raw records (see the format in
 * the contracts' sources.ts): the id from the id field or `idOffset + index`, the partition
 * from the partition key, and the JSON payload, serialized once here.
 */
export function prepareRecords(
  decl: SourceDeclaration,
  items: readonly BodyItem[],
  options: IngestOptions,
): PreparedBatch {
  const mode = resolveIdMode(decl, options);
  const idField = effectiveIdField(decl);
  const generateAsNumber = decl.fields.some(
    (f) => f.name === idField && f.type === FieldType.Integer,
  );
  const validate = compileRecordValidator(decl, mode === 'row' ? idField : undefined);
  const partitionKey = decl.partitionKey;
  const records: PreparedRecord[] = [];
  const refused: RefusedRecord[] = [];

  const refuse = (item: BodyItem, field: string | null, reason: string): void => {
    refused.push({
      index: item.index,
      ...(item.line === undefined ? {} : { line: item.line }),
      field,
      reason,
      value: item.value,
    });
  };

  for (const item of items) {
    if (item.error !== undefined) {
      refuse(item, null, item.error);
      continue;
    }
    const outcome = validate(item.value, item.textValues);
    if (outcome.problem) {
      refuse(item, outcome.problem.field, outcome.problem.reason);
      continue;
    }
    const record: RawRecord = outcome.record;
    let id: string;
    if (mode === 'row') {
      const number = options.idOffset + item.index;
      if (!Number.isSafeInteger(number)) {
        refuse(item, idField, 'idOffset + row number exceeds 2^53');
        continue;
      }
      id = String(number);
      record[idField] = generateAsNumber ? number : id;
    } else {
      id = String(record[idField]);
      const problem = idProblem(id);
      if (problem) {
        refuse(item, idField, problem);
        continue;
      }
    }
    const key = partitionKey === undefined ? null : (record[partitionKey] ?? null);
    records.push({
      index: item.index,
      id,
      partition: partitionOf(key, decl.partitions),
      payload: JSON.stringify(record),
    });
  }
  return { records, refused };
}

/** The rejections as reported to clients: without values, at most `maxReportedRejections`. */
export function reportRejections(refused: readonly RefusedRecord[]): RecordRejection[] {
  return refused
    .slice(0, SourceLimits.maxReportedRejections)
    .map(({ index, line, field, reason }) => ({
      index,
      ...(line === undefined ? {} : { line }),
      field,
      reason,
    }));
}
