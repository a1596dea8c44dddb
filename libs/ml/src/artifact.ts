import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { MODEL_LIMITS, OutputSchema, outputSchemaSchema } from '@dln/contracts';
import { MemoryIOHandler } from './memory-io';

/** Version of the artifact layout below; bumped on any incompatible change. */
export const ARTIFACT_FORMAT_VERSION = 1;

/** Names of the blobs an artifact is stored as (object-store entries or files). */
export const ArtifactFile = {
  Artifact: 'artifact.json',
  Model: 'model.json',
  Weights: 'weights.bin',
  Pipeline: 'pipeline.json',
  OutputSchema: 'output-schema.json',
} as const;

const MAX_JSON_BYTES = 16 * 1024 * 1024;
const MAX_WEIGHT_BYTES = 4 * MODEL_LIMITS.maxParameters + 1024 * 1024;

const weightEntrySchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().min(0)),
  dtype: z.enum(['float32', 'int32']),
});
/** One weight of an artifact's manifest: its bytes follow the previous weight's, 4 per value. */
export type WeightEntry = z.infer<typeof weightEntrySchema>;
const modelJsonSchema = z.object({
  format: z.string().optional(),
  generatedBy: z.string().optional(),
  convertedBy: z.string().nullable().optional(),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z
    .array(z.object({ paths: z.array(z.string()), weights: z.array(weightEntrySchema) }))
    .length(1),
});
export type ArtifactModelJson = z.infer<typeof modelJsonSchema>;

const artifactHeaderSchema = z.object({
  formatVersion: z.literal(ARTIFACT_FORMAT_VERSION),
  classNames: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
});

/**
 * A model version as plain data: the tfjs layers model (model.json with its weights manifest,
 * and the weight bytes), the fitted pipeline snapshot it was trained behind (opaque here), the
 * output schema, the class names in output order, and metadata (job, data counts, metrics).
 */
export interface ModelArtifact {
  formatVersion: typeof ARTIFACT_FORMAT_VERSION;
  modelJson: ArtifactModelJson;
  weightData: Uint8Array;
  pipeline: unknown;
  outputSchema: OutputSchema;
  /** Class labels: the class names; binary: `["1"]` (the one output is P(label = 1)); numeric: none. */
  classNames: string[];
  metadata: Record<string, unknown>;
}

export interface ExportOptions {
  pipeline: unknown;
  outputSchema: OutputSchema;
  metadata?: Record<string, unknown>;
  /** Validation loss; an artifact with a non-finite one is refused. */
  validationLoss?: number;
}

/** Thrown when a model must not be exported (NaN/Infinity weights or validation loss). */
export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
}

function classNamesOf(schema: OutputSchema): string[] {
  if (schema.label.kind === 'class') return [...schema.label.classes];
  return schema.label.kind === 'binary' ? ['1'] : [];
}

/**
 * `size` float32 values at byte `offset` of `bytes`, read in place when 4-byte aligned (a Node
 * Buffer may sit at any offset of a shared pool), else from a copy.
 */
function float32View(bytes: Uint8Array, offset: number, size: number): Float32Array {
  const start = bytes.byteOffset + offset;
  if (start % 4 === 0 && offset + 4 * size <= bytes.byteLength)
    return new Float32Array(bytes.buffer, start, size);
  const copy = new Uint8Array(4 * size);
  copy.set(bytes.subarray(offset, offset + 4 * size));
  return new Float32Array(copy.buffer);
}

function checkFinite(specs: readonly WeightEntry[], bytes: Uint8Array): void {
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((product, dim) => product * dim, 1);
    if (spec.dtype === 'float32') {
      const values = float32View(bytes, offset, size);
      for (let i = 0; i < values.length; i += 1) {
        if (!Number.isFinite(values[i]))
          throw new ArtifactError(
            `weight ${spec.name} has a non-finite value (${values[i]}) at ${i}: refusing to export`,
          );
      }
    }
    offset += 4 * size;
  }
  if (offset !== bytes.byteLength)
    throw new ArtifactError(
      `weights manifest describes ${offset} bytes, the weight data has ${bytes.byteLength}`,
    );
}

/** Saves a trained model into an artifact, refusing NaN/Infinity weights or validation loss. */
export async function exportModelArtifact(
  model: tf.LayersModel,
  options: ExportOptions,
): Promise<ModelArtifact> {
  if (options.validationLoss !== undefined && !Number.isFinite(options.validationLoss)) {
    throw new ArtifactError(`validation loss is ${options.validationLoss}: refusing to export`);
  }
  const handler = new MemoryIOHandler();
  await model.save(handler);
  const saved = handler.saved;
  if (!saved.weightData || !saved.weightSpecs)
    throw new ArtifactError('the model saved no weights');
  const weightData = new Uint8Array(tf.io.CompositeArrayBuffer.join(saved.weightData));
  const modelJson = modelJsonSchema.parse({
    format: saved.format,
    generatedBy: saved.generatedBy,
    convertedBy: saved.convertedBy,
    modelTopology: saved.modelTopology,
    weightsManifest: [{ paths: [`./${ArtifactFile.Weights}`], weights: saved.weightSpecs }],
  });
  checkFinite(modelJson.weightsManifest[0]?.weights ?? [], weightData);
  return {
    formatVersion: ARTIFACT_FORMAT_VERSION,
    modelJson,
    weightData,
    pipeline: options.pipeline,
    outputSchema: options.outputSchema,
    classNames: classNamesOf(options.outputSchema),
    metadata: options.metadata ?? {},
  };
}

/** Builds the tfjs model of an artifact (custom layers of this lib are registered on import). */
export async function loadArtifactModel(artifact: ModelArtifact): Promise<tf.LayersModel> {
  const { weightData } = artifact;
  const buffer = weightData.buffer.slice(
    weightData.byteOffset,
    weightData.byteOffset + weightData.byteLength,
  ) as ArrayBuffer;
  const handler = new MemoryIOHandler({
    modelTopology: artifact.modelJson.modelTopology,
    weightSpecs: artifact.modelJson.weightsManifest[0]?.weights ?? [],
    weightData: buffer,
  });
  return tf.loadLayersModel(handler);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const json = (value: unknown) => encoder.encode(JSON.stringify(value));

/** The artifact as named blobs for an object store; the weights stay raw bytes. */
export function artifactToBlobs(artifact: ModelArtifact): Map<string, Uint8Array> {
  return new Map([
    [
      ArtifactFile.Artifact,
      json({
        formatVersion: artifact.formatVersion,
        classNames: artifact.classNames,
        metadata: artifact.metadata,
      }),
    ],
    [ArtifactFile.Model, json(artifact.modelJson)],
    [ArtifactFile.Weights, artifact.weightData],
    [ArtifactFile.Pipeline, json(artifact.pipeline ?? null)],
    [ArtifactFile.OutputSchema, json(artifact.outputSchema)],
  ]);
}

function blob(blobs: ReadonlyMap<string, Uint8Array>, name: string, max: number): Uint8Array {
  const bytes = blobs.get(name);
  if (!bytes) throw new ArtifactError(`artifact blob ${name} is missing`);
  if (bytes.byteLength > max)
    throw new ArtifactError(
      `artifact blob ${name} has ${bytes.byteLength} bytes, more than ${max}`,
    );
  return bytes;
}

function parseJsonBlob<T extends z.ZodType>(
  blobs: ReadonlyMap<string, Uint8Array>,
  name: string,
  schema: T,
): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(blob(blobs, name, MAX_JSON_BYTES)));
  } catch (cause) {
    if (cause instanceof ArtifactError) throw cause;
    throw new ArtifactError(`artifact blob ${name} is not JSON: ${(cause as Error).message}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ArtifactError(
      `artifact blob ${name} is invalid: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return result.data;
}

/** Reads an artifact back from its blobs, validating every part and the weight sizes. */
export function artifactFromBlobs(blobs: ReadonlyMap<string, Uint8Array>): ModelArtifact {
  const header = parseJsonBlob(blobs, ArtifactFile.Artifact, artifactHeaderSchema);
  const modelJson = parseJsonBlob(blobs, ArtifactFile.Model, modelJsonSchema);
  const weightData = blob(blobs, ArtifactFile.Weights, MAX_WEIGHT_BYTES);
  checkFinite(modelJson.weightsManifest[0]?.weights ?? [], weightData);
  return {
    formatVersion: header.formatVersion,
    classNames: header.classNames,
    metadata: header.metadata,
    modelJson,
    weightData,
    pipeline: parseJsonBlob(blobs, ArtifactFile.Pipeline, z.unknown()),
    outputSchema: parseJsonBlob(blobs, ArtifactFile.OutputSchema, outputSchemaSchema),
  };
}
