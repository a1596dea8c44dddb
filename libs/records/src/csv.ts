import { ValidationError } from '@dln/contracts';

/** One CSV data row: its fields (null = empty and unquoted) or why it could not be read. */
export type CsvRow =
  | { line: number; fields: (string | null)[]; error?: undefined }
  | { line: number; fields?: undefined; error: string };

export interface CsvTable {
  header: string[];
  /** Data rows in order, each with the 1-based line where it starts. */
  rows: CsvRow[];
}

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/**
 * RFC 4180 CSV: comma separated, fields optionally in double quotes (`""` is a quote inside one;
 * quoted fields may span lines), CRLF or LF line ends, a header row first. Empty lines are
 * skipped. A broken row (stray quote, wrong field count) is reported with its line and the
 * parser carries on at the next line; an unterminated quote ends the table.
 */
export function parseCsv(input: string): CsvTable {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const end = text.length;
  let pos = 0;
  let line = 1;
  const records: CsvRow[] = [];

  const skipToNextLine = (): void => {
    const next = text.indexOf('\n', pos);
    pos = next < 0 ? end : next + 1;
    line += 1;
  };

  while (pos < end) {
    const startLine = line;
    const code = text.charCodeAt(pos);
    if (code === LF || code === CR) {
      pos += code === CR && text.charCodeAt(pos + 1) === LF ? 2 : 1;
      line += 1;
      continue;
    }
    const fields: (string | null)[] = [];
    let error: string | undefined;
    let rowDone = false;
    while (!rowDone) {
      if (text.charCodeAt(pos) === QUOTE) {
        let value = '';
        let from = pos + 1;
        for (;;) {
          const close = text.indexOf('"', from);
          if (close < 0) {
            error = 'unterminated quoted field';
            break;
          }
          value += text.slice(from, close);
          if (text.charCodeAt(close + 1) === QUOTE) {
            value += '"';
            from = close + 2;
            continue;
          }
          pos = close + 1;
          break;
        }
        if (error) {
          records.push({ line: startLine, error });
          return finish(records);
        }
        for (let i = 0; i < value.length; i += 1) if (value.charCodeAt(i) === LF) line += 1;
        fields.push(value);
      } else {
        let stop = pos;
        while (stop < end) {
          const c = text.charCodeAt(stop);
          if (c === COMMA || c === LF || c === CR) break;
          if (c === QUOTE) error = 'quote inside an unquoted field';
          stop += 1;
        }
        fields.push(stop === pos ? null : text.slice(pos, stop));
        pos = stop;
      }
      const next = pos < end ? text.charCodeAt(pos) : LF;
      if (error) break;
      if (next === COMMA) {
        pos += 1;
      } else if (next === LF || next === CR) {
        pos += next === CR && text.charCodeAt(pos + 1) === LF ? 2 : 1;
        line += 1;
        rowDone = true;
      } else {
        error = 'unexpected character after a closing quote';
        break;
      }
    }
    if (error) {
      records.push({ line: startLine, error });
      skipToNextLine();
    } else {
      records.push({ line: startLine, fields });
    }
  }
  return finish(records);
}

function finish(records: CsvRow[]): CsvTable {
  const first = records[0];
  if (!first) throw new ValidationError('CSV body is empty: a header row is required');
  if (first.error !== undefined)
    throw new ValidationError(`CSV header row (line ${first.line}): ${first.error}`);
  const header = first.fields.map((name, index) => {
    if (name === null || name.trim() === '')
      throw new ValidationError(`CSV header column ${index + 1} has no name`);
    return name;
  });
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) throw new ValidationError(`CSV header names column "${name}" twice`);
    seen.add(name);
  }
  const rows = records.slice(1).map((row): CsvRow => {
    if (row.fields !== undefined && row.fields.length !== header.length) {
      return {
        line: row.line,
        error: `has ${row.fields.length} fields, the header has ${header.length}`,
      };
    }
    return row;
  });
  return { header, rows };
}
