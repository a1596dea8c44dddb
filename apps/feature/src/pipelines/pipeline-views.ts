import { PipelineVersion, PipelineView, Subjects } from '@dln/contracts';
import { MaterializationState, PipelineEntity, PipelineVersionEntity } from './pipeline.entities';
import type { VersionSummary } from './pipeline-store';

/** In-memory progress of a running fit or materialization (this replica only). */
export interface Progress {
  processed: number;
}

export function emptyMaterialization(): MaterializationState {
  return {
    status: 'none',
    run: 0,
    counts: { train: 0, validation: 0, rejected: 0, duplicates: 0 },
    processed: 0,
  };
}

export function pipelineView(
  entity: PipelineEntity,
  versions: VersionSummary[],
  fit: { running?: Progress; error?: string },
): PipelineView {
  return {
    name: entity.name,
    source: entity.source,
    spec: entity.spec,
    createdAt: new Date(entity.createdAt).toISOString(),
    fit: fit.running
      ? { status: 'fitting', processed: fit.running.processed }
      : fit.error
        ? { status: 'failed', processed: 0, error: fit.error }
        : { status: 'idle', processed: 0 },
    versions: versions.map((v) => ({
      version: v.version,
      fittedAt: new Date(v.fittedAt).toISOString(),
      recordCount: v.recordCount,
      materialization: v.materialization.status,
    })),
  };
}

export function versionView(entity: PipelineVersionEntity, running?: Progress): PipelineVersion {
  const materialization = { ...entity.materialization };
  if (running && materialization.status === 'running')
    materialization.processed = running.processed;
  return {
    pipeline: entity.pipeline,
    version: entity.version,
    fittedAt: new Date(entity.fittedAt).toISOString(),
    recordCount: entity.recordCount,
    sourceSequence: entity.sourceSequence,
    snapshot: entity.snapshot,
    outputSchema: entity.outputSchema,
    materialization,
  };
}

export function exampleSubjects(subjects: Subjects, pipeline: string, version: number) {
  return {
    train: subjects.examples(pipeline, version, 'train'),
    validation: subjects.examples(pipeline, version, 'validation'),
  };
}
