import { pipelineSpecSchema, sourceDeclarationSchema, ValidationError } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { flightsPipelineSpec, flightsSourceDeclaration } from './presets/flights';
import { assertPipelineFitsSource, pipelineIssues } from './spec-check';

const source = sourceDeclarationSchema.parse({
  name: 's',
  fields: [
    { name: 'x', type: 'number' },
    { name: 'n', type: 'number', nullable: true },
    { name: 'c', type: 'string' },
    { name: 't', type: 'timestamp' },
    { name: 'b', type: 'boolean' },
    { name: 'y', type: 'integer' },
  ],
});

function issues(
  features: unknown[],
  label: unknown = { kind: 'binary', field: 'y', threshold: 0 },
) {
  return pipelineIssues(
    pipelineSpecSchema.parse({ name: 'p', source: 's', features, label }),
    source,
  );
}

describe('pipelineIssues', () => {
  it('accepts the flights pipeline on the flights source', () => {
    const spec = pipelineSpecSchema.parse(flightsPipelineSpec());
    expect(() =>
      assertPipelineFitsSource(spec, sourceDeclarationSchema.parse(flightsSourceDeclaration())),
    ).not.toThrow();
  });

  it('names unknown fields, wrong types and nullable inputs without a strategy', () => {
    expect(
      issues([
        { kind: 'numeric', name: 'a', field: 'nope', transform: 'none' },
        { kind: 'numeric', name: 'b', field: 'c', transform: 'none' },
        { kind: 'numeric', name: 'd', field: 'n', transform: 'none' },
        { kind: 'datetime', name: 'e', field: 'x', part: 'hour' },
        { kind: 'cross', name: 'f', fields: ['c', 't'], buckets: 4 },
        {
          kind: 'numeric',
          name: 'g',
          field: 'n',
          transform: 'none',
          missing: { strategy: 'mean' },
        },
      ]),
    ).toEqual([
      { path: 'features.0.field', message: '"nope" is not a field of the source' },
      {
        path: 'features.1.field',
        message: '"c" is a string field; a numeric feature needs number or integer',
      },
      {
        path: 'features.2.field',
        message: '"n" is nullable: give this feature a "missing" strategy',
      },
      {
        path: 'features.3.field',
        message: '"x" is a number field; a datetime feature needs timestamp',
      },
      {
        path: 'features.4.fields.1',
        message: '"t" is a timestamp field; a cross feature needs string or integer or boolean',
      },
    ]);
  });

  it('checks missing strategies and defaults per kind', () => {
    const hash = { kind: 'hash', buckets: 2 };
    expect(
      issues([
        {
          kind: 'categorical',
          name: 'a',
          field: 'c',
          vocabulary: hash,
          missing: { strategy: 'mean' },
        },
        {
          kind: 'numeric',
          name: 'b',
          field: 'x',
          transform: 'none',
          missing: { strategy: 'default', value: 'zero' },
        },
        {
          kind: 'datetime',
          name: 'c',
          field: 't',
          part: 'hour',
          missing: { strategy: 'default', value: 24 },
        },
        {
          kind: 'categorical',
          name: 'd',
          field: 'c',
          vocabulary: hash,
          missing: { strategy: 'default', value: '' },
        },
      ]).map((i) => i.path),
    ).toEqual([
      'features.0.missing',
      'features.1.missing.value',
      'features.2.missing.value',
      'features.3.missing.value',
    ]);
  });

  it('checks the label: threshold on numbers, none on booleans', () => {
    const x = [{ kind: 'numeric', name: 'a', field: 'x', transform: 'none' }];
    expect(issues(x, { kind: 'binary', field: 'b' })).toEqual([]);
    expect(issues(x, { kind: 'binary', field: 'y' })[0]?.message).toMatch(
      /binary label without threshold needs boolean/,
    );
    expect(issues(x, { kind: 'numeric', field: 'c' })[0]?.path).toBe('label.field');
    expect(issues(x, { kind: 'binary', field: 'n', threshold: 1 })[0]?.message).toMatch(
      /must not be nullable/,
    );
    const spec = pipelineSpecSchema.parse({
      name: 'p',
      source: 's',
      features: x,
      label: { kind: 'numeric', field: 'c' },
    });
    expect(() => assertPipelineFitsSource(spec, source)).toThrow(ValidationError);
  });
});
