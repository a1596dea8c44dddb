import {
  ControlPattern,
  ModelCatalogue,
  modelSpecSchema,
  ModelVersion,
  PipelineSnapshot,
  pipelineSpecSchema,
  RawRecord,
  SourceDeclaration,
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
import { encodeJson, type NatsConnection } from '@dln/messaging';
import { artifactToBlobs, buildModel, exportModelArtifact } from '@dln/ml';
import { compileRecordValidator } from '@dln/records';
import { Objm } from '@nats-io/obj';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const MODEL = 'flights';

/** The flights-20k records as they come (date text, numbers, airports). */
export function flights(): Record<string, unknown>[] {
  const file = resolve(process.cwd(), 'node_modules/vega-datasets/data/flights-20k.json');
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>[];
}

export const declaration: SourceDeclaration = sourceDeclarationSchema.parse(
  flightsSourceDeclaration('flights'),
);

/** The flights pipeline fitted on the records, as the feature service would store them. */
export function fitFlights(records: Record<string, unknown>[]): PipelineSnapshot {
  const validate = compileRecordValidator(declaration, '_id');
  const stored: RawRecord[] = [];
  for (const record of records) {
    const outcome = validate(record, false);
    if (outcome.record) stored.push(outcome.record);
  }
  return fitPipeline(pipelineSpecSchema.parse(flightsPipelineSpec('flights', 'flights')), stored);
}

/** A wide-and-deep model on the flights schema (embeddings of the airports and the route); version 1 is the default. */
export async function storeFlightsModel(
  nc: NatsConnection,
  subjects: Subjects,
  snapshot: PipelineSnapshot,
  version = 1,
  seed = 42,
): Promise<ModelVersion> {
  const schema = new PipelineEncoder(snapshot).outputSchema;
  const spec = modelSpecSchema.parse({
    kind: 'wide_and_deep',
    embeddings: [
      { column: 'origin', dim: 8 },
      { column: 'destination', dim: 8 },
      { column: 'route', dim: 8 },
    ],
    deepHidden: [256, 128],
  });
  const model = buildModel(spec, schema, seed);
  const artifact = await exportModelArtifact(model, {
    pipeline: snapshot,
    outputSchema: schema,
    metadata: { bench: true },
  });
  model.dispose();
  const store = await new Objm(nc).create(subjects.bucket('models'));
  const objects: string[] = [];
  for (const [file, bytes] of artifactToBlobs(artifact)) {
    const name = `${MODEL}/${version}/${file}`;
    await store.putBlob({ name }, bytes);
    objects.push(name);
  }
  return {
    model: MODEL,
    version,
    jobId: 'bench',
    pipeline: 'flights',
    pipelineVersion: 1,
    objects,
    metrics: { loss: 0.5, examples: 20_000 },
    isDefault: version === 1,
    pinned: false,
    createdAt: new Date().toISOString(),
  };
}

/** Stands in for the AM's catalogue and ingest's source lookup (real contract types). */
export function answerControl(
  nc: NatsConnection,
  subjects: Subjects,
  version: ModelVersion,
): { unsubscribe(): void }[] {
  const catalogue: ModelCatalogue = { versions: [version] };
  const description: SourceDescription = {
    declaration,
    idField: '_id',
    stream: subjects.rawStream('flights'),
    subjects: {
      ingest: subjects.ingest('flights'),
      raw: subjects.rawAll('flights'),
      deadLetter: subjects.deadLetter('flights'),
    },
    stored: { records: 0, bytes: 0 },
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  };
  return [
    nc.subscribe(subjects.control(ControlPattern.modelCatalogue), {
      callback: (_e, msg) => void msg.respond(encodeJson(catalogue)),
    }),
    nc.subscribe(subjects.control(ControlPattern.sourceDescribe), {
      callback: (_e, msg) => void msg.respond(encodeJson(description)),
    }),
  ];
}

/** Fetches the stored artifact blobs back (the raw baseline loads the very same version). */
export async function loadBlobs(
  nc: NatsConnection,
  subjects: Subjects,
  version: ModelVersion,
): Promise<Map<string, Uint8Array>> {
  const store = await new Objm(nc).open(subjects.bucket('models'));
  const blobs = new Map<string, Uint8Array>();
  for (const name of version.objects) {
    const bytes = await store.getBlob(name);
    if (!bytes) throw new Error(`missing ${name}`);
    blobs.set(name, bytes);
  }
  return blobs;
}
