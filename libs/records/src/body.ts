import { IngestContentType, ValidationError } from '@dln/contracts';
import { parseCsv } from './csv';

export type BodyFormat = 'json' | 'ndjson' | 'csv';

/**
 * One record as read from a body: `index` is its 0-based position (bad rows included, so generated
 * ids do not shift), `line` its 1-based line in NDJSON/CSV. `textValues` means every value is
 * text to coerce by the declared type (CSV). `error` is set when the record could not be read.
 */
export type BodyItem =
  | { index: number; line?: number; value: unknown; textValues: boolean; error?: undefined }
  | { index: number; line?: number; value?: undefined; textValues?: undefined; error: string };

/** The body format of a Content-Type header (parameters such as charset ignored), or undefined. */
export function bodyFormatOf(contentType: string | undefined): BodyFormat | undefined {
  const type = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  switch (type) {
    case IngestContentType.json:
      return 'json';
    case IngestContentType.ndjson:
    case 'application/ndjson':
      return 'ndjson';
    case IngestContentType.csv:
      return 'csv';
    default:
      return undefined;
  }
}

/** A parsed JSON value as records: an array is many, an object is one. */
export function itemsFromJsonValue(value: unknown): BodyItem[] {
  if (Array.isArray(value))
    return value.map((record, index) => ({ index, value: record, textValues: false }));
  if (typeof value === 'object' && value !== null) return [{ index: 0, value, textValues: false }];
  throw new ValidationError('JSON body must be an array of records or one record object');
}

function parseJson(text: string): BodyItem[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`malformed JSON: ${(error as Error).message}`);
  }
  return itemsFromJsonValue(value);
}

function parseNdjson(text: string): BodyItem[] {
  const items: BodyItem[] = [];
  let start = 0;
  let line = 0;
  while (start < text.length) {
    let stop = text.indexOf('\n', start);
    if (stop < 0) stop = text.length;
    line += 1;
    const content = text.slice(start, stop).trim();
    start = stop + 1;
    if (content === '') continue;
    const index = items.length;
    try {
      items.push({ index, line, value: JSON.parse(content), textValues: false });
    } catch (error) {
      items.push({ index, line, error: `malformed JSON: ${(error as Error).message}` });
    }
  }
  return items;
}

function parseCsvRecords(text: string): BodyItem[] {
  const { header, rows } = parseCsv(text);
  return rows.map((row, index): BodyItem => {
    if (row.fields === undefined) return { index, line: row.line, error: row.error };
    const value: Record<string, string | null> = {};
    header.forEach((name, column) => {
      value[name] = row.fields[column] ?? null;
    });
    return { index, line: row.line, value, textValues: true };
  });
}

/** Reads the records of a body; a body that cannot be read at all throws a ValidationError (400). */
export function parseBody(text: string, format: BodyFormat): BodyItem[] {
  switch (format) {
    case 'json':
      return parseJson(text);
    case 'ndjson':
      return parseNdjson(text);
    case 'csv':
      return parseCsvRecords(text);
  }
}
