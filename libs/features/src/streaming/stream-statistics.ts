import {
  FeatureSpec,
  FeatureState,
  PipelineSnapshot,
  PipelineSpec,
  StreamPipelineSpec,
} from '@dln/contracts';
import {
  categoryText,
  InputRecord,
  MISSING,
  readCategory,
  readNumber,
  readTimestamp,
} from '../values';
import { GrowingVocabulary, OnlineStats, OnlineStatsState } from './running-stats';

/** Serialized StreamStatistics: per feature (spec order), and the label counts. */
export interface StreamStatisticsState {
  records: number;
  features: {
    count: number;
    missing: number;
    stats?: OnlineStatsState;
    vocabulary?: string[];
    overflow?: number;
  }[];
  label: { count: number; positives: number };
}

interface FeatureStats {
  count: number;
  missing: number;
  stats?: OnlineStats;
  vocabulary?: GrowingVocabulary;
}

function present(feature: FeatureSpec, record: InputRecord): boolean {
  switch (feature.kind) {
    case 'numeric':
    case 'bucketize':
      return readNumber(record, feature.field, feature.name) !== MISSING;
    case 'categorical':
      return readCategory(record, feature.field, feature.name) !== MISSING;
    case 'datetime':
      return readTimestamp(record, feature.field, feature.name) !== MISSING;
    case 'cross':
      return feature.fields.every((f) => readCategory(record, f, feature.name) !== MISSING);
  }
}

/** The batch spec the stateless transforms of a stream spec amount to (no split on a stream). */
export function baseSpecOf(spec: StreamPipelineSpec): PipelineSpec {
  return {
    name: spec.name,
    source: spec.source,
    features: spec.features,
    label: spec.label,
    split: { validationFraction: 0, seed: '' },
  };
}

/**
 * Statistics of the stateless features that update as records flow: Welford mean/std/min/max of
 * numeric inputs, growing vocabularies (cap = maxSize), present/missing counts, label counts.
 * `snapshot()` turns them into the batch snapshot format, so the batch encoder applies them.
 */
export class StreamStatistics {
  private records = 0;
  private readonly features: FeatureStats[];
  private readonly label = { count: 0, positives: 0 };

  constructor(
    private readonly spec: StreamPipelineSpec,
    state?: StreamStatisticsState,
  ) {
    this.features = spec.features.map((feature, i) => {
      const saved = state?.features[i];
      const out: FeatureStats = { count: saved?.count ?? 0, missing: saved?.missing ?? 0 };
      if (feature.kind === 'numeric' || feature.kind === 'bucketize') {
        out.stats = saved?.stats ? OnlineStats.from(saved.stats) : new OnlineStats();
      }
      if (feature.kind === 'categorical' && feature.vocabulary.kind === 'learned') {
        const cap = feature.vocabulary.maxSize;
        out.vocabulary = GrowingVocabulary.from(cap, saved?.vocabulary ?? [], saved?.overflow ?? 0);
      }
      return out;
    });
    if (state) {
      this.records = state.records;
      Object.assign(this.label, state.label);
    }
  }

  get recordCount(): number {
    return this.records;
  }

  /** Adds an event that was encoded successfully (so its inputs have valid types). */
  addRecord(record: InputRecord): void {
    this.records += 1;
    this.spec.features.forEach((feature, i) => {
      const stats = this.features[i] as FeatureStats;
      if (!present(feature, record)) {
        stats.missing += 1;
        return;
      }
      stats.count += 1;
      if (feature.kind === 'numeric' || feature.kind === 'bucketize') {
        stats.stats?.add(readNumber(record, feature.field, feature.name) as number);
      } else if (feature.kind === 'categorical' && stats.vocabulary) {
        stats.vocabulary.observe(readCategory(record, feature.field, feature.name) as string);
      }
    });
  }

  addLabel(label: number): void {
    this.label.count += 1;
    if (label > 0) this.label.positives += 1;
  }

  /** The statistics as a batch snapshot (a `mean` fill is 0 until a value was seen). */
  snapshot(): PipelineSnapshot {
    const features = this.spec.features.map((feature, i): FeatureState => {
      const s = this.features[i] as FeatureStats;
      const stats = s.stats;
      const out: FeatureState = { name: feature.name, count: s.count, missing: s.missing };
      if (stats && stats.count > 0)
        Object.assign(out, { mean: stats.mean, std: stats.std, min: stats.min, max: stats.max });
      if (s.vocabulary) out.vocabulary = s.vocabulary.list();
      const missing = feature.missing;
      if (missing?.strategy === 'default') {
        const value =
          feature.kind === 'numeric' || feature.kind === 'bucketize' || feature.kind === 'datetime'
            ? (missing.value as number)
            : categoryText(missing.value);
        out.fill =
          feature.kind === 'cross' ? feature.fields.map(() => categoryText(missing.value)) : value;
      } else if (missing?.strategy === 'mean') {
        out.fill = stats && stats.count > 0 ? stats.mean : 0;
      }
      return out;
    });
    const label =
      this.spec.label.kind === 'binary' ? { ...this.label } : { count: this.label.count };
    return { snapshotVersion: 1, spec: baseSpecOf(this.spec), features, label };
  }

  state(): StreamStatisticsState {
    return {
      records: this.records,
      features: this.features.map((s) => ({
        count: s.count,
        missing: s.missing,
        ...(s.stats ? { stats: s.stats.state() } : {}),
        ...(s.vocabulary
          ? { vocabulary: s.vocabulary.list(), overflow: s.vocabulary.overflow }
          : {}),
      })),
      label: { ...this.label },
    };
  }
}
