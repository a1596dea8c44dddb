import { LabelSpec, PipelineSnapshot, PipelineSpec, ValidationError } from '@dln/contracts';
import { accumulatorFor, FeatureAccumulator } from './accumulators';
import { Counter, RunningStats } from './counter';
import { classTextOf, labelOf } from './label';
import { outputSchemaOf } from './layout';
import { assertSpecConsistent } from './spec-check';
import { InputRecord, MISSING, RecordEncodeError } from './values';

function missingLabel(spec: LabelSpec): RecordEncodeError {
  return new RecordEncodeError('label', spec.field, 'the label is missing');
}

/** Fit-time state of the label: positives, learned classes, or the mean. */
class LabelAccumulator {
  private count = 0;
  private positives = 0;
  private readonly stats = new RunningStats();
  private readonly classes: Counter<string> | undefined;
  private readonly givenIndex: Map<string, number> | undefined;

  constructor(private readonly spec: LabelSpec) {
    if (spec.kind === 'class') {
      if (spec.classes) this.givenIndex = new Map(spec.classes.map((c, i) => [c, i]));
      else this.classes = new Counter('label');
    }
  }

  add(record: InputRecord): void {
    const { spec } = this;
    if (spec.kind === 'class' && this.classes) {
      const text = classTextOf(record, spec);
      if (text === MISSING) throw missingLabel(spec);
      this.classes.add(text);
    } else {
      const value = labelOf(record, spec, this.givenIndex);
      if (value === MISSING) throw missingLabel(spec);
      if (spec.kind === 'binary') this.positives += value;
      if (spec.kind === 'numeric') this.stats.add(value);
    }
    this.count += 1;
  }

  finish(): PipelineSnapshot['label'] {
    const { spec, count } = this;
    if (spec.kind === 'binary') return { count, positives: this.positives };
    if (spec.kind === 'numeric') return { count, ...(count > 0 ? { mean: this.stats.mean } : {}) };
    const classes = spec.classes ?? this.classes?.ranked() ?? [];
    if (classes.length > spec.maxClasses) {
      throw new ValidationError(
        `label "${spec.field}" has ${classes.length} classes, more than maxClasses ${spec.maxClasses}`,
      );
    }
    if (classes.length < 2) {
      throw new ValidationError(
        `label "${spec.field}" needs at least 2 classes, the data has ${classes.length}`,
      );
    }
    return { count, classes };
  }
}

/**
 * The analyze phase of a pipeline: feed every record once (`add`), then `finish` into the
 * snapshot the transforms use. Memory is bounded by the distinct values it must count.
 */
export class PipelineAnalyzer {
  private readonly features: FeatureAccumulator[];
  private readonly label: LabelAccumulator;
  private records = 0;

  constructor(private readonly spec: PipelineSpec) {
    assertSpecConsistent(spec);
    this.features = spec.features.map(accumulatorFor);
    this.label = new LabelAccumulator(spec.label);
  }

  get recordCount(): number {
    return this.records;
  }

  /** Adds one record; a record that cannot be encoded throws a RecordEncodeError naming its field. */
  add(record: InputRecord, recordId?: string): void {
    try {
      for (const feature of this.features) feature.add(record);
      this.label.add(record);
    } catch (error) {
      if (error instanceof RecordEncodeError && recordId !== undefined) {
        throw new RecordEncodeError(error.feature, error.field, error.reason, recordId);
      }
      throw error;
    }
    this.records += 1;
  }

  /** The fitted snapshot; throws when a statistic has no data or the output would be too wide. */
  finish(): PipelineSnapshot {
    const snapshot: PipelineSnapshot = {
      snapshotVersion: 1,
      spec: this.spec,
      features: this.features.map((feature) => feature.finish()),
      label: this.label.finish(),
    };
    outputSchemaOf(snapshot);
    return snapshot;
  }
}

/** Fits a pipeline over records in memory (tests, small data). */
export function fitPipeline(spec: PipelineSpec, records: Iterable<InputRecord>): PipelineSnapshot {
  const analyzer = new PipelineAnalyzer(spec);
  for (const record of records) analyzer.add(record);
  return analyzer.finish();
}
