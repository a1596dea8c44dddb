import { DlnError, ErrorCode, ValidationError } from '@dln/contracts';
import { ModelRegistry } from './registry';
import { classificationsOf, Classification, predictionsOf } from './responses';
import { EncodedBatch } from './request-encoder';
import { Verb } from './request';
import { ServedVersion } from './served-version';

/** Encodes a raw body off the event loop (a worker thread); see ParsePool. */
export interface OffloadedEncoder {
  encode(model: string, version: number, body: Uint8Array, verb: Verb): Promise<EncodedBatch>;
}

export interface PredictorOptions {
  /** Bodies of at least this many bytes are parsed by the offloaded encoder when there is one. */
  offloadBytes: number;
}

/** A REST body: the raw bytes, or an already parsed value (tests, NATS). */
export type RequestBody = Uint8Array | { parsed: unknown };

export type PredictAnswer = { predictions: (number | number[])[] } | { result: Classification[] };

/** Parses a version path segment ("3"); anything else is a precise 400. */
export function parseVersion(text: string): number {
  if (!/^[1-9]\d{0,8}$/.test(text)) {
    throw new ValidationError(`version "${text}" is not a positive integer`, [
      { path: 'version', message: 'must be a positive integer' },
    ]);
  }
  return Number(text);
}

/**
 * Scores requests: looks the version up, encodes the body (inline or offloaded), merges it with
 * concurrent requests into one model call, and shapes the answer. Holds the version for the
 * whole request, so a default swap or an unload never fails a request already in flight.
 */
export class Predictor {
  /** Raw bodies parsed on the event loop and in a worker thread (for metrics). */
  readonly parsed = { inline: 0, worker: 0 };

  constructor(
    readonly registry: ModelRegistry,
    private readonly options: PredictorOptions,
    private readonly offload?: OffloadedEncoder,
  ) {}

  async answer(
    model: string,
    version: number | undefined,
    body: RequestBody,
    verb: Verb,
  ): Promise<PredictAnswer> {
    const served = this.registry.resolve(model, version);
    return served.use(async () => {
      const schema = served.model.outputSchema;
      if (verb === 'classify' && schema.label.kind === 'numeric') {
        throw new DlnError(
          ErrorCode.InvalidRequest,
          `model "${model}" predicts a number; :classify needs class labels, use :predict`,
        );
      }
      const batch = await this.encode(served, body, verb);
      const scores = await served.score(batch);
      return verb === 'classify'
        ? { result: classificationsOf(scores, batch.size, schema) }
        : { predictions: predictionsOf(scores, batch.size, schema) };
    });
  }

  private encode(
    served: ServedVersion,
    body: RequestBody,
    verb: Verb,
  ): Promise<EncodedBatch> | EncodedBatch {
    if ('parsed' in body) return served.model.encoder.encode(body.parsed, verb);
    if (this.offload && body.byteLength >= this.options.offloadBytes) {
      this.parsed.worker += 1;
      return this.offload.encode(served.model.name, served.version, body, verb);
    }
    this.parsed.inline += 1;
    return served.model.encoder.encodeBytes(body, verb);
  }
}
