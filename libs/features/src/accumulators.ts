import {
  CategoricalFeatureSpec,
  CrossFeatureSpec,
  DatetimeFeatureSpec,
  FeatureSpec,
  FeatureState,
  MissingHandling,
  ValidationError,
} from '@dln/contracts';
import { Counter, RunningStats } from './counter';
import { datetimePart } from './datetime';
import {
  categoryText,
  InputRecord,
  MISSING,
  readCategory,
  readNumber,
  readTimestamp,
  RecordEncodeError,
} from './values';

/** The fit-time state of one feature: fed record by record, then finished into a FeatureState. */
export interface FeatureAccumulator {
  add(record: InputRecord): void;
  finish(): FeatureState;
}

export function noHandling(feature: string, field: string): RecordEncodeError {
  return new RecordEncodeError(
    feature,
    field,
    'value is missing and the feature has no "missing" strategy',
  );
}

function noValues(feature: string, what: string): ValidationError {
  return new ValidationError(
    `feature "${feature}": no values at fit time to compute ${what} from`,
    [{ path: feature, message: `no values for ${what}` }],
  );
}

function resolveFill<T extends string | number>(
  feature: string,
  missing: MissingHandling | undefined,
  counter: Counter<T> | undefined,
  mean: () => number | undefined,
  fromDefault: (value: string | number | boolean) => T,
): T | number | undefined {
  if (!missing) return undefined;
  if (missing.strategy === 'default') return fromDefault(missing.value);
  const value = missing.strategy === 'mean' ? mean() : counter?.mode();
  if (value === undefined) throw noValues(feature, missing.strategy);
  return value;
}

/** numeric and bucketize: mean, population std, min, max over the present values. */
class NumericAccumulator implements FeatureAccumulator {
  private readonly stats = new RunningStats();
  private readonly counter: Counter<number> | undefined;
  private missing = 0;

  constructor(private readonly spec: Extract<FeatureSpec, { kind: 'numeric' | 'bucketize' }>) {
    this.counter =
      spec.missing?.strategy === 'mode' ? new Counter(`feature "${spec.name}"`) : undefined;
  }

  add(record: InputRecord): void {
    const x = readNumber(record, this.spec.field, this.spec.name);
    if (x === MISSING) {
      if (!this.spec.missing) throw noHandling(this.spec.name, this.spec.field);
      this.missing += 1;
      return;
    }
    this.stats.add(x);
    this.counter?.add(x);
  }

  finish(): FeatureState {
    const { stats, spec } = this;
    const needsStats =
      spec.kind === 'numeric' && (spec.transform === 'standardize' || spec.transform === 'minmax');
    if (needsStats && stats.count === 0) throw noValues(spec.name, spec.transform);
    const fill = resolveFill(
      spec.name,
      spec.missing,
      this.counter,
      () => (stats.count > 0 ? stats.mean : undefined),
      (value) => value as number,
    );
    return {
      name: spec.name,
      count: stats.count,
      missing: this.missing,
      ...(stats.count > 0
        ? { mean: stats.mean, std: stats.std, min: stats.min, max: stats.max }
        : {}),
      ...(fill !== undefined ? { fill } : {}),
    };
  }
}

/** categorical: the learned vocabulary (when asked for) and the mode. */
class CategoricalAccumulator implements FeatureAccumulator {
  private readonly counter: Counter<string> | undefined;
  private count = 0;
  private missing = 0;

  constructor(private readonly spec: CategoricalFeatureSpec) {
    const needsCounts = spec.vocabulary.kind === 'learned' || spec.missing?.strategy === 'mode';
    this.counter = needsCounts ? new Counter(`feature "${spec.name}"`) : undefined;
  }

  add(record: InputRecord): void {
    const text = readCategory(record, this.spec.field, this.spec.name);
    if (text === MISSING) {
      if (!this.spec.missing) throw noHandling(this.spec.name, this.spec.field);
      this.missing += 1;
      return;
    }
    this.count += 1;
    this.counter?.add(text);
  }

  finish(): FeatureState {
    const { spec } = this;
    const vocabulary =
      spec.vocabulary.kind === 'learned'
        ? (this.counter?.ranked(spec.vocabulary.minCount) ?? []).slice(0, spec.vocabulary.maxSize)
        : undefined;
    const fill = resolveFill(spec.name, spec.missing, this.counter, () => undefined, categoryText);
    return {
      name: spec.name,
      count: this.count,
      missing: this.missing,
      ...(vocabulary ? { vocabulary } : {}),
      ...(fill !== undefined ? { fill } : {}),
    };
  }
}

/** cross: counts records with every component present; per-field modes when asked for. */
class CrossAccumulator implements FeatureAccumulator {
  private readonly counters: Counter<string>[] | undefined;
  private count = 0;
  private missing = 0;

  constructor(private readonly spec: CrossFeatureSpec) {
    this.counters =
      spec.missing?.strategy === 'mode'
        ? spec.fields.map((f) => new Counter<string>(`feature "${spec.name}" (${f})`))
        : undefined;
  }

  add(record: InputRecord): void {
    let anyMissing = false;
    this.spec.fields.forEach((field, i) => {
      const text = readCategory(record, field, this.spec.name);
      if (text === MISSING) {
        if (!this.spec.missing) throw noHandling(this.spec.name, field);
        anyMissing = true;
      } else {
        this.counters?.[i]?.add(text);
      }
    });
    if (anyMissing) this.missing += 1;
    else this.count += 1;
  }

  finish(): FeatureState {
    const { spec } = this;
    let fill: string[] | undefined;
    if (spec.missing?.strategy === 'default') {
      fill = spec.fields.map(() =>
        categoryText(spec.missing?.strategy === 'default' ? spec.missing.value : ''),
      );
    } else if (spec.missing?.strategy === 'mode') {
      fill = (this.counters ?? []).map((counter, i) => {
        const mode = counter.mode();
        if (mode === undefined) throw noValues(spec.name, `the mode of ${spec.fields[i]}`);
        return mode;
      });
    }
    return { name: spec.name, count: this.count, missing: this.missing, ...(fill ? { fill } : {}) };
  }
}

/** datetime: the mode of the part (when asked for); the default is already a part value. */
class DatetimeAccumulator implements FeatureAccumulator {
  private readonly counter: Counter<number> | undefined;
  private count = 0;
  private missing = 0;

  constructor(private readonly spec: DatetimeFeatureSpec) {
    this.counter =
      spec.missing?.strategy === 'mode' ? new Counter(`feature "${spec.name}"`) : undefined;
  }

  add(record: InputRecord): void {
    const ms = readTimestamp(record, this.spec.field, this.spec.name);
    if (ms === MISSING) {
      if (!this.spec.missing) throw noHandling(this.spec.name, this.spec.field);
      this.missing += 1;
      return;
    }
    this.count += 1;
    if (this.counter) this.counter.add(datetimePart(ms, this.spec.part, this.spec.timeZone));
  }

  finish(): FeatureState {
    const fill = resolveFill(
      this.spec.name,
      this.spec.missing,
      this.counter,
      () => undefined,
      (v) => v as number,
    );
    return {
      name: this.spec.name,
      count: this.count,
      missing: this.missing,
      ...(fill !== undefined ? { fill } : {}),
    };
  }
}

export function accumulatorFor(feature: FeatureSpec): FeatureAccumulator {
  switch (feature.kind) {
    case 'numeric':
    case 'bucketize':
      return new NumericAccumulator(feature);
    case 'categorical':
      return new CategoricalAccumulator(feature);
    case 'cross':
      return new CrossAccumulator(feature);
    case 'datetime':
      return new DatetimeAccumulator(feature);
  }
}
