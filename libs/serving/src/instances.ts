import {
  effectiveIdField,
  PipelineSnapshot,
  SourceDeclaration,
  ValidationError,
} from '@dln/contracts';
import { InputRecord } from '@dln/features';
import { compileRecordValidator, RecordValidator } from '@dln/records';

/** Where an instance (or one of its fields) came from, for error messages. */
export type Where = (field?: string) => string;

/** Turns one instance of a request into the record the pipeline encodes, or throws naming `where`. */
export type InstanceReader = (value: unknown, where: Where) => InputRecord;

/** The raw source fields a pipeline reads, in spec order, each once. */
export function inputFieldsOf(snapshot: PipelineSnapshot): string[] {
  const fields = new Set<string>();
  for (const feature of snapshot.spec.features) {
    for (const field of feature.kind === 'cross' ? feature.fields : [feature.field])
      fields.add(field);
  }
  return [...fields];
}

function invalid(path: string, reason: string): ValidationError {
  return new ValidationError(`${path}: ${reason}`, [{ path, message: reason }]);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A serving declaration of the source: the label and id fields left out (a client need not send
 * them, and they are ignored when sent), every other field nullable, so that a missing input
 * reaches the pipeline, which fills it or refuses it naming the field.
 */
function servingValidator(
  source: SourceDeclaration,
  ignored: ReadonlySet<string>,
): RecordValidator {
  return compileRecordValidator({
    ...source,
    idField: undefined,
    fields: source.fields
      .filter((field) => !ignored.has(field.name))
      .map((field) => ({ ...field, nullable: true })),
  });
}

/**
 * Reads instances as the source declares its fields, through the same validation and coercion
 * as ingest (ISO timestamps become epoch ms, integers are checked, unknown fields follow the
 * source's policy). Without a declaration the pipeline's own type checks apply (timestamps must
 * then be epoch milliseconds).
 */
export function instanceReader(
  snapshot: PipelineSnapshot,
  source?: SourceDeclaration,
): InstanceReader {
  const ignored = new Set([snapshot.spec.label.field]);
  if (source) ignored.add(effectiveIdField(source));
  const strip = (value: Record<string, unknown>): Record<string, unknown> => {
    let out = value;
    for (const key of ignored) {
      if (key in out) {
        if (out === value) out = { ...value };
        delete out[key];
      }
    }
    return out;
  };
  if (!source) {
    return (value, where) => {
      if (!isObject(value)) throw invalid(where(), 'a record must be a JSON object');
      return strip(value);
    };
  }
  const validate = servingValidator(source, ignored);
  return (value, where) => {
    if (!isObject(value)) throw invalid(where(), 'a record must be a JSON object');
    const outcome = validate(strip(value), false);
    if (outcome.problem) {
      const { field, reason } = outcome.problem;
      throw invalid(field === null ? where() : where(field), reason);
    }
    return outcome.record;
  };
}
