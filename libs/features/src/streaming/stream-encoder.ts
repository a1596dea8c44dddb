import {
  AggregateFeatureSpec,
  Example,
  OutputSchema,
  PIPELINE_LIMITS,
  PipelineSnapshot,
  StreamSnapshot,
  ValidationError,
} from '@dln/contracts';
import { LabelMode, PipelineEncoder } from '../encoder';
import { outputSchemaOf } from '../layout';
import { signedLog1p } from '../scalers';
import { InputRecord } from '../values';

/**
 * Output schema of a stream pipeline: the batch layout of its stateless features, with every
 * growing vocabulary at its full cardinality (maxSize + 1, so the schema never changes between
 * snapshot versions), then one dense slot per aggregate feature, in spec order.
 */
export function streamOutputSchema(
  base: PipelineSnapshot,
  aggregates: readonly AggregateFeatureSpec[],
): OutputSchema {
  const schema = outputSchemaOf(base);
  const ids = schema.ids.map((column) => {
    const feature = base.spec.features.find((f) => f.name === column.name);
    if (feature?.kind === 'categorical' && feature.vocabulary.kind === 'learned') {
      return { name: column.name, cardinality: feature.vocabulary.maxSize + 1 };
    }
    return column;
  });
  const dense = [...schema.dense];
  let offset = schema.denseWidth;
  for (const aggregate of aggregates) {
    dense.push({ name: aggregate.name, offset, width: 1 });
    offset += 1;
  }
  if (offset > PIPELINE_LIMITS.denseWidth) {
    throw new ValidationError(
      `the dense slice would be ${offset} wide (at most ${PIPELINE_LIMITS.denseWidth})`,
    );
  }
  return { ...schema, dense, denseWidth: offset, ids };
}

/** The value an aggregate feature writes into its dense slot. */
export function aggregateSlotValue(
  spec: Pick<AggregateFeatureSpec, 'transform'>,
  value: number,
): number {
  return spec.transform === 'log1p' ? signedLog1p(value) : value;
}

/**
 * Encodes a record with a stream snapshot: the batch encoder for the stateless features, then
 * the aggregate values (as read for the record's key and time: `aggregateAt` at serving). The
 * prediction service runs this same code on the pinned snapshot.
 */
export class StreamEncoder {
  readonly outputSchema: OutputSchema;
  private readonly base: PipelineEncoder;
  private readonly baseWidth: number;

  constructor(readonly snapshot: StreamSnapshot) {
    this.base = new PipelineEncoder(snapshot.base);
    this.baseWidth = this.base.outputSchema.denseWidth;
    this.outputSchema = streamOutputSchema(snapshot.base, snapshot.aggregates);
  }

  /** `aggregates[i]` is the value of `snapshot.aggregates[i]` before its transform. */
  encode(
    record: InputRecord,
    aggregates: readonly number[],
    labels: LabelMode,
    recordId?: string,
  ): Example {
    const { aggregates: specs } = this.snapshot;
    if (aggregates.length !== specs.length) {
      throw new Error(`expected ${specs.length} aggregate values, got ${aggregates.length}`);
    }
    const example = this.base.encode(record, labels, recordId);
    const dense = new Float32Array(this.outputSchema.denseWidth);
    dense.set(example.dense);
    specs.forEach((spec, i) => {
      dense[this.baseWidth + i] = aggregateSlotValue(spec, aggregates[i] as number);
    });
    return { dense, ids: example.ids, label: example.label };
  }
}

/** A stream snapshot version from the running statistics' batch snapshot. */
export function buildStreamSnapshot(fields: {
  pipeline: string;
  version: number;
  createdAt: string;
  records: number;
  base: PipelineSnapshot;
  aggregates: AggregateFeatureSpec[];
}): StreamSnapshot {
  return {
    streamSnapshotVersion: 1,
    ...fields,
    outputSchema: streamOutputSchema(fields.base, fields.aggregates),
  };
}
