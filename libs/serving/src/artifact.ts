import {
  PipelineSnapshot,
  pipelineSnapshotSchema,
  SourceDeclaration,
  sourceDeclarationSchema,
} from '@dln/contracts';
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
  const snapshot = snapshotOfArtifact(artifact);
  const source = sourceOfArtifact(artifact) ?? (await lookupSource(snapshot.spec.source));
  const model = await loadArtifactModel(artifact);
  return {
    model,
    snapshot,
    outputSchema: artifact.outputSchema,
    ...(source ? { source } : {}),
    metadata: { ...artifact.metadata, classNames: artifact.classNames },
  };
}
