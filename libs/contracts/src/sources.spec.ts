import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors';
import {
  DEFAULT_ID_FIELD,
  SourceLimits,
  effectiveIdField,
  ingestOptionsSchema,
  sourceDeclarationSchema,
} from './sources';
import { parseInput } from './validation';

const flights = {
  name: 'flights',
  fields: [
    { name: 'date', type: 'timestamp' },
    { name: 'delay', type: 'integer' },
    { name: 'distance', type: 'number' },
    { name: 'origin', type: 'string' },
    { name: 'destination', type: 'string', nullable: true },
  ],
};

function issuesOf(value: unknown): string[] {
  try {
    parseInput(sourceDeclarationSchema, value, 'source');
  } catch (error) {
    if (error instanceof ValidationError)
      return (error.options.issues ?? []).map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('sourceDeclarationSchema', () => {
  it('applies the documented defaults', () => {
    const decl = sourceDeclarationSchema.parse(flights);
    expect(decl.partitions).toBe(1);
    expect(decl.duplicateWindowSeconds).toBe(SourceLimits.defaultDuplicateWindowSeconds);
    expect(decl.retention).toEqual({});
    expect(decl.unknownFields).toBe('reject');
    expect(decl.fields[0]?.nullable).toBe(false);
    expect(effectiveIdField(decl)).toBe(DEFAULT_ID_FIELD);
  });

  it('refuses bad names, duplicate fields, unknown id and partition fields', () => {
    expect(issuesOf({ ...flights, name: 'Flights!' })[0]).toMatch(/^name: /);
    expect(
      issuesOf({ ...flights, fields: [...flights.fields, { name: 'delay', type: 'number' }] }),
    ).toEqual(['fields.5.name: duplicate field "delay"']);
    expect(issuesOf({ ...flights, idField: 'nope' })).toEqual([
      'idField: "nope" is not a declared field',
    ]);
    expect(issuesOf({ ...flights, idField: 'distance' })).toEqual([
      'idField: the id field must be a string or an integer',
    ]);
    expect(issuesOf({ ...flights, idField: 'destination' })).toEqual([
      'idField: the id field cannot be nullable',
    ]);
    expect(issuesOf({ ...flights, partitionKey: 'x' })).toEqual([
      'partitionKey: "x" is not a declared field',
    ]);
    expect(issuesOf({ ...flights, fields: [{ name: '_id', type: 'string' }] })[0]).toMatch(
      /reserved/,
    );
  });

  it('checks time zones, bounds and the duplicate window against max age', () => {
    expect(
      issuesOf({ ...flights, fields: [{ name: 'at', type: 'timestamp', timezone: 'Mars/Base' }] }),
    ).toEqual(['fields.0.timezone: must be an IANA time zone']);
    expect(
      issuesOf({ ...flights, fields: [{ name: 'at', type: 'string', timezone: 'UTC' }] }),
    ).toEqual(['fields.0.timezone: only a timestamp field takes a timezone']);
    expect(issuesOf({ ...flights, partitions: 65 })[0]).toMatch(/^partitions: /);
    expect(issuesOf({ ...flights, partitions: 0 })[0]).toMatch(/^partitions: /);
    expect(issuesOf({ ...flights, retention: { maxAgeSeconds: 60 } })).toEqual([
      'duplicateWindowSeconds: cannot exceed retention.maxAgeSeconds',
    ]);
    expect(issuesOf({ ...flights, retention: { maxBytes: Number.NaN } })[0]).toMatch(
      /^retention.maxBytes: /,
    );
    expect(issuesOf({ ...flights, extra: 1 })[0]).toMatch(/extra/);
    expect(issuesOf({ ...flights, idField: 'origin', timezone: 'UTC' }).length).toBe(1);
  });
});

describe('ingestOptionsSchema', () => {
  it('parses query strings', () => {
    expect(ingestOptionsSchema.parse({ atomic: 'true', idFrom: 'row', idOffset: '1000' })).toEqual({
      atomic: true,
      idFrom: 'row',
      idOffset: 1000,
    });
    expect(ingestOptionsSchema.parse({})).toEqual({ atomic: false, idOffset: 0 });
    expect(ingestOptionsSchema.safeParse({ idOffset: '-1' }).success).toBe(false);
    expect(ingestOptionsSchema.safeParse({ idOffset: 'x' }).success).toBe(false);
    expect(ingestOptionsSchema.safeParse({ atomic: 'yes' }).success).toBe(false);
    expect(ingestOptionsSchema.safeParse({ idFrom: 'hash' }).success).toBe(false);
  });
});
