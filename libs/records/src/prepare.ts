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
import { compileRecordValidator, RecordValidator } from './validator';

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
 * Validates and normalizes the items of one request, one at a time, into stored raw records (see
 * the format in the contracts' sources.ts): the id from the id field or `idOffset + index`, the
 * partition from the partition key, and the JSON payload, serialized once here. Lazy, so that a
 * publisher can start sending the first records while the rest are still being checked.
 */
export class RecordPreparer {
  /** Refused so far (all of them once `next()` has returned undefined). */
  readonly refused: RefusedRecord[] = [];
  private position = 0;
  private readonly mode: 'field' | 'row';
  private readonly idField: string;
  private readonly generateAsNumber: boolean;
  private readonly validate: RecordValidator;

  constructor(
    private readonly decl: SourceDeclaration,
    private readonly items: readonly BodyItem[],
    private readonly options: IngestOptions,
  ) {
    this.mode = resolveIdMode(decl, options);
    this.idField = effectiveIdField(decl);
    this.generateAsNumber = decl.fields.some(
      (f) => f.name === this.idField && f.type === FieldType.Integer,
    );
    this.validate = compileRecordValidator(decl, this.mode === 'row' ? this.idField : undefined);
  }

  /** The next valid record, or undefined when every item has been looked at. */
  next(): PreparedRecord | undefined {
    while (this.position < this.items.length) {
      const item = this.items[this.position] as BodyItem;
      this.position += 1;
      const record = this.prepare(item);
      if (record) return record;
    }
    return undefined;
  }

  private prepare(item: BodyItem): PreparedRecord | undefined {
    if (item.error !== undefined) return this.refuse(item, null, item.error);
    const outcome = this.validate(item.value, item.textValues);
    if (outcome.problem) return this.refuse(item, outcome.problem.field, outcome.problem.reason);
    const record: RawRecord = outcome.record;
    let id: string;
    if (this.mode === 'row') {
      const number = this.options.idOffset + item.index;
      if (!Number.isSafeInteger(number))
        return this.refuse(item, this.idField, 'idOffset + row number exceeds 2^53');
      id = String(number);
      record[this.idField] = this.generateAsNumber ? number : id;
    } else {
      id = String(record[this.idField]);
      const problem = idProblem(id);
      if (problem) return this.refuse(item, this.idField, problem);
    }
    const key =
      this.decl.partitionKey === undefined ? null : (record[this.decl.partitionKey] ?? null);
    return {
      index: item.index,
      id,
      partition: partitionOf(key, this.decl.partitions),
      payload: JSON.stringify(record),
    };
  }

  private refuse(item: BodyItem, field: string | null, reason: string): undefined {
    this.refused.push({
      index: item.index,
      ...(item.line === undefined ? {} : { line: item.line }),
      field,
      reason,
      value: item.value,
    });
    return undefined;
  }
}

/** Prepares every item at once (atomic requests must know of any refusal before storing). */
export function prepareRecords(
  decl: SourceDeclaration,
  items: readonly BodyItem[],
  options: IngestOptions,
): PreparedBatch {
  const preparer = new RecordPreparer(decl, items, options);
  const records: PreparedRecord[] = [];
  for (let record = preparer.next(); record !== undefined; record = preparer.next())
    records.push(record);
  return { records, refused: preparer.refused };
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
