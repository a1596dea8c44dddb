import {
  decodeExample,
  Example,
  inferenceMsgId,
  OutputSchema,
  PipelineSnapshot,
  pipelineSnapshotSchema,
  PredictionMessage,
} from '@dln/contracts';
import { PipelineEncoder, RecordEncodeError } from '@dln/features';
import { OutgoingMessage, encodeJson } from '@dln/messaging';
import { ExampleBatch, predictBatch } from '@dln/ml';
import { scoreFields } from '@dln/serving';
import type { LayersModel } from '@tensorflow/tfjs';

/** One input message as the scorer needs it: its record id, encoded example and storage time. */
export interface InferenceInputMessage {
  seq: number;
  recordId: string | undefined;
  data: Uint8Array;
  /** When JetStream stored the example, epoch ms. */
  storedAt: number;
}

/** An input message's encoded example; throws with the reason the record cannot be scored. */
export type InferenceDecoder = (input: InferenceInputMessage) => Example;

/** Materialized examples: the binary example format, checked against the output schema. */
export function examplesDecoder(schema: OutputSchema): InferenceDecoder {
  const idCount = schema.ids.length;
  return (input) => {
    const example = decodeExample(input.data);
    if (example.dense.length !== schema.denseWidth || example.ids.length !== idCount)
      throw new Error(
        `the example has ${example.dense.length} dense values and ${example.ids.length} ids, the model takes ${schema.denseWidth} and ${idCount}`,
      );
    if (!example.dense.every(Number.isFinite))
      throw new Error('the example has a non-finite feature value');
    schema.ids.forEach((column, i) => {
      const id = example.ids[i] as number;
      if (id < 0 || id >= column.cardinality)
        throw new Error(`id ${id} of ${column.name} is outside [0, ${column.cardinality})`);
    });
    return example;
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Stored raw records (sources.ts: JSON, declared fields, timestamps in epoch ms) encoded with the
 * version's pinned snapshot by the features lib's encoder, as the feature service encoded the
 * training examples (labels optional).
 */
export function rawRecordsDecoder(snapshot: PipelineSnapshot): InferenceDecoder {
  const encoder = new PipelineEncoder(snapshot);
  return (input) => {
    let record: unknown;
    try {
      record = JSON.parse(utf8.decode(input.data));
    } catch (error) {
      throw new Error(`the stored record is not JSON: ${(error as Error).message}`);
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record))
      throw new Error('the stored record is not a JSON object');
    let example: Example;
    try {
      example = encoder.encode(record as Record<string, unknown>, 'optional');
    } catch (error) {
      if (error instanceof RecordEncodeError) throw new Error(`${error.field}: ${error.reason}`);
      throw error;
    }
    if (!example.dense.every(Number.isFinite))
      throw new Error('the record encodes to a non-finite feature value');
    return example;
  };
}

/** The pinned snapshot in an artifact's pipeline blob (the snapshot, or a version holding it). */
export function snapshotOfPipelineBlob(bytes: Uint8Array): PipelineSnapshot {
  const value: unknown = JSON.parse(utf8.decode(bytes));
  const candidate =
    value !== null && typeof value === 'object' && 'snapshot' in value
      ? (value as { snapshot: unknown }).snapshot
      : value;
  return pipelineSnapshotSchema.parse(candidate);
}

/** Rows to score (labels are not read: a raw record may have none). */
function unlabelledBatch(examples: readonly Example[], schema: OutputSchema): ExampleBatch {
  const denseWidth = schema.denseWidth;
  const idCount = schema.ids.length;
  const batch: ExampleBatch = {
    size: examples.length,
    denseWidth,
    idCount,
    dense: new Float32Array(examples.length * denseWidth),
    ids: new Int32Array(examples.length * idCount),
    labels: new Float32Array(examples.length),
  };
  examples.forEach((example, row) => {
    batch.dense.set(example.dense, row * denseWidth);
    batch.ids.set(example.ids, row * idCount);
  });
  return batch;
}

/** Where a scored batch goes: the topic, the job, the model version, the records' source. */
export interface InferenceTarget {
  subject: string;
  jobId: string;
  model: string;
  version: number;
  source: string;
  schema: OutputSchema;
}

/**
 * Scores a batch of input messages with one model call and returns one prediction message per
 * input message, in order, each with its job-scoped msg id. A message that cannot be decoded or
 * encoded is answered with `error` and no score, still exactly once.
 */
export function scoreInferenceBatch(
  model: LayersModel,
  target: InferenceTarget,
  decode: InferenceDecoder,
  inputs: readonly InferenceInputMessage[],
  now: number,
): { outgoing: OutgoingMessage[]; unscorable: number } {
  const examples: Example[] = [];
  const rowOf: number[] = [];
  const errors: (string | undefined)[] = [];
  for (const input of inputs) {
    try {
      const example = decode(input);
      rowOf.push(examples.length);
      examples.push(example);
      errors.push(undefined);
    } catch (error) {
      rowOf.push(-1);
      errors.push((error as Error).message);
    }
  }
  const scores = predictBatch(model, unlabelledBatch(examples, target.schema));
  let unscorable = 0;
  const outgoing = inputs.map((input, i): OutgoingMessage => {
    const id = input.recordId || `seq-${input.seq}`;
    const base = {
      id,
      source: target.source,
      model: target.model,
      version: target.version,
      job: target.jobId,
    };
    const row = rowOf[i] as number;
    let message: PredictionMessage;
    if (row < 0) {
      unscorable += 1;
      message = {
        ...base,
        error: errors[i] ?? 'not scored',
        timestamp: now,
        ingestedAt: input.storedAt,
      };
    } else {
      message = {
        ...base,
        ...scoreFields(scores, row, target.schema),
        timestamp: now,
        ingestedAt: input.storedAt,
      };
    }
    return {
      subject: target.subject,
      data: encodeJson(message),
      msgID: inferenceMsgId(target.jobId, target.source, id),
    };
  });
  return { outgoing, unscorable };
}
