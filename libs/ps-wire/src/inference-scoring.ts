import {
  decodeExample,
  Example,
  inferenceMsgId,
  OutputSchema,
  PredictionMessage,
} from '@dln/contracts';
import { OutgoingMessage, encodeJson } from '@dln/messaging';
import { batchFromExamples, predictBatch } from '@dln/ml';
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
 * Scores a batch of encoded examples with one model call and returns one prediction message per
 * input message, in order, each with its job-scoped msg id. A message that cannot be decoded (or
 * has no record id) is answered with `error` and no score, still exactly once.
 */
export function scoreInferenceBatch(
  model: LayersModel,
  target: InferenceTarget,
  inputs: readonly InferenceInputMessage[],
  now: number,
): { outgoing: OutgoingMessage[]; unscorable: number } {
  const examples: Example[] = [];
  const rowOf: number[] = [];
  const errors: (string | undefined)[] = [];
  for (const input of inputs) {
    try {
      const example = decodeExample(input.data);
      batchFromExamples([example], target.schema);
      rowOf.push(examples.length);
      examples.push(example);
      errors.push(undefined);
    } catch (error) {
      rowOf.push(-1);
      errors.push(`the example cannot be read: ${(error as Error).message}`);
    }
  }
  const scores = predictBatch(model, batchFromExamples(examples, target.schema));
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
