import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors';
import { pipelineSpecSchema } from './pipelines';
import { parseInput } from './validation';

const base = {
  name: 'flights',
  source: 'flights',
  label: { kind: 'binary', field: 'delay', threshold: 15 },
  features: [{ kind: 'numeric', name: 'distance', field: 'distance', transform: 'standardize' }],
};

describe('pipeline spec', () => {
  it('applies defaults (split, encodings, time zone)', () => {
    const spec = pipelineSpecSchema.parse({
      ...base,
      features: [
        ...base.features,
        { kind: 'datetime', name: 'hour', field: 'date', part: 'hour' },
        {
          kind: 'categorical',
          name: 'origin',
          field: 'origin',
          vocabulary: { kind: 'learned', maxSize: 10 },
        },
      ],
    });
    expect(spec.split).toEqual({ validationFraction: 0.2, seed: '' });
    expect(spec.features[1]).toMatchObject({ timeZone: 'UTC', encoding: 'onehot' });
    expect(spec.features[2]).toMatchObject({ encoding: 'id', vocabulary: { minCount: 1 } });
  });

  it('names the field of each problem', () => {
    const bad = {
      ...base,
      features: [
        { kind: 'bucketize', name: 'd', field: 'distance', boundaries: [10, 5] },
        { kind: 'datetime', name: 'd', field: 'date', part: 'hour', timeZone: 'Mars/Olympus' },
        { kind: 'numeric', name: 'leak', field: 'delay', transform: 'none' },
      ],
    };
    try {
      parseInput(pipelineSpecSchema, bad, 'pipeline');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const paths = (error as ValidationError).options.issues?.map((i) => i.path);
      expect(paths).toEqual(
        expect.arrayContaining(['features.0.boundaries', 'features.1.timeZone']),
      );
    }
    const dup = { ...base, features: [base.features[0], base.features[0]] };
    expect(() => parseInput(pipelineSpecSchema, dup, 'pipeline')).toThrow(
      /features.1.name: duplicate feature/,
    );
    const leak = {
      ...base,
      features: [{ kind: 'numeric', name: 'x', field: 'delay', transform: 'none' }],
    };
    expect(() => parseInput(pipelineSpecSchema, leak, 'pipeline')).toThrow(/label field "delay"/);
  });

  it('refuses non-finite thresholds and boundaries', () => {
    expect(
      pipelineSpecSchema.safeParse({
        ...base,
        label: { kind: 'binary', field: 'delay', threshold: Infinity },
      }).success,
    ).toBe(false);
    const inf = {
      ...base,
      features: [{ kind: 'bucketize', name: 'b', field: 'distance', boundaries: [1, Infinity] }],
    };
    expect(pipelineSpecSchema.safeParse(inf).success).toBe(false);
  });
});
