import {
  ConflictError,
  NotFoundError,
  parseInput,
  PipelinePrepareReply,
  pipelinePrepareRequestSchema,
  pipelineSpecSchema,
  PipelineVersion,
  PipelineView,
  Subjects,
} from '@dln/contracts';
import { assertPipelineFitsSource } from '@dln/features';
import type { NatsConnection } from '@dln/messaging';
import { DataSource } from '@dln/persistence';
import { DATA_SOURCE, NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FeatureConfig } from '../feature.config';
import { FEATURE_CONFIG } from '../feature.tokens';
import { PipelineJobs } from './pipeline-jobs';
import { PipelineStore } from './pipeline-store';
import { exampleSubjects, pipelineView, Progress, versionView } from './pipeline-views';

/** A running job of this replica: its progress and its outcome. */
interface Running<T> {
  progress: Progress;
  done: Promise<T>;
}

/**
 * Pipelines: declare, fit, materialize, describe, prepare. One fit per pipeline and one
 * materialization per version run at a time in this replica; REST callers get 409 meanwhile,
 * the AM's prepare waits for the running job instead.
 */
@Injectable()
export class PipelinesService {
  private readonly logger = new Logger(PipelinesService.name);
  private readonly store: PipelineStore;
  private readonly jobs: PipelineJobs;
  private readonly fits = new Map<string, Running<PipelineVersion>>();
  private readonly fitErrors = new Map<string, string>();
  private readonly materializing = new Map<string, Running<void>>();

  constructor(
    @Inject(DATA_SOURCE) dataSource: DataSource,
    @Inject(NATS_CONNECTION) nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(FEATURE_CONFIG) config: FeatureConfig,
  ) {
    this.store = new PipelineStore(dataSource);
    this.jobs = new PipelineJobs(nats, subjects, this.store, config);
  }

  /** `POST /v1/pipelines`: validates the spec, and against its source's schema (asked of ingest). */
  async declare(body: unknown): Promise<{ created: boolean; view: PipelineView }> {
    const spec = parseInput(pipelineSpecSchema, body, 'pipeline');
    const source = await this.jobs.source(spec.source);
    assertPipelineFitsSource(spec, source.declaration);
    const { created, entity } = await this.store.upsert(spec, Date.now());
    this.logger.log({
      msg: created ? 'pipeline created' : 'pipeline updated',
      pipeline: spec.name,
      source: spec.source,
    });
    return { created, view: pipelineView(entity, await this.store.summaries(spec.name), {}) };
  }

  async list(): Promise<PipelineView[]> {
    const entities = await this.store.list();
    return Promise.all(
      entities.map(async (e) =>
        pipelineView(e, await this.store.summaries(e.name), this.fitState(e.name)),
      ),
    );
  }

  async describe(name: string): Promise<PipelineView> {
    const entity = await this.pipeline(name);
    return pipelineView(entity, await this.store.summaries(name), this.fitState(name));
  }

  /** A version, or the latest one when `version` is undefined. */
  async version(name: string, version?: number): Promise<PipelineVersion> {
    await this.pipeline(name);
    const entity =
      version === undefined
        ? await this.store.latest(name)
        : await this.store.version(name, version);
    if (!entity) throw new NotFoundError('pipeline version', `${name}/${version ?? 'latest'}`);
    return versionView(entity, this.materializing.get(`${name}/${entity.version}`)?.progress);
  }

  /** Fits a new version (409 while this pipeline is being fitted). */
  async fit(name: string): Promise<PipelineVersion> {
    const entity = await this.pipeline(name);
    if (this.fits.has(name)) throw new ConflictError(`pipeline "${name}" is already being fitted`);
    const progress: Progress = { processed: 0 };
    this.fitErrors.delete(name);
    const done = this.jobs.fit(entity, progress).then(
      (version) => {
        this.fits.delete(name);
        return version;
      },
      (err: unknown) => {
        this.fits.delete(name);
        this.fitErrors.set(name, err instanceof Error ? err.message : String(err));
        throw err;
      },
    );
    this.fits.set(name, { progress, done });
    return done;
  }

  /** Materializes a version's examples (409 while that version is being materialized). */
  async materialize(name: string, version: number): Promise<PipelineVersion> {
    const entity = await this.pipeline(name);
    const fitted = await this.store.version(name, version);
    if (!fitted) throw new NotFoundError('pipeline version', `${name}/${version}`);
    const key = `${name}/${version}`;
    if (this.materializing.has(key))
      throw new ConflictError(`pipeline version ${key} is already being materialized`);
    const progress: Progress = { processed: 0 };
    const done = this.jobs
      .materialize(entity, fitted, progress)
      .finally(() => this.materializing.delete(key));
    this.materializing.set(key, { progress, done });
    await done;
    return this.version(name, version);
  }

  /** For the AM: fit (always, or when no version exists) and materialize unless already done. */
  async prepare(payload: unknown): Promise<PipelinePrepareReply> {
    const request = parseInput(pipelinePrepareRequestSchema, payload, 'pipeline prepare request');
    const name = request.pipeline;
    await this.pipeline(name);
    const runningFit = this.fits.get(name);
    const latest = runningFit ? await runningFit.done : await this.store.latest(name);
    const version =
      !latest || (request.fit === 'always' && !runningFit)
        ? (await this.fit(name)).version
        : latest.version;
    const runningMaterialization = this.materializing.get(`${name}/${version}`);
    if (runningMaterialization) await runningMaterialization.done;
    let view = await this.version(name, version);
    if (view.materialization.status !== 'done') view = await this.materialize(name, version);
    return {
      pipeline: name,
      version,
      outputSchema: view.outputSchema,
      counts: view.materialization.counts,
      stream: this.subjects.examplesStream(name),
      subjects: exampleSubjects(this.subjects, name, version),
    };
  }

  private fitState(name: string): { running?: Progress; error?: string } {
    const running = this.fits.get(name)?.progress;
    const error = this.fitErrors.get(name);
    return { ...(running ? { running } : {}), ...(error ? { error } : {}) };
  }

  private async pipeline(name: string) {
    const entity = await this.store.find(name);
    if (!entity) throw new NotFoundError('pipeline', name);
    return entity;
  }
}
