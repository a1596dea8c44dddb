import {
  FeatureSpec,
  FieldDeclaration,
  FieldIssue,
  FieldType,
  PipelineSpec,
  SourceDeclaration,
  ValidationError,
} from '@dln/contracts';
import { PART_CARDINALITY } from './datetime';

const NUMERIC: readonly FieldType[] = [FieldType.Number, FieldType.Integer];
const CATEGORICAL: readonly FieldType[] = [FieldType.String, FieldType.Integer, FieldType.Boolean];

function inputTypes(feature: FeatureSpec): readonly FieldType[] {
  switch (feature.kind) {
    case 'numeric':
    case 'bucketize':
      return NUMERIC;
    case 'categorical':
    case 'cross':
      return CATEGORICAL;
    case 'datetime':
      return [FieldType.Timestamp];
  }
}

/** Problems of a feature's `missing` strategy that need no source: strategy and default type per kind. */
function missingIssues(feature: FeatureSpec, path: string): FieldIssue[] {
  const missing = feature.missing;
  if (!missing) return [];
  const at = `${path}.missing`;
  if (missing.strategy === 'mean' && feature.kind !== 'numeric' && feature.kind !== 'bucketize') {
    return [
      {
        path: at,
        message: `"mean" applies to numeric inputs; use "mode" or "default" for ${feature.kind}`,
      },
    ];
  }
  if (missing.strategy !== 'default') return [];
  const value = missing.value;
  switch (feature.kind) {
    case 'numeric':
    case 'bucketize':
      return typeof value === 'number'
        ? []
        : [{ path: `${at}.value`, message: 'must be a number' }];
    case 'datetime': {
      const size = PART_CARDINALITY[feature.part];
      const ok = typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < size;
      return ok
        ? []
        : [
            {
              path: `${at}.value`,
              message: `must be a ${feature.part} value, an integer in [0, ${size})`,
            },
          ];
    }
    default:
      return value === ''
        ? [{ path: `${at}.value`, message: 'must not be empty (empty is missing)' }]
        : [];
  }
}

/** Checks a spec on its own (no source): the missing strategies. Throws a ValidationError. */
export function assertSpecConsistent(spec: PipelineSpec): void {
  const issues = spec.features.flatMap((feature, index) =>
    missingIssues(feature, `features.${index}`),
  );
  if (issues.length > 0)
    throw new ValidationError(
      `invalid pipeline: ${issues[0]?.path}: ${issues[0]?.message}`,
      issues,
    );
}

function fieldIssue(
  fields: ReadonlyMap<string, FieldDeclaration>,
  name: string,
  allowed: readonly FieldType[],
  path: string,
  hasMissing: boolean,
  what: string,
  nullableHint = 'give this feature a "missing" strategy',
): FieldIssue[] {
  const field = fields.get(name);
  if (!field) return [{ path, message: `"${name}" is not a field of the source` }];
  if (!allowed.includes(field.type)) {
    return [
      {
        path,
        message: `"${name}" is a ${field.type} field; ${what} needs ${allowed.join(' or ')}`,
      },
    ];
  }
  if (field.nullable && !hasMissing) {
    return [{ path, message: `"${name}" is nullable: ${nullableHint}` }];
  }
  return [];
}

/**
 * Every problem of a pipeline spec against its source's declaration: unknown fields, type
 * mismatches, nullable inputs without a missing strategy, bad missing strategies, label rules.
 */
export function pipelineIssues(spec: PipelineSpec, source: SourceDeclaration): FieldIssue[] {
  const fields = new Map(source.fields.map((field) => [field.name, field]));
  const issues: FieldIssue[] = [];
  if (spec.source !== source.name)
    issues.push({ path: 'source', message: `expected source "${source.name}"` });
  spec.features.forEach((feature, index) => {
    const path = `features.${index}`;
    const hasMissing = feature.missing !== undefined;
    const types = inputTypes(feature);
    const what = `a ${feature.kind} feature`;
    if (feature.kind === 'cross') {
      feature.fields.forEach((name, i) =>
        issues.push(...fieldIssue(fields, name, types, `${path}.fields.${i}`, hasMissing, what)),
      );
    } else {
      issues.push(...fieldIssue(fields, feature.field, types, `${path}.field`, hasMissing, what));
    }
    issues.push(...missingIssues(feature, path));
  });
  const label = spec.label;
  const labelTypes =
    label.kind === 'numeric'
      ? NUMERIC
      : label.kind === 'class'
        ? CATEGORICAL
        : label.threshold === undefined
          ? [FieldType.Boolean]
          : NUMERIC;
  const what =
    label.kind === 'binary' && label.threshold === undefined
      ? 'a binary label without threshold'
      : `a ${label.kind} label`;
  issues.push(
    ...fieldIssue(
      fields,
      label.field,
      labelTypes,
      'label.field',
      false,
      what,
      'a label field must not be nullable',
    ),
  );
  return issues;
}

/** Throws a ValidationError listing every issue of `pipelineIssues`. */
export function assertPipelineFitsSource(spec: PipelineSpec, source: SourceDeclaration): void {
  const issues = pipelineIssues(spec, source);
  const first = issues[0];
  if (first)
    throw new ValidationError(
      `pipeline does not fit source "${source.name}": ${first.path}: ${first.message}`,
      issues,
    );
}
