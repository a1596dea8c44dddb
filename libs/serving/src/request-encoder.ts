import { OutputSchema, PipelineSnapshot, SourceDeclaration, ValidationError } from '@dln/contracts';
import { PipelineEncoder, RecordEncodeError } from '@dln/features';
import { parseJsonBody } from './body';
import { instanceReader, InstanceReader } from './instances';
import { ServingLimits } from './limits';
import { readInstances, Verb } from './request';

/** The encoded rows of one request: row-major `dense` (size x denseWidth) and `ids` (size x idCount). */
export interface EncodedBatch {
  size: number;
  dense: Float32Array;
  ids: Int32Array;
}

/** What a request encoder needs; plain data, so it can be sent to a parsing worker thread. */
export interface EncodingSpec {
  snapshot: PipelineSnapshot;
  source?: SourceDeclaration;
  limits: ServingLimits;
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

  constructor(readonly spec: EncodingSpec) {
    this.encoder = new PipelineEncoder(spec.snapshot);
    this.outputSchema = this.encoder.outputSchema;
    this.read = instanceReader(spec.snapshot, spec.source);
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
    for (let i = 0; i < size; i += 1) {
      const where = (field?: string): string => instances.where(i, field);
      const record = this.read(instances.instance(i), where);
      try {
        const example = this.encoder.encode(record, 'optional');
        batch.dense.set(example.dense, i * denseWidth);
        batch.ids.set(example.ids, i * idCount);
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
