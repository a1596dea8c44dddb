import {
  JobSpec,
  OutputSchema,
  ParameterLayout,
  ResumePosition,
  RoleConfig,
  RoleEntry,
} from '@dln/contracts';
import { RoleKind, RoleRecord, tokenOf } from './roles';
import { streamRoleSettingsOf } from './stream-versions';
import { inferenceRoleSettingsOf, PreparedInference } from './inference-jobs';

/** What the AM learned while preparing a job: the examples it trains on and the variables' layout. */
export interface PreparedExamples {
  pipeline: string;
  version: number;
  outputSchema: OutputSchema;
  trainCount: number;
  validationCount: number;
  layout: ParameterLayout;
  /** Inference jobs: the version's artifact and the source of the scored records. */
  inference?: PreparedInference;
}

export interface RoleConfigInput {
  jobId: string;
  subjectRoot: string;
  spec: JobSpec;
  prepared: PreparedExamples;
  /** Checkpoint manifest to restore from (failover), or null for a fresh start. */
  restoreFrom?: string | null;
  /** A replacement worker: its predecessor's last known position. */
  resume?: ResumePosition | null;
}

/** The entry module a node runs for a role. */
export function entryOf(kind: RoleKind): RoleEntry {
  return kind === RoleKind.Ps ? RoleEntry.ParameterServer : RoleEntry.Worker;
}

/**
 * Everything one role needs, so nobody configures an address: its fencing token, the whole
 * layout (which shard holds which variables), the examples and its split (its index of W).
 */
export function buildRoleConfig(input: RoleConfigInput, role: RoleRecord): RoleConfig {
  const { spec, prepared } = input;
  if (role.index >= (role.kind === RoleKind.Ps ? spec.cluster.ps : spec.cluster.workers)) {
    throw new Error(
      `${role.role} is outside the job's cluster (${spec.cluster.workers} workers, ${spec.cluster.ps} ps)`,
    );
  }
  if (prepared.layout.shardSizes.length !== spec.cluster.ps) {
    throw new Error(
      `the layout has ${prepared.layout.shardSizes.length} shards, the job ${spec.cluster.ps} ps`,
    );
  }
  // Stream jobs: `prepared` names the pipeline and the snapshot version the job started from.
  const stream = streamRoleSettingsOf(spec, input.jobId, prepared.pipeline);
  const inference = inferenceRoleSettingsOf(spec, input.jobId, prepared.inference);
  return {
    token: tokenOf(input.jobId, role),
    kind: role.kind,
    index: role.index,
    subjectRoot: input.subjectRoot,
    jobName: spec.name,
    workers: spec.cluster.workers,
    shards: spec.cluster.ps,
    model: spec.model,
    training: spec.training,
    outputSchema: prepared.outputSchema,
    parameters: prepared.layout,
    examples: {
      pipeline: prepared.pipeline,
      version: prepared.version,
      trainCount: prepared.trainCount,
      validationCount: prepared.validationCount,
    },
    restoreFrom: input.restoreFrom ?? null,
    start: role.start,
    resume: input.resume ?? null,
    outputModel: spec.output.model,
    ...(stream ? { stream } : {}),
    ...(inference ? { inference } : {}),
  };
}
