import {
  ControlPattern,
  ModelCatalogue,
  modelSpecSchema,
  ModelVersion,
  pipelineSpecSchema,
  RawRecord,
  ScorerStatus,
  sourceDeclarationSchema,
  SourceDescription,
  Subjects,
} from '@dln/contracts';
import {
  fitPipeline,
  flightsPipelineSpec,
  flightsSourceDeclaration,
  PipelineEncoder,
} from '@dln/features';
import { connectNats, encodeJson, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import { artifactToBlobs, buildModel, exportModelArtifact, selectBackend } from '@dln/ml';
import { compileRecordValidator } from '@dln/records';
import {
  deleteStreamsOfRoot,
  ensureRawStream,
  predictionsStored,
  publishRawRecords,
  readPredictions,
  ServiceProcess,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { Objm } from '@nats-io/obj';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 5, "killing a prediction instance mid-stream loses no record and publishes no duplicate
// score": the built prediction service as a separate process scores a raw stream fed at a steady
// rate; it is SIGKILLed mid-stream (records delivered, scored, maybe published, not acked) and
// another instance takes over. Then a full replay (the consumer's position lost) re-scores every
// record and JetStream drops every copy.
const declaration = sourceDeclarationSchema.parse(flightsSourceDeclaration('flights'));
const TOTAL = 4000;
const ACK_WAIT_MS = 2000;

function storedFlights(): RawRecord[] {
  const file = join(dirname(require.resolve('vega-datasets')), '..', 'data', 'flights-20k.json');
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>[];
  const validate = compileRecordValidator(declaration, '_id');
  const out: RawRecord[] = [];
  raw.forEach((record, i) => {
    // The id field is generated (idFrom=row) and filled in after validation, as ingest does.
    const outcome = validate(record, false);
    if (outcome.record) out.push({ ...outcome.record, _id: `f${i}` });
  });
  return out;
}

async function storeModel(
  nc: NatsConnection,
  subjects: Subjects,
  records: RawRecord[],
): Promise<ModelVersion> {
  const snapshot = fitPipeline(
    pipelineSpecSchema.parse(flightsPipelineSpec('flights', 'flights')),
    records,
  );
  const schema = new PipelineEncoder(snapshot).outputSchema;
  const spec = modelSpecSchema.parse({
    kind: 'wide_and_deep',
    embeddings: [{ column: 'origin', dim: 4 }],
    deepHidden: [32],
  });
  const model = buildModel(spec, schema, 5);
  const artifact = await exportModelArtifact(model, { pipeline: snapshot, outputSchema: schema });
  model.dispose();
  const store = await new Objm(nc).create(subjects.bucket('models'));
  const objects: string[] = [];
  for (const [file, bytes] of artifactToBlobs(artifact)) {
    await store.putBlob({ name: `delays/1/${file}` }, bytes);
    objects.push(`delays/1/${file}`);
  }
  return {
    model: 'delays',
    version: 1,
    jobId: 'e2e',
    pipeline: 'flights',
    pipelineVersion: 1,
    objects,
    metrics: { loss: 0.5, examples: records.length },
    isDefault: true,
    pinned: false,
    createdAt: new Date().toISOString(),
  };
}

describe('prediction topics survive a killed prediction instance', () => {
  const root = uniqueRoot('pred_topics_e2e');
  const subjects = new Subjects(root);
  const subscriptions: { unsubscribe(): void }[] = [];
  const services: ServiceProcess[] = [];
  let nc: NatsConnection;
  let records: RawRecord[];

  const start = async (): Promise<ServiceProcess> => {
    const service = await ServiceProcess.start({
      app: 'prediction',
      env: {
        NATS_URL: TEST_NATS_URL,
        SUBJECT_ROOT: root,
        LOG_LEVEL: 'warn',
        PARSE_WORKERS: '0',
        SCORER_BATCH: '64',
        SCORER_ACK_WAIT_MS: String(ACK_WAIT_MS),
        SCORER_RETRY_MS: '200',
      },
    });
    services.push(service);
    return service;
  };
  const status = async (service: ServiceProcess): Promise<ScorerStatus> =>
    (await (await fetch(`${service.url}/v1/scorers/delays`)).json()) as ScorerStatus;

  beforeAll(async () => {
    await selectBackend({ log: () => undefined, warn: () => undefined });
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'prediction-topics-e2e' });
    records = storedFlights().slice(0, TOTAL);
    expect(records).toHaveLength(TOTAL);
    const version = await storeModel(nc, subjects, records);
    await ensureRawStream(nc, subjects, 'flights');
    const catalogue: ModelCatalogue = { versions: [version] };
    const description: SourceDescription = {
      declaration,
      idField: '_id',
      stream: subjects.rawStream('flights'),
      subjects: { ingest: 'i', raw: subjects.rawAll('flights'), deadLetter: 'd' },
      stored: { records: 0, bytes: 0 },
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
    };
    subscriptions.push(
      nc.subscribe(subjects.control(ControlPattern.modelCatalogue), {
        callback: (_e, msg) => void msg.respond(encodeJson(catalogue)),
      }),
      nc.subscribe(subjects.control(ControlPattern.sourceDescribe), {
        callback: (_e, msg) => void msg.respond(encodeJson(description)),
      }),
    );
  });

  afterAll(async () => {
    for (const service of services) await service.stop('SIGKILL');
    for (const s of subscriptions) s.unsubscribe();
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
  });

  it('loses no record and stores no duplicate score when an instance is killed mid-stream and when everything is replayed', async () => {
    const first = await start();
    const declared = await fetch(`${first.url}/v1/scorers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'delays', source: 'flights', model: 'delays' }),
    });
    expect(declared.status).toBe(201);
    await waitFor(
      'the scorer to run',
      async () => (await status(first)).state === 'running',
      60_000,
    );

    // ~1,000 records/s in chunks of 50; the instance is killed after about a third.
    const feeding = (async () => {
      for (let i = 0; i < TOTAL; i += 50) {
        await publishRawRecords(nc, subjects, 'flights', records.slice(i, i + 50), '_id');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await waitFor(
      'some scores',
      async () => (await predictionsStored(nc, subjects, 'delays')) >= TOTAL / 4,
      60_000,
      20,
    );
    await first.stop('SIGKILL');
    const killedAt = await predictionsStored(nc, subjects, 'delays');
    expect(killedAt).toBeLessThan(TOTAL);
    const second = await start();
    await feeding;
    await waitFor(
      'every record scored',
      async () => (await predictionsStored(nc, subjects, 'delays')) >= TOTAL,
      120_000,
    );
    // Records the killed instance held come back after the ack wait: let every one of them land.
    await new Promise((resolve) => setTimeout(resolve, ACK_WAIT_MS * 2));
    const afterKill = await readPredictions(nc, subjects, 'delays');
    expect(afterKill).toHaveLength(TOTAL);
    expect(new Set(afterKill.map((m) => m.id))).toEqual(
      new Set(records.map((r) => String(r['_id']))),
    );
    expect(afterKill.every((m) => m.version === 1 && typeof m.score === 'number')).toBe(true);

    // Replay: the consumer's position is lost (deleted while no instance runs); a new instance
    // re-scores every record, and every copy is dropped by its msg id.
    await second.stop('SIGKILL');
    const jsm = await jetStreamManagerOf(nc);
    await jsm.consumers.delete(subjects.rawStream('flights'), 'score_delays');
    const third = await start();
    await waitFor('the replay', async () => (await status(third)).scored >= TOTAL, 120_000);
    const replayed = await status(third);
    expect(replayed).toMatchObject({ scored: TOTAL, duplicates: TOTAL, unscorable: 0 });
    expect(await predictionsStored(nc, subjects, 'delays')).toBe(TOTAL);
  });
});
