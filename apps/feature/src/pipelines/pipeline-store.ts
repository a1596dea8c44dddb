import { PipelineSpec } from '@dln/contracts';
import { DataSource, EntityManager } from '@dln/persistence';
import { MaterializationState, PipelineEntity, PipelineVersionEntity } from './pipeline.entities';

/** Summary of a version without its (possibly large) snapshot. */
export type VersionSummary = Pick<
  PipelineVersionEntity,
  'version' | 'fittedAt' | 'recordCount' | 'materialization'
>;

/** The feature service's tables: pipelines and their fitted versions. */
export class PipelineStore {
  /** SQLite has one connection: a transaction started while another runs fails, so they queue. */
  private transactions: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {}

  private transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const run = this.transactions.then(() => this.dataSource.transaction(work));
    this.transactions = run.catch(() => undefined);
    return run;
  }

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
    return this.transaction(async (manager) => {
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

  /**
   * Stores a new version numbered one above the highest so far. Two replicas fitting at once
   * race for the same number: the primary key refuses the second, which takes the next one.
   */
  async addVersion(fields: Omit<PipelineVersionEntity, 'version'>): Promise<PipelineVersionEntity> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.transaction(async (manager) => {
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
      } catch (err) {
        if (attempt >= 5 || !isUniqueViolation(err)) throw err;
      }
    }
  }

  async setMaterialization(
    pipeline: string,
    version: number,
    state: MaterializationState,
  ): Promise<void> {
    await this.versions.update({ pipeline, version }, { materialization: state });
  }
}

/** PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_PRIMARYKEY / _UNIQUE. */
function isUniqueViolation(err: unknown): boolean {
  const driver = (err as { driverError?: { code?: unknown } }).driverError;
  const code = String(driver?.code ?? '');
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}
