import { jobSpecSchema, roleConfigSchema } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { buildRoleConfig, entryOf, PreparedExamples } from './role-config';
import { initialRoles } from './roles';
import { newJobId } from './job-id';

const spec = jobSpecSchema.parse({
  name: 'flights',
  examples: { pipeline: 'flights', version: 2 },
  model: { kind: 'logistic' },
  training: { epochs: 2, batchSize: 32, optimizer: { kind: 'sgd', learningRate: 0.1 } },
  cluster: { workers: 2, ps: 1 },
  output: { model: 'delays' },
});
const prepared: PreparedExamples = {
  pipeline: 'flights',
  version: 2,
  outputSchema: {
    formatVersion: 1,
    dense: [{ name: 'x', offset: 0, width: 3 }],
    denseWidth: 3,
    ids: [],
    label: { kind: 'binary' },
  },
  trainCount: 800,
  validationCount: 200,
  layout: {
    totalSize: 4,
    shardSizes: [4],
    variables: [
      { name: 'out/kernel', shape: [3, 1], size: 3, offset: 0, shard: 0, shardOffset: 0 },
      { name: 'out/bias', shape: [1], size: 1, offset: 3, shard: 0, shardOffset: 3 },
    ],
  },
};

describe('buildRoleConfig', () => {
  it('hands each role the whole layout, its index and its token, valid by the contract', () => {
    const roles = initialRoles(spec, 0);
    const configs = roles.map((role) =>
      buildRoleConfig({ jobId: 'flights-0a1b2c3d', subjectRoot: 'dln', spec, prepared }, role),
    );
    for (const config of configs) expect(roleConfigSchema.parse(config)).toEqual(config);
    expect(configs.map((c) => [c.kind, c.index, c.token.role])).toEqual([
      ['ps', 0, 'ps-0'],
      ['worker', 0, 'worker-0'],
      ['worker', 1, 'worker-1'],
    ]);
    expect(configs[1]).toMatchObject({
      workers: 2,
      shards: 1,
      examples: { trainCount: 800, validationCount: 200 },
      outputModel: 'delays',
      restoreFrom: null,
    });
    expect(entryOf('ps')).toBe('ps-role');
    expect(entryOf('worker')).toBe('worker-role');
  });

  it('tells a replacement how it starts: a ps restores, a worker gets its last position', () => {
    const [ps, worker] = initialRoles(spec, 0).map((role) => ({
      ...role,
      attempt: 2,
      start: 'replacement' as const,
    }));
    const input = { jobId: 'j', subjectRoot: 'dln', spec, prepared };
    const psConfig = buildRoleConfig({ ...input, restoreFrom: 'j/g0/step-5/manifest.json' }, ps!);
    expect(psConfig).toMatchObject({
      token: { attempt: 2, generation: 0 },
      start: 'replacement',
      restoreFrom: 'j/g0/step-5/manifest.json',
      resume: null,
    });
    const resume = { epoch: 1, step: 30, examples: 960 };
    const workerConfig = buildRoleConfig({ ...input, resume }, worker!);
    expect(workerConfig).toMatchObject({ start: 'replacement', restoreFrom: null, resume });
    for (const config of [psConfig, workerConfig])
      expect(roleConfigSchema.parse(config)).toEqual(config);
    expect(buildRoleConfig(input, initialRoles(spec, 3)[0]!).start).toBe('rollback');
  });

  it('refuses a layout that does not match the job', () => {
    const twoShards = { ...spec, cluster: { workers: 2, ps: 2 } };
    expect(() =>
      buildRoleConfig(
        { jobId: 'j', subjectRoot: 'dln', spec: twoShards, prepared },
        initialRoles(twoShards, 0)[0]!,
      ),
    ).toThrow(/layout has 1 shards/);
  });
});

describe('newJobId', () => {
  it('is the name and a suffix, within 64 characters', () => {
    expect(newJobId('flights', '0a1b2c3d')).toBe('flights-0a1b2c3d');
    expect(newJobId('x'.repeat(64), '0a1b2c3d')).toHaveLength(64);
    expect(() => newJobId('a', 'xyz')).toThrow(/hex/);
  });
});
