import {
  Example,
  OutputSchema,
  PipelineSnapshot,
  SourceDeclaration,
  ValidationError,
} from '@dln/contracts';
import { InputRecord, PipelineEncoder, RecordEncodeError, StreamEncoder } from '@dln/features';
import { AggregateLookup, aggregateLookupOf, StreamServing } from './aggregates';
import { parseJsonBody } from './body';
import { instanceReader, InstanceReader } from './instances';
import { ServingLimits } from './limits';
import { readInstances, Verb } from './request';

/** The encoded rows of one request: row-major `dense` (size x denseWidth) and `ids` (size x idCount). */
export interface EncodedBatch {
  size: number;
  dense: Float32Array;
  ids: Int32Array;
  /**
   * A stream model's per-row aggregate reads, still to be done: the rows' aggregate slots hold 0
   * until `LoadedModel.completeAggregates` fills them (before the model call).
   */
  lookups?: AggregateLookup[];
}

/** What a request encoder needs; plain data, so it can be sent to a parsing worker thread. */
export interface EncodingSpec {
  snapshot: PipelineSnapshot;
  source?: SourceDeclaration;
  limits: ServingLimits;
  /** A stream model with per-key aggregates: `snapshot` is then its stream snapshot's base. */
  stream?: StreamServing;
}

/**
 * Request body -> encoded rows, through exactly the features lib's encoder and the snapshot
 * pinned in the model artifact. Pure and synchronous: runs on the event loop for small bodies
 * and in a worker thread for large ones.
 */
export class RequestEncoder {
  readonly encoder: PipelineEncoder;
  readonly outputSchema: OutputSchema;
  private readonly read: InstanceReader;
  private readonly stream: StreamEncoder | undefined;
  private readonly noAggregates: number[];

  constructor(readonly spec: EncodingSpec) {
    this.encoder = new PipelineEncoder(spec.snapshot);
    this.stream = spec.stream ? new StreamEncoder(spec.stream.snapshot) : undefined;
    this.noAggregates = new Array<number>(spec.stream?.snapshot.aggregates.length ?? 0).fill(0);
    this.outputSchema = (this.stream ?? this.encoder).outputSchema;
    this.read = instanceReader(spec.snapshot, spec.source);
  }

  /**
   * One record as the model's training examples were encoded (labels optional); for a stream
   * model, its aggregate slots hold 0 and `lookup` says where to read them. Throws
   * RecordEncodeError naming the field.
   */
  encodeRecord(record: InputRecord): { example: Example; lookup?: AggregateLookup } {
    if (!this.stream || !this.spec.stream)
      return { example: this.encoder.encode(record, 'optional') };
    const lookup = aggregateLookupOf(record, this.spec.stream);
    return { example: this.stream.encode(record, this.noAggregates, 'optional'), lookup };
  }

  /** Parses a raw JSON body, then encodes it. */
  encodeBytes(raw: Uint8Array | string, verb: Verb): EncodedBatch {
    return this.encode(parseJsonBody(raw), verb);
  }

  encode(body: unknown, verb: Verb): EncodedBatch {
    const instances = readInstances(body, verb, this.spec.limits);
    const { denseWidth } = this.outputSchema;
    const idCount = this.outputSchema.ids.length;
    const size = instances.count;
    const batch: EncodedBatch = {
      size,
      dense: new Float32Array(size * denseWidth),
      ids: new Int32Array(size * idCount),
    };
    const lookups: AggregateLookup[] | undefined = this.stream ? [] : undefined;
    if (lookups) batch.lookups = lookups;
    for (let i = 0; i < size; i += 1) {
      const where = (field?: string): string => instances.where(i, field);
      const record = this.read(instances.instance(i), where);
      try {
        const { example, lookup } = this.encodeRecord(record);
        batch.dense.set(example.dense, i * denseWidth);
        batch.ids.set(example.ids, i * idCount);
        if (lookup) lookups?.push(lookup);
      } catch (error) {
        if (!(error instanceof RecordEncodeError)) throw error;
        const path = where(error.field);
        throw new ValidationError(`${path}: ${error.reason} (feature "${error.feature}")`, [
          { path, message: error.reason },
        ]);
      }
    }
    return batch;
  }
}
