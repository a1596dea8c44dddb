import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointManifest,
  modelSpecSchema,
  Subjects,
  trainingSettingsSchema,
} from '@dln/contracts';
import { manifestObjectName } from '@dln/jobs';
import {
  connectNats,
  encodeJson,
  ensureStream,
  jetStreamManagerOf,
  NatsConnection,
} from '@dln/messaging';
import { denseBinarySchema, selectBackend } from '@dln/ml';
import { deleteStreamsOfRoot, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import { parameterLayoutFor, syntheticExamples } from '@dln/training';
import { Objm } from '@nats-io/obj';
import { publishExamples, runRoleCluster } from './testing/role-cluster';

const root = uniqueRoot('failover');
const subjects = new Subjects(root);
const pipeline = 'synthetic';
const schema = denseBinarySchema(8);
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [16] });
const examples = { pipeline, version: 1, trainCount: 3000, validationCount: 500 };
const training = trainingSettingsSchema.parse({
  epochs: 3,
  batchSize: 64,
  optimizer: { kind: 'adam', learningRate: 0.01 },
  updateMode: 'sync',
  seed: 3,
  checkpointEvery: 30,
});
const quiet = (): void => undefined;

describe('sync job restarted from a checkpoint (real NATS)', () => {
  let nc: NatsConnection;

  beforeAll(async () => {
    await selectBackend({ log: quiet, warn: quiet });
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'failover-test' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.examplesStream(pipeline),
      subjects: [subjects.examplesEveryVersion(pipeline)],
    });
    await publishExamples(
      nc,
      subjects.examples(pipeline, 1, 'train'),
      syntheticExamples(3000, 8, 5, 't'),
    );
    await publishExamples(
      nc,
      subjects.examples(pipeline, 1, 'validation'),
      syntheticExamples(500, 8, 6, 'v'),
    );
  });

  afterAll(async () => {
    await deleteStreamsOfRoot(nc, root);
    await nc.drain();
  });

  it('every shard restores its checkpoint and the workers resume at its step: the same model as without the restart', async () => {
    const base = {
      natsUrl: TEST_NATS_URL,
      root,
      jobId: 'restartjob',
      workers: 2,
      shards: 2,
      model,
      schema,
      training,
      examples,
    };
    const full = await runRoleCluster(base);
    const parts = full.reports.flatMap((r) =>
      r.type === 'checkpoint' && r.step === 60 ? [r] : [],
    );
    expect(parts.map((p) => p.shard).sort()).toEqual([0, 1]);

    // What the AM does once every shard has stored step 60: write the manifest last.
    const manifest: CheckpointManifest = {
      jobId: 'restartjob',
      generation: 0,
      step: 60,
      createdAt: new Date().toISOString(),
      shards: parts.map(({ shard, object, updateCount }) => ({ shard, object, updateCount })),
      variables: parameterLayoutFor(model, schema, 2).variables,
      optimizer: 'adam',
      workerPositions: [],
    };
    const name = manifestObjectName('restartjob', 0, 60);
    const store = await new Objm(nc).open(subjects.bucket('checkpoints'));
    await store.putBlob({ name }, encodeJson(manifest));

    const resumed = await runRoleCluster({ ...base, generation: 1, restoreFrom: name });
    expect(resumed.results[0]!.steps).toBeLessThan(full.results[0]!.steps);
    const a = full.results[0]!.params!;
    const b = resumed.results[0]!.params!;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i += 1) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(resumed.results[0]!.metrics!.loss).toBeCloseTo(full.results[0]!.metrics!.loss, 5);
    expect(resumed.reports.every((r) => r.token.generation === 1)).toBe(true);
  });
});
