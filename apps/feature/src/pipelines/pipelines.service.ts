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
import {
  analyzeAll,
  assertPipelineFitsSource,
  materializeRecord,
  outputSchemaOf,
  PipelineEncoder,
  RecordEncodeError,
} from '@dln/features';
import type { NatsConnection } from '@dln/messaging';
import { DataSource } from '@dln/persistence';
import { DATA_SOURCE, NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FeatureConfig } from '../feature.config';
import { FEATURE_CONFIG } from '../feature.tokens';
import { ExamplesPublisher, prepareExamplesStream } from './examples-writer';
import { MaterializationState } from './pipeline.entities';
import { PipelineStore } from './pipeline-store';
import {
  emptyMaterialization,
  exampleSubjects,
  pipelineView,
  Progress,
  versionView,
} from './pipeline-views';
import { rawStreamExtent, readRawRecords } from './raw-reader';
import { describeSource } from './source-client';

/** Errors of one materialization kept for the client to see (the count has them all). */
const MAX_REPORTED_ERRORS = 20;

/** Pipelines: declare, fit (analyze the whole source), materialize examples, describe. */
@Injectable()
export class PipelinesService {
  private readonly logger = new Logger(PipelinesService.name);
  private readonly store: PipelineStore;
  private readonly fits = new Map<string, Progress>();
  private readonly fitErrors = new Map<string, string>();
  private readonly materializing = new Map<string, Progress>();

  constructor(
    @Inject(DATA_SOURCE) dataSource: DataSource,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(FEATURE_CONFIG) private readonly config: FeatureConfig,
  ) {
    this.store = new PipelineStore(dataSource);
  }

  /** `POST /v1/pipelines`: validates the spec, and against its source's schema (asked of ingest). */
  async declare(body: unknown): Promise<{ created: boolean; view: PipelineView }> {
    const spec = parseInput(pipelineSpecSchema, body, 'pipeline');
    const source = await this.source(spec.source);
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
    return versionView(entity, this.materializing.get(`${name}/${entity.version}`));
  }

  /** Reads every stored record of the source once and stores the fitted snapshot as version N+1. */
  async fit(name: string): Promise<PipelineVersion> {
    const entity = await this.pipeline(name);
    if (this.fits.has(name)) throw new ConflictError(`pipeline "${name}" is already being fitted`);
    const progress: Progress = { processed: 0 };
    this.fits.set(name, progress);
    this.fitErrors.delete(name);
    const started = Date.now();
    try {
      const source = await this.source(entity.source);
      assertPipelineFitsSource(entity.spec, source.declaration);
      const extent = await rawStreamExtent(this.nats, source.stream);
      this.logger.log({
        msg: 'fit started',
        pipeline: name,
        source: entity.source,
        records: extent.messages,
      });
      const records = readRawRecords(this.nats, source.stream, source.idField, extent.lastSequence);
      const result = await analyzeAll(entity.spec, records, {
        every: this.config.PROGRESS_EVERY,
        onProgress: (processed) => {
          progress.processed = processed;
          this.logger.log({
            msg: 'fit progress',
            pipeline: name,
            processed,
            total: extent.messages,
          });
        },
      });
      const stored = await this.store.addVersion({
        pipeline: name,
        fittedAt: Date.now(),
        recordCount: result.recordCount,
        sourceSequence: extent.lastSequence,
        snapshot: result.snapshot,
        outputSchema: outputSchemaOf(result.snapshot),
        materialization: emptyMaterialization(),
      });
      this.logger.log({
        msg: 'fit done',
        pipeline: name,
        version: stored.version,
        records: result.recordCount,
        ms: Date.now() - started,
      });
      return versionView(stored);
    } catch (err) {
      this.fitErrors.set(name, err instanceof Error ? err.message : String(err));
      this.logger.warn({ msg: 'fit failed', pipeline: name, error: String(err) });
      throw err;
    } finally {
      this.fits.delete(name);
    }
  }

  /**
   * Writes one example per record the version was fitted on, to its train or validation subject.
   * Records that cannot be encoded are counted and reported, not written.
   */
  async materialize(name: string, version: number): Promise<PipelineVersion> {
    const entity = await this.pipeline(name);
    const fitted = await this.store.version(name, version);
    if (!fitted) throw new NotFoundError('pipeline version', `${name}/${version}`);
    const key = `${name}/${version}`;
    if (this.materializing.has(key))
      throw new ConflictError(`pipeline version ${key} is already being materialized`);
    const progress: Progress = { processed: 0 };
    this.materializing.set(key, progress);
    const started = Date.now();
    const state: MaterializationState = {
      ...emptyMaterialization(),
      status: 'running',
      run: (fitted.materialization.run ?? 0) + 1,
    };
    try {
      const source = await this.source(entity.source);
      state.stream = await prepareExamplesStream(
        this.nats,
        this.subjects,
        name,
        version,
        this.config.EXAMPLES_STREAM_REPLICAS,
      );
      await this.store.setMaterialization(name, version, state);
      this.logger.log({
        msg: 'materialize started',
        pipeline: name,
        version,
        records: fitted.recordCount,
      });
      const encoder = new PipelineEncoder(fitted.snapshot);
      const publisher = new ExamplesPublisher(
        this.nats,
        this.subjects,
        name,
        version,
        this.config.MATERIALIZE_IN_FLIGHT,
      );
      const errors: string[] = [];
      for await (const item of readRawRecords(
        this.nats,
        source.stream,
        source.idField,
        fitted.sourceSequence,
      )) {
        try {
          await publisher.publish(materializeRecord(encoder, version, item, state.run));
        } catch (err) {
          if (!(err instanceof RecordEncodeError)) throw err;
          state.counts.rejected += 1;
          if (errors.length < MAX_REPORTED_ERRORS) errors.push(err.message);
        }
        progress.processed += 1;
        if (progress.processed % this.config.PROGRESS_EVERY === 0) {
          this.logger.log({
            msg: 'materialize progress',
            pipeline: name,
            version,
            processed: progress.processed,
            total: fitted.recordCount,
          });
        }
      }
      await publisher.flush();
      Object.assign(state, {
        status: 'done',
        processed: progress.processed,
        counts: { ...publisher.counts, rejected: state.counts.rejected },
        finishedAt: new Date().toISOString(),
        ...(errors.length > 0 ? { firstErrors: errors } : {}),
      });
      this.logger.log({
        msg: 'materialize done',
        pipeline: name,
        version,
        ...state.counts,
        ms: Date.now() - started,
      });
    } catch (err) {
      Object.assign(state, {
        status: 'failed',
        processed: progress.processed,
        error: err instanceof Error ? err.message : String(err),
      });
      this.logger.warn({ msg: 'materialize failed', pipeline: name, version, error: String(err) });
      await this.store.setMaterialization(name, version, state).catch(() => undefined);
      throw err;
    } finally {
      this.materializing.delete(key);
    }
    await this.store.setMaterialization(name, version, state);
    return this.version(name, version);
  }

  /** For the AM: fit (always, or when no version exists) and materialize unless already done. */
  async prepare(payload: unknown): Promise<PipelinePrepareReply> {
    const request = parseInput(pipelinePrepareRequestSchema, payload, 'pipeline prepare request');
    const name = request.pipeline;
    await this.pipeline(name);
    const latest = await this.store.latest(name);
    let version =
      request.fit === 'always' || !latest ? (await this.fit(name)).version : latest.version;
    let view = await this.version(name, version);
    if (view.materialization.status !== 'done') view = await this.materialize(name, version);
    version = view.version;
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
    const running = this.fits.get(name);
    const error = this.fitErrors.get(name);
    return { ...(running ? { running } : {}), ...(error ? { error } : {}) };
  }

  private async pipeline(name: string) {
    const entity = await this.store.find(name);
    if (!entity) throw new NotFoundError('pipeline', name);
    return entity;
  }

  private source(name: string) {
    return describeSource(this.nats, this.subjects, name, this.config.SOURCE_DESCRIBE_TIMEOUT_MS);
  }
}
