import { DlnError, RecordHeader } from '@dln/contracts';
import { JetStreamAcks, NatsConnection, PublishWindow } from '@dln/messaging';
import type { LayersModel } from '@tensorflow/tfjs';
import type { JsMsg } from '@nats-io/jetstream';
import { INFERENCE_PUBLISH_BATCHES, InferenceIntake } from '../inference-intake';
import { InferenceDecoder, InferenceTarget, scoreInferenceBatch } from '../inference-scoring';

/** Long enough for a loaded machine; a PubAck not back by then fails its batch (handed back). */
const PUBLISH_ACK_TIMEOUT_MS = 10_000;
/** How often a worker with nothing left asks whether the other workers' records are all acked. */
const DRAIN_POLL_MS = 100;

/** What one worker did: records it published scores for, and JetStream's copies among them. */
export interface InferenceWorkerResult {
  scored: number;
  duplicates: number;
  unscorable: number;
  batches: number;
  /**
   * Where the scoring loop's time went (ms): waiting for local messages, decoding and scoring,
   * waiting for room in the publish window (PubAcks overlap the next batches), sending acks;
   * `activeMs` from its first message to its last ack.
   */
  timing: { fetchMs: number; scoreMs: number; publishMs: number; ackMs: number; activeMs: number };
}

export interface InferenceLoop {
  nc: NatsConnection;
  intake: InferenceIntake;
  model: LayersModel;
  target: InferenceTarget;
  decode: InferenceDecoder;
  batchSize: number;
  fetchWaitMs: number;
  bounded: boolean;
  signal: AbortSignal;
  result: InferenceWorkerResult;
  /** Called after a batch's scores were published, before its messages are acknowledged. */
  beforeAck?: (batch: number) => Promise<void>;
  /** Called after each batch's acks. */
  onBatch: () => void;
}

/**
 * Scores the intake's batches as a pipeline: while one batch's PubAcks are awaited, the next is
 * scored and the one after is already local. Scores go out through one ack inbox and a window of
 * `INFERENCE_PUBLISH_BATCHES` batches (a full window holds the loop, which holds the intake: nothing
 * dropped); a batch is acknowledged only once all its PubAcks are in, and handed back when one
 * failed. Ends when stopped, or once a bounded input is drained; throws the first batch failure.
 */
export async function runInferenceLoop(loop: InferenceLoop): Promise<void> {
  const { intake, result, signal } = loop;
  const acks = new JetStreamAcks(loop.nc, PUBLISH_ACK_TIMEOUT_MS);
  const window = new PublishWindow(acks, loop.batchSize * INFERENCE_PUBLISH_BATCHES);
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let firstAt: number | undefined;
  const settled = async (): Promise<void> => {
    while (inFlight.size > 0) await Promise.all(inFlight);
  };
  try {
    while (!signal.aborted && failure === undefined) {
      if (loop.bounded && intake.exhausted) {
        await settled();
        if (failure === undefined && (await intake.drained())) break;
      }
      let at = performance.now();
      // Once the input looks exhausted, its end (the others' last acks) is checked often.
      const waitMs = loop.bounded && intake.exhausted ? DRAIN_POLL_MS : loop.fetchWaitMs;
      const messages = await intake.take(loop.batchSize, waitMs, signal);
      if (messages.length === 0) {
        await settled();
        if (loop.bounded && failure === undefined && (await intake.drained())) break;
        continue;
      }
      firstAt ??= at;
      result.timing.fetchMs += performance.now() - at;
      if (signal.aborted) {
        intake.nak(messages);
        break;
      }
      at = performance.now();
      const scored = scoreMessages(loop, messages);
      result.timing.scoreMs += performance.now() - at;
      at = performance.now();
      const batch = window.batch();
      let next = 0;
      try {
        await batch.publishFrom(() => scored.outgoing[next++]);
      } catch (error) {
        await batch.flush().catch(() => undefined);
        intake.nak(messages);
        failure ??= publishFailure(scored.outgoing.length, error);
        break;
      }
      result.timing.publishMs += performance.now() - at;
      const done = batch.flush().then(
        async (outcome) => {
          result.batches += 1;
          await loop.beforeAck?.(result.batches);
          const ackAt = performance.now();
          intake.ack(messages);
          result.timing.ackMs += performance.now() - ackAt;
          result.scored += outcome.stored + outcome.duplicates;
          result.duplicates += outcome.duplicates;
          result.unscorable += scored.unscorable;
          loop.onBatch();
        },
        (error: unknown) => {
          // Nothing acknowledged: the batch comes back (to any worker), its stored copies dropped.
          intake.nak(messages);
          throw publishFailure(scored.outgoing.length, error);
        },
      );
      const tracked = done.then(
        () => undefined,
        (error: unknown) => {
          failure ??= error;
        },
      );
      inFlight.add(tracked);
      void tracked.finally(() => inFlight.delete(tracked));
    }
    await settled();
  } finally {
    await intake.close();
    await settled();
    acks.close();
    if (firstAt !== undefined) result.timing.activeMs = performance.now() - firstAt;
  }
  if (failure !== undefined) throw failure;
}

function publishFailure(count: number, cause: unknown): DlnError {
  return new DlnError('UNAVAILABLE', `publishing ${count} scores failed`, {
    retryable: true,
    cause,
  });
}

function scoreMessages(
  loop: InferenceLoop,
  messages: readonly JsMsg[],
): ReturnType<typeof scoreInferenceBatch> {
  return scoreInferenceBatch(
    loop.model,
    loop.target,
    loop.decode,
    messages.map((message) => ({
      seq: message.seq,
      recordId: message.headers?.get(RecordHeader.recordId),
      data: message.data,
      storedAt: Math.floor(Number(message.info.timestampNanos) / 1e6),
    })),
    Date.now(),
  );
}
