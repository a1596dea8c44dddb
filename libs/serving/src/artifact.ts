import {
  PipelineSnapshot,
  pipelineSnapshotSchema,
  OutputSchema,
  SourceDeclaration,
  sourceDeclarationSchema,
  StreamSnapshot,
  streamSnapshotSchema,
} from '@dln/contracts';
import { outputSchemaOf } from '@dln/features';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { ArtifactFile, artifactFromBlobs, ModelArtifact } from '@dln/ml';
import { StreamServing } from './aggregates';
import { ServableArtifact } from './loaded-model';
import { loadModelStepwise, nextTurn } from './stepwise-load';

/** What a stream pipeline tells serving: its event-time field and its aggregates, in order. */
export interface StreamPipelineServing {
  eventTime: string;
  aggregates: string[];
}

/** Asks the feature service about a stream pipeline (rejects when it cannot answer). */
export type DescribeStream = (pipeline: string) => Promise<StreamPipelineServing>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Pipeline blobs already validated, by digest: a stream job's versions pin the same snapshot. */
const validatedPipelines = new Map<string, unknown>();
const MAX_VALIDATED_PIPELINES = 16;

/**
 * `validate()`'s result for this pipeline blob, validated once per distinct content (Zod over a
 * fitted snapshot cost ~2.5 ms of every model swap on the serving loop). The same bytes always
 * give the same answer; a `validate` that throws is asked again next time.
 */
function validatedOnce<T>(
  kind: string,
  pipelineBlob: Uint8Array | undefined,
  validate: () => T,
): T {
  if (!pipelineBlob) return validate();
  const key = `${kind}:${createHash('sha256').update(pipelineBlob).digest('base64')}`;
  if (validatedPipelines.has(key)) return validatedPipelines.get(key) as T;
  // Every version pinning this blob shares the value: frozen, so no reader can change another's.
  const value = deepFreeze(validate());
  if (validatedPipelines.size >= MAX_VALIDATED_PIPELINES)
    validatedPipelines.delete(validatedPipelines.keys().next().value as string);
  validatedPipelines.set(key, value);
  return value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
  return value;
}

/**
 * The pipeline snapshot pinned in an artifact: the pipeline blob is the snapshot itself, or a
 * fitted pipeline version holding it (`{snapshot, ...}`).
 */
export function snapshotOfArtifact(artifact: ModelArtifact): PipelineSnapshot {
  const pipeline = artifact.pipeline;
  const candidate = isObject(pipeline) && 'snapshot' in pipeline ? pipeline['snapshot'] : pipeline;
  const parsed = pipelineSnapshotSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `the artifact's pipeline is not a fitted pipeline snapshot: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

/**
 * A stream job's artifact pins a stream snapshot. Without per-key aggregates its examples are
 * its base snapshot's (the stateless features), which serving encodes as in batch; a growing
 * vocabulary was trained with room for `maxSize + 1` ids and the base encodes fewer, so the
 * served schema is the base's, once it is checked to fit in the trained one. With aggregates
 * the served schema is the trained stream schema (StreamEncoder), and the aggregate slots are
 * read from the feature service's per-key state at the record's event time.
 */
async function streamServing(
  pipeline: Record<string, unknown>,
  pipelineBlob: Uint8Array | undefined,
  trained: OutputSchema,
  describeStream: DescribeStream | undefined,
): Promise<{ snapshot: PipelineSnapshot; outputSchema: OutputSchema; stream?: StreamServing }> {
  const parsed = validatedOnce('stream', pipelineBlob, () =>
    streamSnapshotSchema.safeParse(pipeline),
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `the artifact's stream snapshot is not valid: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const { base, aggregates } = parsed.data;
  if (aggregates.length > 0)
    return {
      snapshot: base,
      outputSchema: trained,
      stream: await aggregateServing(parsed.data, describeStream),
    };
  const served = outputSchemaOf(base);
  const fits =
    isDeepStrictEqual(served.dense, trained.dense) &&
    served.denseWidth === trained.denseWidth &&
    isDeepStrictEqual(served.label, trained.label) &&
    served.ids.length === trained.ids.length &&
    served.ids.every(
      (column, i) =>
        column.name === trained.ids[i]?.name && column.cardinality <= trained.ids[i].cardinality,
    );
  if (!fits)
    throw new Error("the stream snapshot's base does not fit the artifact's output schema");
  return { snapshot: base, outputSchema: served };
}

/** The event-time field of a snapshot's pipeline, once its aggregates are checked to match. */
async function aggregateServing(
  snapshot: StreamSnapshot,
  describeStream: DescribeStream | undefined,
): Promise<StreamServing> {
  const trained = snapshot.aggregates.map((a) => a.name);
  if (!describeStream)
    throw new Error(
      `the artifact's stream snapshot has ${trained.length} per-key aggregate(s); serving them needs the feature service`,
    );
  const described = await describeStream(snapshot.pipeline);
  if (!isDeepStrictEqual(described.aggregates, trained))
    throw new Error(
      `stream pipeline ${snapshot.pipeline} now has the aggregates [${described.aggregates.join(', ')}]; the model was trained with [${trained.join(', ')}]`,
    );
  return { snapshot, eventTime: described.eventTime };
}

/** The source declaration an artifact carries, if any (in its pipeline blob or its metadata). */
export function sourceOfArtifact(artifact: ModelArtifact): SourceDeclaration | undefined {
  for (const holder of [artifact.pipeline, artifact.metadata]) {
    if (isObject(holder) && holder['source'] !== undefined) {
      const parsed = sourceDeclarationSchema.safeParse(holder['source']);
      if (parsed.success) return parsed.data;
    }
  }
  return undefined;
}

/** Blob names of a catalogued version (`models/flights/3/model.json`) keyed by their file name. */
export function blobsByFileName(objects: ReadonlyMap<string, Uint8Array>): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  // A Node Buffer is copied into a plain Uint8Array: its slice() is a view (often into a shared
  // pool), which the artifact reader must not take. Plain arrays are used as they are.
  for (const [name, bytes] of objects)
    out.set(
      name.slice(name.lastIndexOf('/') + 1),
      Buffer.isBuffer(bytes) ? new Uint8Array(bytes) : bytes,
    );
  return out;
}

/**
 * Builds what serving needs from an artifact's blobs: the tfjs model, the pinned snapshot, the
 * output schema, and the source declaration (the artifact's, else `lookupSource`'s answer); for
 * a stream snapshot with aggregates, the pipeline's event-time field (`describeStream`).
 */
export async function servableFromBlobs(
  blobs: ReadonlyMap<string, Uint8Array>,
  lookupSource: (source: string) => Promise<SourceDeclaration | undefined> = async () => undefined,
  describeStream?: DescribeStream,
): Promise<ServableArtifact> {
  const named = blobsByFileName(blobs);
  const artifact = artifactFromBlobs(named);
  const pipelineBlob = named.get(ArtifactFile.Pipeline);
  // Loading shares the event loop with requests: a turn between its synchronous steps.
  await nextTurn();
  const pipeline = artifact.pipeline;
  const { snapshot, outputSchema, stream } =
    isObject(pipeline) && 'streamSnapshotVersion' in pipeline
      ? await streamServing(pipeline, pipelineBlob, artifact.outputSchema, describeStream)
      : {
          snapshot: validatedOnce('snapshot', pipelineBlob, () => snapshotOfArtifact(artifact)),
          outputSchema: artifact.outputSchema,
          stream: undefined,
        };
  const source = sourceOfArtifact(artifact) ?? (await lookupSource(snapshot.spec.source));
  await nextTurn();
  const model = await loadModelStepwise(artifact);
  return {
    model,
    snapshot,
    outputSchema,
    ...(source ? { source } : {}),
    ...(stream ? { stream } : {}),
    metadata: { ...artifact.metadata, classNames: artifact.classNames },
  };
}
