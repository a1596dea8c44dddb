import {
  PipelineSnapshot,
  pipelineSnapshotSchema,
  OutputSchema,
  SourceDeclaration,
  sourceDeclarationSchema,
  streamSnapshotSchema,
} from '@dln/contracts';
import { outputSchemaOf } from '@dln/features';
import { isDeepStrictEqual } from 'node:util';
import { artifactFromBlobs, loadArtifactModel, ModelArtifact } from '@dln/ml';
import { ServableArtifact } from './loaded-model';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
 * served schema is the base's, once it is checked to fit in the trained one. Aggregates need the
 * feature service's per-key state at serving (not served here yet).
 */
function streamServing(
  pipeline: Record<string, unknown>,
  trained: OutputSchema,
): { snapshot: PipelineSnapshot; outputSchema: OutputSchema } {
  const parsed = streamSnapshotSchema.safeParse(pipeline);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `the artifact's stream snapshot is not valid: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const { base, aggregates } = parsed.data;
  if (aggregates.length > 0)
    throw new Error(
      `the artifact's stream snapshot has ${aggregates.length} per-key aggregate(s); serving them is not supported yet`,
    );
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
  // Plain Uint8Array copies: a Node Buffer's slice() is a view, which the artifact reader cannot take.
  for (const [name, bytes] of objects)
    out.set(name.slice(name.lastIndexOf('/') + 1), new Uint8Array(bytes));
  return out;
}

/**
 * Builds what serving needs from an artifact's blobs: the tfjs model, the pinned snapshot, the
 * output schema, and the source declaration (the artifact's, else `lookupSource`'s answer).
 */
export async function servableFromBlobs(
  blobs: ReadonlyMap<string, Uint8Array>,
  lookupSource: (source: string) => Promise<SourceDeclaration | undefined> = async () => undefined,
): Promise<ServableArtifact> {
  const artifact = artifactFromBlobs(blobsByFileName(blobs));
  const pipeline = artifact.pipeline;
  const { snapshot, outputSchema } =
    isObject(pipeline) && 'streamSnapshotVersion' in pipeline
      ? streamServing(pipeline, artifact.outputSchema)
      : { snapshot: snapshotOfArtifact(artifact), outputSchema: artifact.outputSchema };
  const source = sourceOfArtifact(artifact) ?? (await lookupSource(snapshot.spec.source));
  const model = await loadArtifactModel(artifact);
  return {
    model,
    snapshot,
    outputSchema,
    ...(source ? { source } : {}),
    metadata: { ...artifact.metadata, classNames: artifact.classNames },
  };
}
