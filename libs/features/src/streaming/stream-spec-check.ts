import {
  FieldIssue,
  FieldType,
  SourceDeclaration,
  StreamPipelineSpec,
  ValidationError,
} from '@dln/contracts';
import { pipelineIssues } from '../spec-check';
import { baseSpecOf } from './stream-statistics';

const TIME: readonly FieldType[] = [FieldType.Timestamp, FieldType.Integer, FieldType.Number];
const KEY: readonly FieldType[] = [FieldType.String, FieldType.Integer, FieldType.Boolean];
const NUMERIC: readonly FieldType[] = [FieldType.Number, FieldType.Integer];

function fieldIssue(
  source: SourceDeclaration,
  name: string,
  types: readonly FieldType[],
  path: string,
): FieldIssue[] {
  const field =
    source.fields.find((f) => f.name === name) ??
    (name === (source.idField ?? '_id') ? { type: FieldType.String } : undefined);
  if (!field) return [{ path, message: `"${name}" is not a field of source "${source.name}"` }];
  if (!types.includes(field.type))
    return [
      { path, message: `"${name}" is a ${field.type} field; expected ${types.join(' or ')}` },
    ];
  return [];
}

/**
 * Every problem of a stream spec against its sources: the batch checks of its stateless features
 * (the label against the label source when joined), the time, key and value fields, and, when the
 * event source has several partitions (split among instances), that every aggregate key and the
 * join key are the partition keys, so that each key's events and labels meet in one instance.
 */
export function streamPipelineIssues(
  spec: StreamPipelineSpec,
  events: SourceDeclaration,
  labels?: SourceDeclaration,
): FieldIssue[] {
  const base = baseSpecOf(spec);
  const issues = pipelineIssues(base, events).filter(
    (i) => !(spec.join && i.path === 'label.field'),
  );
  issues.push(...fieldIssue(events, spec.eventTime, TIME, 'eventTime'));
  spec.aggregates.forEach((a, i) => {
    issues.push(...fieldIssue(events, a.key, KEY, `aggregates.${i}.key`));
    if (a.field !== undefined)
      issues.push(...fieldIssue(events, a.field, NUMERIC, `aggregates.${i}.field`));
  });
  const join = spec.join;
  if (join) {
    if (!labels || labels.name !== join.source)
      return [...issues, { path: 'join.source', message: 'the label source is not known' }];
    issues.push(
      ...pipelineIssues({ ...base, source: labels.name, features: [] }, labels).filter(
        (i) => i.path === 'label.field',
      ),
    );
    issues.push(...fieldIssue(events, join.eventKey, KEY, 'join.eventKey'));
    issues.push(...fieldIssue(labels, join.labelKey, KEY, 'join.labelKey'));
    issues.push(...fieldIssue(labels, join.labelTime, TIME, 'join.labelTime'));
  }
  if (events.partitions > 1) {
    const partitionKey = events.partitionKey;
    spec.aggregates.forEach((a, i) => {
      if (a.key !== partitionKey)
        issues.push({
          path: `aggregates.${i}.key`,
          message: `source "${events.name}" has ${events.partitions} partitions: an aggregate key must be its partition key`,
        });
    });
    if (join && join.eventKey !== partitionKey)
      issues.push({
        path: 'join.eventKey',
        message: `must be the partition key of "${events.name}"`,
      });
    if (
      join &&
      labels &&
      (labels.partitions !== events.partitions || labels.partitionKey !== join.labelKey)
    )
      issues.push({
        path: 'join.labelKey',
        message: `"${labels.name}" must be partitioned by it into ${events.partitions} partitions`,
      });
  }
  return issues;
}

/** Throws a ValidationError listing every issue of `streamPipelineIssues`. */
export function assertStreamFitsSources(
  spec: StreamPipelineSpec,
  events: SourceDeclaration,
  labels?: SourceDeclaration,
): void {
  const issues = streamPipelineIssues(spec, events, labels);
  const first = issues[0];
  if (first)
    throw new ValidationError(
      `stream pipeline does not fit its sources: ${first.path}: ${first.message}`,
      issues,
    );
}
