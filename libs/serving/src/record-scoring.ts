import { OutputSchema, PredictionMessage } from '@dln/contracts';
import { RecordEncodeError } from '@dln/features';
import { ModelRegistry } from './registry';
import { AggregateLookup } from './aggregates';
import { EncodedBatch } from './request-encoder';
import { LoadedModel } from './loaded-model';

/** One stored raw record as a scorer receives it (sources.ts: the stored raw record format). */
export interface RawDelivery {
  /** `Dln-Record-Id` of the raw message. */
  recordId: string;
  /** The stored JSON body: declared fields, timestamps already epoch ms. */
  body: Uint8Array;
  /** When JetStream stored the raw record, epoch ms. */
  storedAt: number;
}

/** The scores of one batch of records: one message per record, in the order given. */
export interface ScoredBatch {
  version: number;
  messages: PredictionMessage[];
  unscorable: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A stored body that is not a JSON object (never written by ingest, but the stream is open). */
class UnreadableRecord extends Error {}

function parseRecord(body: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch (error) {
    throw new UnreadableRecord(`the stored record is not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UnreadableRecord('the stored record is not a JSON object');
  return value as Record<string, unknown>;
}

/**
 * Encodes stored raw records with the version's pinned pipeline (the features lib's encoder, as
 * the feature service does; no request coercion: the stored format is already normalized).
 * A record that cannot be encoded (for a stream model also: no event time or aggregate key)
 * gets its reason in `errors` and no row; a stream model's rows carry their aggregate reads.
 */
export function encodeRawRecords(
  model: LoadedModel,
  records: readonly RawDelivery[],
): { batch: EncodedBatch; rowOf: number[]; errors: (string | undefined)[] } {
  const { denseWidth, ids } = model.outputSchema;
  const idCount = ids.length;
  const dense = new Float32Array(records.length * denseWidth);
  const idValues = new Int32Array(records.length * idCount);
  const rowOf = new Array<number>(records.length).fill(-1);
  const errors = new Array<string | undefined>(records.length);
  const lookups: AggregateLookup[] = [];
  let rows = 0;
  records.forEach((record, i) => {
    try {
      const { example, lookup } = model.encoder.encodeRecord(parseRecord(record.body));
      dense.set(example.dense, rows * denseWidth);
      idValues.set(example.ids, rows * idCount);
      if (lookup) lookups.push(lookup);
      rowOf[i] = rows;
      rows += 1;
    } catch (error) {
      if (error instanceof RecordEncodeError) errors[i] = `${error.field}: ${error.reason}`;
      else if (error instanceof UnreadableRecord) errors[i] = error.message;
      else throw error;
    }
  });
  return {
    batch: {
      size: rows,
      dense: dense.subarray(0, rows * denseWidth),
      ids: idValues.subarray(0, rows * idCount),
      ...(model.artifact.stream ? { lookups } : {}),
    },
    rowOf,
    errors,
  };
}

/** The score fields of one row: `score` (binary P(1), numeric value) or `scores` (classes). */
export function scoreFields(
  scores: Float32Array,
  row: number,
  schema: OutputSchema,
): Pick<PredictionMessage, 'score' | 'scores'> {
  if (schema.label.kind !== 'class') return { score: scores[row] as number };
  const units = schema.label.classes.length;
  return { scores: Array.from(scores.subarray(row * units, (row + 1) * units)) };
}

/**
 * Scores batches of stored raw records with a model's served default version: one model call
 * per batch (through the version's micro-batcher, shared with REST), holding the version for
 * the whole batch so a swap never fails it. Throws the registry's 404/503 when the model has no
 * version available.
 */
export class RecordScorer {
  constructor(
    private readonly registry: ModelRegistry,
    readonly source: string,
    readonly model: string,
    private readonly clock: () => number = Date.now,
  ) {}

  async score(records: readonly RawDelivery[]): Promise<ScoredBatch> {
    const served = this.registry.resolve(this.model);
    return served.use(async () => {
      const loaded = served.model;
      const { batch, rowOf, errors } = encodeRawRecords(loaded, records);
      const scores = batch.size > 0 ? await served.score(batch) : new Float32Array(0);
      const timestamp = this.clock();
      let unscorable = 0;
      const messages = records.map((record, i): PredictionMessage => {
        const base = {
          id: record.recordId,
          source: this.source,
          model: this.model,
          version: served.version,
        };
        const row = rowOf[i] as number;
        if (row < 0) {
          unscorable += 1;
          return {
            ...base,
            error: errors[i] ?? 'not scored',
            timestamp,
            ingestedAt: record.storedAt,
          };
        }
        return {
          ...base,
          ...scoreFields(scores, row, loaded.outputSchema),
          timestamp,
          ingestedAt: record.storedAt,
        };
      });
      return { version: served.version, messages, unscorable };
    });
  }
}
