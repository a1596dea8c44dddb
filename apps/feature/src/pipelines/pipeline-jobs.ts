import { PipelineVersion, Subjects } from '@dln/contracts';
import {
  analyzeAll,
  assertPipelineFitsSource,
  materializeRecord,
  outputSchemaOf,
  PipelineEncoder,
  RecordEncodeError,
} from '@dln/features';
import type { NatsConnection } from '@dln/messaging';
import { Logger } from '@nestjs/common';
import type { FeatureConfig } from '../feature.config';
import { ExamplesPublisher, prepareExamplesStream } from './examples-writer';
import { MaterializationState, PipelineEntity, PipelineVersionEntity } from './pipeline.entities';
import { PipelineStore } from './pipeline-store';
import { emptyMaterialization, Progress, versionView } from './pipeline-views';
import { rawStreamExtent, readRawRecords } from './raw-reader';
import { describeSource } from './source-client';

/** Errors of one materialization kept for the client to see (the count has them all). */
const MAX_REPORTED_ERRORS = 20;

/** The two long batch jobs of a pipeline: fit (analyze the source) and materialize (write examples). */
export class PipelineJobs {
  private readonly logger = new Logger('PipelineJobs');

  constructor(
    private readonly nats: NatsConnection,
    private readonly subjects: Subjects,
    private readonly store: PipelineStore,
    private readonly config: FeatureConfig,
  ) {}

  source(name: string) {
    return describeSource(this.nats, this.subjects, name, this.config.SOURCE_DESCRIBE_TIMEOUT_MS);
  }

  /** Reads every stored record of the source once; stores the fitted snapshot as version N+1. */
  async fit(pipeline: PipelineEntity, progress: Progress): Promise<PipelineVersion> {
    const { name } = pipeline;
    const started = Date.now();
    const source = await this.source(pipeline.source);
    assertPipelineFitsSource(pipeline.spec, source.declaration);
    const extent = await rawStreamExtent(this.nats, source.stream);
    const total = extent.messages;
    this.logger.log({
      msg: 'fit started',
      pipeline: name,
      source: pipeline.source,
      records: total,
    });
    const records = readRawRecords(this.nats, source.stream, source.idField, extent.lastSequence);
    const result = await analyzeAll(pipeline.spec, records, {
      every: this.config.PROGRESS_EVERY,
      onProgress: (processed) => {
        progress.processed = processed;
        this.logger.log({ msg: 'fit progress', pipeline: name, processed, total });
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
    const ms = Date.now() - started;
    this.logger.log({
      msg: 'fit done',
      pipeline: name,
      version: stored.version,
      records: result.recordCount,
      ms,
    });
    return versionView(stored);
  }

  /**
   * Writes one example per record the version was fitted on, to its train or validation subject,
   * after removing the version's earlier examples. Records that cannot be encoded are counted
   * and reported, not written.
   */
  async materialize(
    pipeline: PipelineEntity,
    fitted: PipelineVersionEntity,
    progress: Progress,
  ): Promise<void> {
    const { name } = pipeline;
    const { version } = fitted;
    const started = Date.now();
    const state: MaterializationState = {
      ...emptyMaterialization(),
      status: 'running',
      run: (fitted.materialization.run ?? 0) + 1,
    };
    try {
      const source = await this.source(pipeline.source);
      const replicas = this.config.EXAMPLES_STREAM_REPLICAS;
      state.stream = await prepareExamplesStream(this.nats, this.subjects, name, version, replicas);
      await this.store.setMaterialization(name, version, state);
      this.logger.log({
        msg: 'materialize started',
        pipeline: name,
        version,
        records: fitted.recordCount,
      });
      const encoder = new PipelineEncoder(fitted.snapshot);
      const inFlight = this.config.MATERIALIZE_IN_FLIGHT;
      const publisher = new ExamplesPublisher(this.nats, this.subjects, name, version, inFlight);
      const errors: string[] = [];
      const records = readRawRecords(
        this.nats,
        source.stream,
        source.idField,
        fitted.sourceSequence,
      );
      for await (const item of records) {
        try {
          await publisher.publish(materializeRecord(encoder, version, item, state.run));
        } catch (err) {
          if (!(err instanceof RecordEncodeError)) throw err;
          state.counts.rejected += 1;
          if (errors.length < MAX_REPORTED_ERRORS) errors.push(err.message);
        }
        progress.processed += 1;
        if (progress.processed % this.config.PROGRESS_EVERY === 0) {
          const { processed } = progress;
          this.logger.log({
            msg: 'materialize progress',
            pipeline: name,
            version,
            processed,
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
      await this.store.setMaterialization(name, version, state);
      this.logger.log({
        msg: 'materialize done',
        pipeline: name,
        version,
        ...state.counts,
        ms: Date.now() - started,
      });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      Object.assign(state, { status: 'failed', processed: progress.processed, error });
      this.logger.warn({ msg: 'materialize failed', pipeline: name, version, error });
      await this.store.setMaterialization(name, version, state).catch(() => undefined);
      throw err;
    }
  }
}
