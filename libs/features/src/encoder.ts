import { Example, FeatureSpec, FeatureState, OutputSchema, PipelineSnapshot } from '@dln/contracts';
import { noHandling } from './accumulators';
import { datetimePart } from './datetime';
import { crossBucket, hashBucket } from './hash';
import { labelOf } from './label';
import { outputSchemaOf, slotOf } from './layout';
import { bucketIndex, minmax, signedLog1p, standardize } from './scalers';
import {
  InputRecord,
  MISSING,
  Missing,
  readCategory,
  readNumber,
  readTimestamp,
  RecordEncodeError,
} from './values';

/** Writes one feature of a record into the example's dense slice or id column. */
type Writer = (record: InputRecord, dense: Float32Array, ids: Int32Array) => void;

/** Whether the record must carry its label (training) or may omit it (serving: label = NaN). */
export type LabelMode = 'required' | 'optional';

function orFill<T>(value: T | Missing, state: FeatureState, feature: string, field: string): T {
  if (value !== MISSING) return value;
  if (state.fill === undefined || Array.isArray(state.fill)) throw noHandling(feature, field);
  return state.fill as T;
}

function numericValue(
  feature: FeatureSpec & { field: string },
  state: FeatureState,
): (r: InputRecord) => number {
  return (record) =>
    orFill(readNumber(record, feature.field, feature.name), state, feature.name, feature.field);
}

/** The discrete index of a categorical, bucketize or datetime feature. */
function indexer(feature: FeatureSpec, state: FeatureState): (record: InputRecord) => number {
  switch (feature.kind) {
    case 'bucketize': {
      const value = numericValue(feature, state);
      return (record) => bucketIndex(value(record), feature.boundaries);
    }
    case 'datetime':
      return (record) => {
        const ms = readTimestamp(record, feature.field, feature.name);
        if (ms !== MISSING) return datetimePart(ms, feature.part, feature.timeZone);
        return orFill<number>(ms, state, feature.name, feature.field);
      };
    case 'categorical': {
      const read = (record: InputRecord): string =>
        orFill(
          readCategory(record, feature.field, feature.name),
          state,
          feature.name,
          feature.field,
        );
      const vocabulary = feature.vocabulary;
      if (vocabulary.kind === 'hash')
        return (record) => hashBucket(read(record), vocabulary.buckets);
      const ids = new Map((state.vocabulary ?? []).map((term, i) => [term, i + 1]));
      return (record) => ids.get(read(record)) ?? 0;
    }
    case 'cross': {
      const fills = Array.isArray(state.fill) ? state.fill : undefined;
      return (record) => {
        const values = feature.fields.map((field, i) => {
          const text = readCategory(record, field, feature.name);
          if (text !== MISSING) return text;
          const fill = fills?.[i];
          if (typeof fill !== 'string') throw noHandling(feature.name, field);
          return fill;
        });
        return crossBucket(values, feature.buckets);
      };
    }
    case 'numeric':
      throw new Error('a numeric feature has no index');
  }
}

function numericWriter(
  feature: Extract<FeatureSpec, { kind: 'numeric' }>,
  state: FeatureState,
  offset: number,
): Writer {
  const value = numericValue(feature, state);
  const mean = state.mean ?? 0;
  const std = state.std ?? 0;
  const min = state.min ?? 0;
  const max = state.max ?? 0;
  const scale: (x: number) => number =
    feature.transform === 'standardize'
      ? (x) => standardize(x, mean, std)
      : feature.transform === 'minmax'
        ? (x) => minmax(x, min, max)
        : feature.transform === 'log1p'
          ? signedLog1p
          : (x) => x;
  return (record, dense) => {
    dense[offset] = scale(value(record));
  };
}

/**
 * A fitted pipeline ready to encode records: a pure function of (record, snapshot). The
 * prediction service runs this same code on the snapshot pinned in the model artifact.
 */
export class PipelineEncoder {
  readonly outputSchema: OutputSchema;
  private readonly writers: Writer[] = [];
  private readonly classIndex: Map<string, number> | undefined;

  constructor(readonly snapshot: PipelineSnapshot) {
    this.outputSchema = outputSchemaOf(snapshot);
    let dense = 0;
    let id = 0;
    snapshot.spec.features.forEach((feature, index) => {
      const state = snapshot.features[index] as FeatureState;
      const slot = slotOf(feature, state);
      if (feature.kind === 'numeric') {
        this.writers.push(numericWriter(feature, state, dense));
      } else if (slot.kind === 'dense') {
        const index = indexer(feature, state);
        const offset = dense;
        this.writers.push((record, out) => {
          out[offset + index(record)] = 1;
        });
      } else {
        const index = indexer(feature, state);
        const column = id;
        this.writers.push((record, _dense, ids) => {
          ids[column] = index(record);
        });
      }
      if (slot.kind === 'dense') dense += slot.width;
      else id += 1;
    });
    const classes = snapshot.label.classes;
    this.classIndex = classes ? new Map(classes.map((c, i) => [c, i])) : undefined;
  }

  /**
   * Encodes one record. Throws a RecordEncodeError naming the field when an input has the wrong
   * type, or is missing without a fill, or (labels 'required') the label is missing.
   */
  encode(record: InputRecord, labels: LabelMode = 'required', recordId?: string): Example {
    const dense = new Float32Array(this.outputSchema.denseWidth);
    const ids = new Int32Array(this.outputSchema.ids.length);
    try {
      for (const write of this.writers) write(record, dense, ids);
      const label = labelOf(record, this.snapshot.spec.label, this.classIndex);
      if (label === MISSING && labels === 'required') {
        throw new RecordEncodeError(
          'label',
          this.snapshot.spec.label.field,
          'the label is missing',
        );
      }
      return { dense, ids, label: label === MISSING ? NaN : label };
    } catch (error) {
      if (error instanceof RecordEncodeError && recordId !== undefined) {
        throw new RecordEncodeError(error.feature, error.field, error.reason, recordId);
      }
      throw error;
    }
  }
}
