import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { bigintAsNumber, jsonText } from '../transformers';

/** One training job (am owns this table). JSON columns hold contract-shaped values. */
@Entity({ name: 'jobs' })
@Index('idx_jobs_state', ['state'])
export class JobRow {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ type: 'varchar', length: 64 })
  name!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: string;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  @Column({ type: 'integer' })
  generation!: number;

  /** The parsed JobSpec. */
  @Column({ type: 'text', transformer: jsonText })
  spec!: unknown;

  @Column({ type: 'varchar', length: 64 })
  pipeline!: string;

  @Column({ name: 'pipeline_version', type: 'integer', nullable: true })
  pipelineVersion!: number | null;

  /** PreparedExamples (output schema, counts, parameter layout) once known. */
  @Column({ type: 'text', nullable: true, transformer: jsonText })
  prepared!: unknown;

  /** JobProgress. */
  @Column({ type: 'text', transformer: jsonText })
  progress!: unknown;

  /** [{epoch, metrics}] of worker 0's evaluations. */
  @Column({ type: 'text', transformer: jsonText })
  validation!: unknown;

  @Column({ name: 'model_version', type: 'integer', nullable: true })
  modelVersion!: number | null;

  /** Highest event seq recorded for the job. */
  @Column({ name: 'last_seq', type: 'integer' })
  lastSeq!: number;

  @Column({ name: 'scheduling_since', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  schedulingSince!: number | null;

  /** FailoverState of @dln/jobs (failures per role, retry and export deadlines); null: none yet. */
  @Column({ type: 'text', nullable: true, transformer: jsonText })
  failover!: unknown;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;
}

/** One incarnation of a role of a job: (job, role, generation, attempt) (am owns this table). */
@Entity({ name: 'job_roles' })
export class JobRoleRow {
  @PrimaryColumn({ name: 'job_id', type: 'varchar', length: 64 })
  jobId!: string;

  @PrimaryColumn({ type: 'varchar', length: 16 })
  role!: string;

  @PrimaryColumn({ type: 'integer' })
  generation!: number;

  @PrimaryColumn({ type: 'integer' })
  attempt!: number;

  @Column({ type: 'varchar', length: 8 })
  kind!: string;

  @Column({ name: 'role_index', type: 'integer' })
  index!: number;

  @Column({ type: 'varchar', length: 16 })
  state!: string;

  @Column({ name: 'node_id', type: 'varchar', length: 64, nullable: true })
  nodeId!: string | null;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  /** How the incarnation starts: fresh, replacement, rollback (RoleStart). */
  @Column({ type: 'varchar', length: 16, default: 'fresh' })
  start!: string;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;
}

/** Every transition and notable happening of a job, append-only (am owns this table). */
@Entity({ name: 'job_events' })
@Index('idx_job_events_job_seq', ['jobId', 'seq'], { unique: true })
export class JobEventRow {
  @PrimaryGeneratedColumn('increment', { type: 'integer' })
  id!: number;

  @Column({ name: 'job_id', type: 'varchar', length: 64 })
  jobId!: string;

  @Column({ type: 'integer' })
  seq!: number;

  @Column({ type: 'varchar', length: 16 })
  type!: string;

  @Column({ name: 'from_state', type: 'varchar', length: 16, nullable: true })
  fromState!: string | null;

  @Column({ name: 'to_state', type: 'varchar', length: 16, nullable: true })
  toState!: string | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  role!: string | null;

  @Column({ type: 'text', transformer: jsonText })
  detail!: unknown;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  at!: number;
}

/** A complete checkpoint (its manifest is written to the Object Store) (am owns this table). */
@Entity({ name: 'job_checkpoints' })
export class JobCheckpointRow {
  @PrimaryColumn({ name: 'job_id', type: 'varchar', length: 64 })
  jobId!: string;

  @PrimaryColumn({ type: 'integer' })
  generation!: number;

  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber })
  step!: number;

  /** Object Store name of the manifest. */
  @Column({ type: 'varchar', length: 512 })
  manifest!: string;

  /** Object Store names of the shards' parts. */
  @Column({ type: 'text', transformer: jsonText })
  objects!: unknown;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;
}

/** A catalogued model version (am owns this table). */
@Entity({ name: 'model_versions' })
export class ModelVersionRow {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  model!: string;

  @PrimaryColumn({ type: 'integer' })
  version!: number;

  @Column({ name: 'job_id', type: 'varchar', length: 64 })
  jobId!: string;

  @Column({ type: 'varchar', length: 64 })
  pipeline!: string;

  @Column({ name: 'pipeline_version', type: 'integer' })
  pipelineVersion!: number;

  /** Object Store names of the artifact's blobs. */
  @Column({ type: 'text', transformer: jsonText })
  objects!: unknown;

  /** EvaluationMetrics. */
  @Column({ type: 'text', transformer: jsonText })
  metrics!: unknown;

  @Column({ name: 'is_default', type: 'boolean' })
  isDefault!: boolean;

  @Column({ type: 'boolean' })
  pinned!: boolean;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;
}
