import type {
  MaterializationStatus,
  OutputSchema,
  PipelineSnapshot,
  PipelineSpec,
  SplitCounts,
} from '@dln/contracts';
import { bigintAsNumber, Column, Entity, jsonText, PrimaryColumn } from '@dln/persistence';

/** One declared pipeline; the spec is kept whole (validated against its source on the way in). */
@Entity({ name: 'pipelines' })
export class PipelineEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  name!: string;

  @Column({ type: 'varchar', length: 64 })
  source!: string;

  @Column({ type: 'text', transformer: jsonText })
  spec!: PipelineSpec;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintAsNumber })
  updatedAt!: number;
}

/** State of a version's materialization, kept as one JSON column. */
export interface MaterializationState {
  status: MaterializationStatus;
  /** Materializations of this version so far; part of each example's de-duplication id. */
  run: number;
  counts: SplitCounts;
  processed: number;
  stream?: string;
  error?: string;
  firstErrors?: string[];
  finishedAt?: string;
}

/** One fitted version of a pipeline: its snapshot and output schema never change once written. */
@Entity({ name: 'pipeline_versions' })
export class PipelineVersionEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  pipeline!: string;

  @PrimaryColumn({ type: 'integer' })
  version!: number;

  @Column({ name: 'fitted_at', type: 'bigint', transformer: bigintAsNumber })
  fittedAt!: number;

  @Column({ name: 'record_count', type: 'bigint', transformer: bigintAsNumber })
  recordCount!: number;

  @Column({ name: 'source_sequence', type: 'bigint', transformer: bigintAsNumber })
  sourceSequence!: number;

  @Column({ type: 'text', transformer: jsonText })
  snapshot!: PipelineSnapshot;

  @Column({ name: 'output_schema', type: 'text', transformer: jsonText })
  outputSchema!: OutputSchema;

  @Column({ type: 'text', transformer: jsonText })
  materialization!: MaterializationState;
}
