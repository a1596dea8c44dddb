import { systemClock } from '@dln/cluster';
import {
  ConflictError,
  EvaluationMetrics,
  ModelAnnouncement,
  ModelVersion,
  NotFoundError,
  Subjects,
} from '@dln/contracts';
import {
  CatalogueEntry,
  decideModelVersion,
  PromotionPolicy,
  VersionDecision,
  versionsToRetire,
} from '@dln/jobs';
import { encodeJson } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import { DataSource, EntityManager, ModelVersionRow } from '@dln/persistence';
import { DATA_SOURCE, NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { JOBS_SETTINGS } from './jobs.tokens';
import type { JobsSettings } from './jobs.tokens';

/** A model and its versions, as GET /v1/models lists it. */
export interface ModelSummary {
  name: string;
  versions: number;
  latestVersion: number;
  defaultVersion: number | null;
  pinned: boolean;
}

export interface NewVersion {
  model: string;
  jobId: string;
  pipeline: string;
  pipelineVersion: number;
  objects: string[];
  metrics: EvaluationMetrics;
  finite: boolean;
  policy: PromotionPolicy;
  /** Overrides the batch rule (a stream export is judged by decideStreamVersion). */
  decide?: (existing: readonly CatalogueEntry[]) => VersionDecision;
}

function toVersion(row: ModelVersionRow): ModelVersion {
  return {
    model: row.model,
    version: row.version,
    jobId: row.jobId,
    pipeline: row.pipeline,
    pipelineVersion: row.pipelineVersion,
    objects: row.objects as string[],
    metrics: row.metrics as EvaluationMetrics,
    isDefault: row.isDefault,
    pinned: row.pinned,
    createdAt: new Date(Number(row.createdAt)).toISOString(),
  };
}

/**
 * The model catalogue: versions numbered per model, the default chosen by the promotion rule
 * (@dln/jobs decideModelVersion), promotion and pinning by hand. Changes of one model run one
 * after another; each is announced on Subjects.modelAnnouncements() after it is stored.
 */
@Injectable()
export class ModelRegistryService {
  private readonly logger = new Logger(ModelRegistryService.name);
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {}

  /** Catalogues an exported model, or refuses it (NaN/infinite); the decision says which. */
  record(input: NewVersion): Promise<{ decision: VersionDecision; version: ModelVersion | null }> {
    return this.serial(async () => {
      let decision: VersionDecision = { accepted: false, reason: 'not decided' };
      let stored: ModelVersion | null = null;
      let defaultVersion: number | null = null;
      await this.dataSource.transaction(async (manager) => {
        const rows = await this.rows(manager, input.model);
        const existing = rows.map((row) => ({
          version: row.version,
          metrics: row.metrics as EvaluationMetrics,
          isDefault: row.isDefault,
          pinned: row.pinned,
        }));
        decision = input.decide
          ? input.decide(existing)
          : decideModelVersion(
              existing,
              { metrics: input.metrics, finite: input.finite },
              input.policy,
            );
        if (!decision.accepted) return;
        const repo = manager.getRepository(ModelVersionRow);
        if (decision.becomesDefault)
          await repo.update({ model: input.model }, { isDefault: false, pinned: false });
        const row = repo.create({
          model: input.model,
          version: decision.version,
          jobId: input.jobId,
          pipeline: input.pipeline,
          pipelineVersion: input.pipelineVersion,
          objects: input.objects,
          metrics: input.metrics,
          isDefault: decision.becomesDefault,
          pinned: false,
          createdAt: (this.settings.clock ?? systemClock).now(),
        });
        await repo.save(row);
        stored = toVersion(row);
        defaultVersion = decision.becomesDefault
          ? decision.version
          : (rows.find((r) => r.isDefault)?.version ?? null);
      });
      const version = stored as ModelVersion | null;
      if (version)
        this.announce({
          model: version.model,
          version: version.version,
          defaultVersion,
          change: 'added',
        });
      return { decision, version };
    });
  }

  /**
   * Retires the versions of `jobId` beyond its newest `keep` (versionsToRetire: never the default
   * or a pinned one): they leave the catalogue, and each is announced as `retired` so prediction
   * instances unload it. Returns the retired version numbers.
   */
  retireJobVersions(model: string, jobId: string, keep: number): Promise<number[]> {
    return this.serial(async () => {
      const retired = await this.dataSource.transaction(async (manager) => {
        const rows = await this.rows(manager, model);
        const doomed = versionsToRetire(
          rows.map((row) => ({
            version: row.version,
            jobId: row.jobId,
            metrics: row.metrics as EvaluationMetrics,
            isDefault: row.isDefault,
            pinned: row.pinned,
          })),
          jobId,
          keep,
        );
        for (const version of doomed)
          await manager.getRepository(ModelVersionRow).delete({ model, version });
        return {
          doomed,
          defaultVersion: rows.find((row) => row.isDefault)?.version ?? null,
        };
      });
      for (const version of retired.doomed)
        this.announce({
          model,
          version,
          defaultVersion: retired.defaultVersion,
          change: 'retired',
        });
      return retired.doomed;
    });
  }

  async list(): Promise<ModelSummary[]> {
    const rows = await this.dataSource
      .getRepository(ModelVersionRow)
      .find({ order: { model: 'ASC', version: 'ASC' } });
    const byModel = new Map<string, ModelSummary>();
    for (const row of rows) {
      const summary = byModel.get(row.model) ?? {
        name: row.model,
        versions: 0,
        latestVersion: 0,
        defaultVersion: null,
        pinned: false,
      };
      summary.versions += 1;
      summary.latestVersion = Math.max(summary.latestVersion, row.version);
      if (row.isDefault) {
        summary.defaultVersion = row.version;
        summary.pinned = row.pinned;
      }
      byModel.set(row.model, summary);
    }
    return [...byModel.values()];
  }

  /** Every version of a model (NotFound when it has none), or of every model. */
  async versions(model?: string): Promise<ModelVersion[]> {
    const rows = await this.dataSource.getRepository(ModelVersionRow).find({
      where: model === undefined ? {} : { model },
      order: { model: 'ASC', version: 'ASC' },
    });
    if (model !== undefined && rows.length === 0) throw new NotFoundError('model', model);
    return rows.map(toVersion);
  }

  /** Makes `version` the default; refused while another version is pinned. */
  promote(model: string, version: number): Promise<ModelVersion> {
    return this.change(model, version, 'promoted', (rows, target) => {
      const pinned = rows.find((row) => row.pinned && row.version !== version);
      if (pinned)
        throw new ConflictError(
          `version ${pinned.version} of model "${model}" is pinned; unpin it or pin version ${version}`,
        );
      for (const row of rows) row.isDefault = row.version === target.version;
    });
  }

  /** Makes `version` the default and keeps it there until unpinned. */
  pin(model: string, version: number): Promise<ModelVersion> {
    return this.change(model, version, 'pinned', (rows, target) => {
      for (const row of rows) {
        row.isDefault = row.version === target.version;
        row.pinned = row.version === target.version;
      }
    });
  }

  /** Lets new versions replace the default again (the default itself stays). */
  async unpin(model: string): Promise<ModelVersion> {
    const current = (await this.versions(model)).find((version) => version.isDefault);
    if (!current) throw new ConflictError(`model "${model}" has no default version`);
    return this.change(model, current.version, 'unpinned', (rows) => {
      for (const row of rows) row.pinned = false;
    });
  }

  private change(
    model: string,
    version: number,
    change: ModelAnnouncement['change'],
    apply: (rows: ModelVersionRow[], target: ModelVersionRow) => void,
  ): Promise<ModelVersion> {
    return this.serial(async () => {
      const updated = await this.dataSource.transaction(async (manager) => {
        const rows = await this.rows(manager, model);
        if (rows.length === 0) throw new NotFoundError('model', model);
        const target = rows.find((row) => row.version === version);
        if (!target) throw new NotFoundError('model version', `${model}/${version}`);
        apply(rows, target);
        await manager.getRepository(ModelVersionRow).save(rows);
        return {
          target: toVersion(target),
          defaultVersion: rows.find((row) => row.isDefault)?.version ?? null,
        };
      });
      this.announce({ model, version, defaultVersion: updated.defaultVersion, change });
      return updated.target;
    });
  }

  private rows(manager: EntityManager, model: string): Promise<ModelVersionRow[]> {
    return manager
      .getRepository(ModelVersionRow)
      .find({ where: { model }, order: { version: 'ASC' } });
  }

  private announce(announcement: ModelAnnouncement): void {
    try {
      this.nats.publish(this.subjects.modelAnnouncements(), encodeJson(announcement));
    } catch (error) {
      this.logger.warn({
        msg: 'could not announce a model version',
        ...announcement,
        error: String(error),
      });
    }
  }

  /** One catalogue change at a time, so version numbers and defaults never race. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
