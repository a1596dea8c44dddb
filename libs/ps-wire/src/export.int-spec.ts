import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControlPattern,
  modelSpecSchema,
  OutputSchema,
  PipelineVersion,
  pipelineSpecSchema,
  Subjects,
  trainingSettingsSchema,
} from '@dln/contracts';
import {
  connectNats,
  encodeJson,
  ensureStream,
  jetStreamManagerOf,
  NatsConnection,
} from '@dln/messaging';
import {
  artifactFromBlobs,
  buildModel,
  loadArtifactModel,
  predictBatch,
  selectBackend,
  writeWeights,
} from '@dln/ml';
import { deleteStreamsOfRoot, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import { syntheticExamples } from '@dln/training';
import { Objm } from '@nats-io/obj';
import { publishExamples, runRoleCluster } from './testing/role-cluster';

const root = uniqueRoot('export');
const subjects = new Subjects(root);
const pipeline = 'synthetic';
const WIDTH = 4;
const names = Array.from({ length: WIDTH }, (_, i) => `x${i}`);
const schema: OutputSchema = {
  formatVersion: 1,
  dense: names.map((name, offset) => ({ name, offset, width: 1 })),
  denseWidth: WIDTH,
  ids: [],
  label: { kind: 'binary' },
};
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [8] });
const train = syntheticExamples(1500, WIDTH, 8, 't');
const validation = syntheticExamples(400, WIDTH, 9, 'v');
const quiet = (): void => undefined;

/** The fitted pipeline version the feature service describes for these examples. */
function describedVersion(): PipelineVersion {
  const spec = pipelineSpecSchema.parse({
    name: pipeline,
    source: 'synthetic_source',
    features: names.map((name) => ({ name, kind: 'numeric', field: name, transform: 'none' })),
    label: { kind: 'binary', field: 'y' },
  });
  return {
    pipeline,
    version: 1,
    fittedAt: new Date().toISOString(),
    recordCount: 1900,
    sourceSequence: 1900,
    snapshot: {
      snapshotVersion: 1,
      spec,
      features: names.map((name) => ({ name, count: 1900, missing: 0 })),
      label: { count: 1900, positives: 600 },
    },
    outputSchema: schema,
    materialization: {
      status: 'done',
      run: 1,
      counts: { train: 1500, validation: 400, rejected: 0, duplicates: 0 },
      processed: 1900,
    },
  };
}

describe('worker 0 exports the model version at the end (real NATS, Object Store)', () => {
  let nc: NatsConnection;

  beforeAll(async () => {
    await selectBackend({ log: quiet, warn: quiet });
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'export-test' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.examplesStream(pipeline),
      subjects: [subjects.examplesEveryVersion(pipeline)],
    });
    await publishExamples(nc, subjects.examples(pipeline, 1, 'train'), train);
    await publishExamples(nc, subjects.examples(pipeline, 1, 'validation'), validation);
    // The feature service's answer to pipelineDescribe (it pins the snapshot into the artifact).
    nc.subscribe(subjects.control(ControlPattern.pipelineDescribe), {
      callback: (_e, msg) => {
        msg.respond(encodeJson(describedVersion()));
      },
    });
  });

  afterAll(async () => {
    await deleteStreamsOfRoot(nc, root);
    await nc.drain();
  });

  it('stores an artifact that scores like the trained parameters and reports `exported`', async () => {
    const training = trainingSettingsSchema.parse({
      epochs: 2,
      batchSize: 32,
      optimizer: { kind: 'adam', learningRate: 0.01 },
      seed: 4,
    });
    const run = await runRoleCluster({
      natsUrl: TEST_NATS_URL,
      root,
      jobId: 'exportjob',
      workers: 2,
      shards: 1,
      model,
      schema,
      training,
      examples: { pipeline, version: 1, trainCount: 1500, validationCount: 400 },
      exportModel: true,
    });
    const exported = run.reports.find((r) => r.type === 'exported');
    if (exported?.type !== 'exported') throw new Error('no exported report');
    expect(exported.token.role).toBe('worker-0');
    expect(exported.finite).toBe(true);
    expect(exported.trainExamples).toBe(1500);
    expect(exported.metrics.loss).toBeCloseTo(run.results[0]!.metrics!.loss, 6);
    expect(run.reports.filter((r) => r.type === 'finished').length).toBe(3);

    const store = await new Objm(nc).open(subjects.bucket('models'));
    const blobs = new Map<string, Uint8Array>();
    for (const name of exported.objects) {
      expect(name.startsWith('cluster-test/exportjob-g0/')).toBe(true);
      blobs.set(
        name.slice(name.lastIndexOf('/') + 1),
        new Uint8Array((await store.getBlob(name))!),
      );
    }
    const artifact = artifactFromBlobs(blobs);
    expect(artifact.pipeline).toEqual(describedVersion().snapshot);
    expect(artifact.classNames).toEqual(['1']);
    const loaded = await loadArtifactModel(artifact);
    const trained = buildModel(model, schema, training.seed);
    writeWeights(trained, run.results[0]!.params!);
    const a = predictBatch(loaded, validation.batch);
    const b = predictBatch(trained, validation.batch);
    for (let i = 0; i < a.length; i += 1) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-6);
    loaded.dispose();
    trained.dispose();
  });
});
