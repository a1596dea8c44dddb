import { OutputSchema, SourceDeclaration } from '@dln/contracts';
import { LoadedModel } from './loaded-model';
import { DEFAULT_SIGNATURE } from './limits';
import { VersionStatus } from './registry';
import { classNamesOf } from './responses';

/** `GET /v1/models/{name}` in TensorFlow Serving's shape (plus which version is the default). */
export interface ModelStatusView {
  model_version_status: {
    version: string;
    state: string;
    is_default: boolean;
    status: { error_code: string; error_message: string };
  }[];
}

export function modelStatusView(statuses: readonly VersionStatus[]): ModelStatusView {
  return {
    model_version_status: statuses.map((s) => ({
      version: String(s.version),
      state: s.state,
      is_default: s.isDefault,
      status: s.error
        ? { error_code: 'UNKNOWN', error_message: s.error }
        : { error_code: 'OK', error_message: '' },
    })),
  };
}

interface TensorInfo {
  dtype: string;
  tensor_shape: { dim: { size: string }[] };
  name: string;
}

const DTYPES: Record<SourceDeclaration['fields'][number]['type'], string> = {
  number: 'DT_FLOAT',
  integer: 'DT_INT64',
  string: 'DT_STRING',
  boolean: 'DT_BOOL',
  timestamp: 'DT_INT64',
};

function tensor(name: string, dtype: string, dims: number[]): TensorInfo {
  return { dtype, tensor_shape: { dim: dims.map((size) => ({ size: String(size) })) }, name };
}

function outputs(schema: OutputSchema, units: number): Record<string, TensorInfo> {
  if (schema.label.kind === 'numeric') return { value: tensor('value', 'DT_FLOAT', [-1]) };
  const scores = {
    scores: tensor('scores', 'DT_FLOAT', schema.label.kind === 'class' ? [-1, units] : [-1]),
  };
  return { ...scores, classes: tensor('classes', 'DT_STRING', [-1, units === 1 ? 2 : units]) };
}

/**
 * `GET /v1/models/{name}/metadata`: the signature in TensorFlow Serving's shape (inputs are the
 * raw fields the pipeline reads) and our details: label kind, class names in output order, the
 * pipeline, the artifact's metadata.
 */
export function modelMetadataView(model: LoadedModel): Record<string, unknown> {
  const source = model.artifact.source;
  const inputs: Record<string, TensorInfo> = {};
  for (const field of model.inputFields) {
    const declared = source?.fields.find((f) => f.name === field);
    inputs[field] = tensor(field, declared ? DTYPES[declared.type] : 'DT_INVALID', [-1]);
  }
  const schema = model.outputSchema;
  const spec = model.artifact.snapshot.spec;
  return {
    model_spec: { name: model.name, signature_name: '', version: String(model.version) },
    metadata: {
      signature_def: {
        signature_def: {
          [DEFAULT_SIGNATURE]: {
            inputs,
            outputs: outputs(schema, model.units),
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
      dln: {
        label: { kind: schema.label.kind, field: spec.label.field },
        class_names: classNamesOf(schema) ?? null,
        pipeline: { name: spec.name, source: spec.source },
        output_schema: schema,
        artifact: model.artifact.metadata ?? {},
      },
    },
  };
}
