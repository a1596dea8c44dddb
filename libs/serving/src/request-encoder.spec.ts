import { DlnError, ValidationError } from '@dln/contracts';
import { PipelineEncoder } from '@dln/features';
import { describe, expect, it } from 'vitest';
import { records, snapshotFor, source } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { RequestEncoder } from './request-encoder';

const snapshot = snapshotFor('binary');
const encoder = new RequestEncoder({
  snapshot,
  source,
  limits: { ...DEFAULT_SERVING_LIMITS, maxInstances: 8 },
});
const reference = new PipelineEncoder(snapshot);
const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

function instancesOf(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map(({ rid: _rid, y: _y, ...rest }) => rest);
}

function errorOf(fn: () => unknown): DlnError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DlnError) return error;
    throw error;
  }
  throw new Error('expected an error');
}

describe('RequestEncoder', () => {
  const rows = records(5, 3);

  it('encodes row instances exactly as the features encoder does', () => {
    const batch = encoder.encodeBytes(bytes({ instances: instancesOf(rows) }), 'predict');
    expect(batch.size).toBe(5);
    const width = reference.outputSchema.denseWidth;
    rows.forEach((row, i) => {
      const example = reference.encode(row, 'optional');
      expect(Array.from(batch.dense.subarray(i * width, (i + 1) * width))).toEqual(
        Array.from(example.dense),
      );
      expect(Array.from(batch.ids.subarray(i, i + 1))).toEqual(Array.from(example.ids));
    });
  });

  it('accepts the columnar inputs form and ISO timestamps, and ignores label and id', () => {
    const plain = instancesOf(rows);
    const inputs: Record<string, unknown[]> = {};
    for (const key of Object.keys(plain[0]!))
      inputs[key] = plain.map((r) =>
        key === 't' ? new Date(r[key] as number).toISOString() : r[key],
      );
    inputs['y'] = rows.map((r) => r.y);
    const columnar = encoder.encode({ inputs }, 'predict');
    const row = encoder.encode({ instances: rows }, 'predict');
    expect(columnar).toEqual(row);
  });

  it('fills a missing field that has a missing strategy and refuses one that has none', () => {
    const [first] = instancesOf(rows);
    const { n: _n, ...withoutN } = first!;
    expect(encoder.encode({ instances: [withoutN] }, 'predict').size).toBe(1);
    const { x: _x, ...withoutX } = first!;
    const error = errorOf(() => encoder.encode({ instances: [first, withoutX] }, 'predict'));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(/^instances\[1\]\.x: .*missing/);
  });

  it('names the instance and field of a wrong type, in both forms', () => {
    const [first] = instancesOf(rows);
    expect(
      errorOf(() => encoder.encode({ instances: [{ ...first, x: 'far' }] }, 'predict')).message,
    ).toBe('instances[0].x: must be a number, got string');
    const columns = { x: [1, true], t: [0, 0], c: ['red', 'red'] };
    expect(errorOf(() => encoder.encode({ inputs: columns }, 'predict')).message).toBe(
      'inputs.x[1]: must be a number, got boolean',
    );
    expect(errorOf(() => encoder.encode({ inputs: { ...first } }, 'predict')).message).toMatch(
      /^inputs.t: must be a list/,
    );
    expect(
      errorOf(() => encoder.encode({ inputs: { x: [1, 2], c: ['red'] } }, 'predict')).message,
    ).toMatch(/^inputs.c: has 1 values/);
  });

  it('says NaN is not JSON', () => {
    const error = errorOf(() => encoder.encodeBytes('{"instances": [{"x": NaN}]}', 'predict'));
    expect(error.message).toMatch(/NaN at position \d+ is not a number JSON can carry/);
    expect(error.httpStatus).toBe(400);
  });

  it('refuses too many instances with 413, and malformed requests with 400', () => {
    const many = Array.from({ length: 9 }, () => instancesOf(rows)[0]);
    const error = errorOf(() => encoder.encode({ instances: many }, 'predict'));
    expect(error.httpStatus).toBe(413);
    expect(error.message).toBe('the request has 9 instances; at most 8 per request');
    expect(errorOf(() => encoder.encode({ instances: [], inputs: {} }, 'predict')).message).toMatch(
      /send exactly one/,
    );
    expect(errorOf(() => encoder.encode({ instance: [] }, 'predict')).message).toMatch(
      /unknown key "instance"/,
    );
    expect(errorOf(() => encoder.encode({ instances: [] }, 'predict')).message).toMatch(/is empty/);
    expect(errorOf(() => encoder.encode({ instances: [3] }, 'predict')).message).toBe(
      'instances[0]: a record must be a JSON object',
    );
    expect(
      errorOf(() => encoder.encode({ signature_name: 'other', instances: [{}] }, 'predict'))
        .httpStatus,
    ).toBe(400);
  });

  it('merges classify context into each example', () => {
    const [first] = instancesOf(rows);
    const { c, ...rest } = first!;
    const viaContext = encoder.encode({ context: { c }, examples: [rest] }, 'classify');
    expect(viaContext).toEqual(encoder.encode({ instances: [first] }, 'predict'));
  });
});
