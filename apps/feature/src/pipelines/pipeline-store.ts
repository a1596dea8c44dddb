import { PipelineSpec } from '@dln/contracts';
import { DataSource } from '@dln/persistence';
import { MaterializationState, PipelineEntity, PipelineVersionEntity } from './pipeline.entities';

/** Summary of a version without its (possibly large) snapshot. */
export type VersionSummary = Pick<
  PipelineVersionEntity,
  'version' | 'fittedAt' | 'recordCount' | 'materialization'
>;

/** The feature service's tables: pipelines and their fitted versions. */
export class PipelineStore {
  constructor(private readonly dataSource: DataSource) {}

  private get pipelines() {
    return this.dataSource.getRepository(PipelineEntity);
  }

  private get versions() {
    return this.dataSource.getRepository(PipelineVersionEntity);
  }

  async find(name: string): Promise<PipelineEntity | null> {
    return this.pipelines.findOneBy({ name });
  }

  async list(): Promise<PipelineEntity[]> {
    return this.pipelines.find({ order: { name: 'ASC' } });
  }

  /** Inserts or replaces the spec; returns whether the pipeline is new. */
  async upsert(
    spec: PipelineSpec,
    now: number,
  ): Promise<{ created: boolean; entity: PipelineEntity }> {
    return this.dataSource.transaction(async (manager) => {
      const repo = manager.getRepository(PipelineEntity);
      const existing = await repo.findOneBy({ name: spec.name });
      const entity = Object.assign(existing ?? new PipelineEntity(), {
        name: spec.name,
        source: spec.source,
        spec,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      });
      await repo.save(entity);
      return { created: existing === null, entity };
    });
  }

  async summaries(pipeline: string): Promise<VersionSummary[]> {
    return this.versions.find({
      where: { pipeline },
      select: { version: true, fittedAt: true, recordCount: true, materialization: true },
      order: { version: 'ASC' },
    });
  }

  async version(pipeline: string, version: number): Promise<PipelineVersionEntity | null> {
    return this.versions.findOneBy({ pipeline, version });
  }

  async latest(pipeline: string): Promise<PipelineVersionEntity | null> {
    return this.versions.findOne({ where: { pipeline }, order: { version: 'DESC' } });
  }

  /** Stores a new version numbered one above the highest so far (the primary key guards races). */
  async addVersion(fields: Omit<PipelineVersionEntity, 'version'>): Promise<PipelineVersionEntity> {
    return this.dataSource.transaction(async (manager) => {
      const repo = manager.getRepository(PipelineVersionEntity);
      const top = await repo.findOne({
        where: { pipeline: fields.pipeline },
        order: { version: 'DESC' },
        select: { version: true },
      });
      const entity = Object.assign(new PipelineVersionEntity(), fields, {
        version: (top?.version ?? 0) + 1,
      });
      await repo.insert(entity);
      return entity;
    });
  }

  async setMaterialization(
    pipeline: string,
    version: number,
    state: MaterializationState,
  ): Promise<void> {
    await this.versions.update({ pipeline, version }, { materialization: state });
  }
}
