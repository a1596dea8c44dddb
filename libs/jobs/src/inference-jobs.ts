import {
  InferenceJobSpec,
  InferenceRoleSettings,
  JobSpec,
  inferenceJobConsumer,
  isStreamInput,
} from '@dln/contracts';

/** What the AM resolved at an inference job's submit: the version's artifact and its records' source. */
export interface PreparedInference {
  /** The version's artifact blobs in the models bucket. */
  objects: string[];
  source: string;
}

/** The catalogued version an inference job scores with, and the job that trained it. */
export interface ResolvedVersion {
  version: number;
  pipeline: string;
  pipelineVersion: number;
  trainedBy: Pick<JobSpec, 'model' | 'training'>;
}

/**
 * The stored JobSpec of an inference job: the submitted spec with the version recorded, the
 * model spec and training settings of the version's training job (the model is rebuilt, and the
 * variable layout planned, exactly as that job did), the version's pinned pipeline version as
 * `examples` (what is scored, or what encodes a raw stream's records) and the scored model as
 * `output.model`. Updates are asynchronous: a lost shard is replaced alone (it reloads its
 * slice; there is no step to roll back to).
 */
export function inferenceJobSpecOf(input: InferenceJobSpec, resolved: ResolvedVersion): JobSpec {
  const { inference } = input;
  // The pinned pipeline version: the examples scored, or the encoding of a raw stream's records.
  const examples = { pipeline: resolved.pipeline, version: resolved.pipelineVersion };
  const { earlyStopping: _unused, ...training } = resolved.trainedBy.training;
  return {
    name: input.name,
    mode: 'inference',
    examples,
    model: resolved.trainedBy.model,
    training: { ...training, updateMode: 'async' },
    cluster: input.cluster,
    output: { model: inference.model },
    scheduling: input.scheduling,
    failover: input.failover,
    inference: {
      ...inference,
      version: resolved.version,
      input: isStreamInput(inference.input) ? inference.input : examples,
    },
  };
}

/** RoleConfig.inference of an inference job's roles (undefined for other jobs). */
export function inferenceRoleSettingsOf(
  spec: Pick<JobSpec, 'mode' | 'inference'>,
  jobId: string,
  prepared: PreparedInference | undefined,
): InferenceRoleSettings | undefined {
  const settings = spec.inference;
  if (spec.mode !== 'inference' || !settings || settings.version === undefined || !prepared)
    return undefined;
  return {
    settings: { ...settings, version: settings.version },
    objects: prepared.objects,
    source: prepared.source,
    consumer: inferenceJobConsumer(jobId),
  };
}
