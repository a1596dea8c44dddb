import {
  ConflictError,
  NotFoundError,
  parseInput,
  SourceDescription,
  StreamAggregatesBatchReply,
  streamAggregatesBatchRequestSchema,
  StreamAggregatesReply,
  streamAggregatesRequestSchema,
  StreamPipelineRecord,
  streamPipelineSpecSchema,
  StreamPipelineView,
  StreamSnapshot,
  streamSnapshotRequestSchema,
  Subjects,
  UnavailableError,
  ValidationError,
} from '@dln/contracts';
import { aggregateAt, aggregateValue, assertStreamFitsSources } from '@dln/features';
import type { NatsConnection } from '@dln/messaging';
import { DataSource } from '@dln/persistence';
import { DATA_SOURCE, NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import type { FeatureConfig } from '../feature.config';
import { FEATURE_CONFIG } from '../feature.tokens';
import { PipelineStore } from '../pipelines/pipeline-store';
import { readAggregatesBatch } from './aggregate-reads';
import { describeSource } from '../pipelines/source-client';
import { ensureStreamExamples } from './stream-examples-publisher';
import { StreamRunner } from './stream-runner';
import { StreamStore } from './stream-store';

/**
 * Stream pipelines: declared and switched on/off through the `features` KV bucket, so every
 * instance sees them; each instance runs its partition group of every running pipeline
 * (reconciled every STREAM_RECONCILE_MS), and answers snapshot and aggregate reads from KV.
 */
@Injectable()
export class StreamsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(StreamsService.name);
  private storePromise: Promise<StreamStore> | undefined;
  private readonly runners = new Map<string, StreamRunner>();
  private readonly startErrors = new Map<string, string>();
  private readonly batch: PipelineStore;
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private closing = false;

  constructor(
    @Inject(DATA_SOURCE) dataSource: DataSource,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(FEATURE_CONFIG) private readonly config: FeatureConfig,
  ) {
    this.batch = new PipelineStore(dataSource);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.reconcile(), this.config.STREAM_RECONCILE_MS);
    void this.reconcile();
  }

  /** Graceful shutdown: every runner writes a final checkpoint. */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    await this.reconciling;
    await Promise.all([...this.runners.values()].map((r) => r.stop(true)));
    this.runners.clear();
  }

  private store(): Promise<StreamStore> {
    this.storePromise ??= StreamStore.open(
      this.nats,
      this.subjects,
      this.config.FEATURES_KV_REPLICAS,
    ).catch((err: unknown) => {
      this.storePromise = undefined;
      throw err;
    });
    return this.storePromise;
  }

  /** `POST /v1/pipelines` with `mode: 'stream'`: validated against both sources; 409 while running. */
  async declare(body: unknown): Promise<{ created: boolean; view: StreamPipelineView }> {
    const spec = parseInput(streamPipelineSpecSchema, body, 'stream pipeline');
    if (await this.batch.find(spec.name))
      throw new ConflictError(`"${spec.name}" is a batch pipeline`);
    const sources = await this.sources(spec.source, spec.join?.source);
    assertStreamFitsSources(spec, sources.event.declaration, sources.label?.declaration);
    const store = await this.store();
    const existing = await store.spec(spec.name);
    if (existing?.running)
      throw new ConflictError(`stream pipeline "${spec.name}" is running: stop it first`);
    const now = new Date().toISOString();
    await store.putSpec({
      spec,
      running: false,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    });
    this.logger.log({
      msg: existing ? 'stream pipeline updated' : 'stream pipeline created',
      pipeline: spec.name,
    });
    return { created: !existing, view: await this.view(spec.name) };
  }

  async isStream(name: string): Promise<boolean> {
    return (await (await this.store()).spec(name)) !== undefined;
  }

  async start(name: string): Promise<StreamPipelineView> {
    await this.setRunning(name, true);
    await this.reconcile();
    const failure = this.runners.get(name)?.failure ?? this.startErrors.get(name);
    if (failure) throw new UnavailableError(`stream pipeline "${name}" did not start: ${failure}`);
    return this.view(name);
  }

  async stop(name: string): Promise<StreamPipelineView> {
    await this.setRunning(name, false);
    await this.reconcile();
    return this.view(name);
  }

  async view(name: string): Promise<StreamPipelineView> {
    const store = await this.store();
    const record = await this.record(name);
    const runner = this.runners.get(name);
    const stored = await store.statuses(name);
    const groups = runner
      ? [
          ...stored.filter(
            (s) => !(s.group === runner.status().group && s.groups === runner.status().groups),
          ),
          runner.status(),
        ]
      : stored;
    return {
      ...record,
      examples: {
        stream: this.subjects.streamExamplesStream(name),
        subject: this.subjects.streamExamples(name),
      },
      groups: groups.sort((a, b) => a.groups - b.groups || a.group - b.group),
      latestSnapshot: await store.latestSnapshotVersion(name),
    };
  }

  async snapshot(payload: unknown): Promise<StreamSnapshot> {
    const request = parseInput(streamSnapshotRequestSchema, payload, 'stream snapshot request');
    const store = await this.store();
    await this.record(request.pipeline);
    const version = request.version ?? (await store.latestSnapshotVersion(request.pipeline));
    const snapshot = version > 0 ? await store.snapshot(request.pipeline, version) : undefined;
    if (!snapshot)
      throw new NotFoundError(
        'stream snapshot',
        `${request.pipeline}/${request.version ?? 'latest'}`,
      );
    return snapshot;
  }

  /** Serving read: each aggregate of a record at `at`, from the per-key states in KV. */
  async aggregates(payload: unknown): Promise<StreamAggregatesReply> {
    const request = parseInput(streamAggregatesRequestSchema, payload, 'stream aggregates request');
    const { spec } = await this.record(request.pipeline);
    const store = await this.store();
    let exact = true;
    const values = await Promise.all(
      spec.aggregates.map(async (aggregate) => {
        const key = request.record[aggregate.key];
        if (key === undefined || key === null || key === '') {
          throw new ValidationError(
            `the record has no "${aggregate.key}" (key of ${aggregate.name})`,
            [{ path: `record.${aggregate.key}`, message: 'missing' }],
          );
        }
        const state = await store.aggregate(request.pipeline, aggregate.name, String(key));
        const totals = state
          ? aggregateAt(state, aggregate.window, request.at)
          : { count: 0, sum: 0, exact: true };
        exact &&= totals.exact;
        return {
          name: aggregate.name,
          value: aggregateValue(aggregate, totals),
          count: totals.count,
        };
      }),
    );
    return { pipeline: request.pipeline, at: request.at, values, exact };
  }

  /** Serving read of many records in one request (each key's state read once). */
  async aggregatesBatch(payload: unknown): Promise<StreamAggregatesBatchReply> {
    const request = parseInput(
      streamAggregatesBatchRequestSchema,
      payload,
      'stream aggregates batch request',
    );
    const { spec } = await this.record(request.pipeline);
    const store = await this.store();
    return readAggregatesBatch(spec, request, (feature, key) =>
      store.aggregate(request.pipeline, feature, key),
    );
  }

  private async record(name: string): Promise<StreamPipelineRecord> {
    const record = await (await this.store()).spec(name);
    if (!record) throw new NotFoundError('stream pipeline', name);
    return record;
  }

  private async setRunning(name: string, running: boolean): Promise<void> {
    const record = await this.record(name);
    await (await this.store()).putSpec({ ...record, running, updatedAt: new Date().toISOString() });
  }

  private async sources(
    event: string,
    label?: string,
  ): Promise<{ event: SourceDescription; label?: SourceDescription }> {
    const timeout = this.config.SOURCE_DESCRIBE_TIMEOUT_MS;
    const eventSource = await describeSource(this.nats, this.subjects, event, timeout);
    if (label === undefined) return { event: eventSource };
    return {
      event: eventSource,
      label: await describeSource(this.nats, this.subjects, label, timeout),
    };
  }

  /** Starts this instance's group of every running pipeline, stops the others. */
  reconcile(): Promise<void> {
    this.reconciling ??= this.reconcileOnce()
      .catch((err: unknown) =>
        this.logger.warn({ msg: 'stream reconcile failed', error: String(err) }),
      )
      .finally(() => {
        this.reconciling = undefined;
      });
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    if (this.closing) return;
    const records = await (await this.store()).specs();
    const wanted = new Map(records.filter((r) => r.running).map((r) => [r.spec.name, r]));
    for (const [name, runner] of this.runners) {
      if (!wanted.has(name) || runner.failure !== undefined) {
        this.runners.delete(name);
        await runner.stop(true);
        this.logger.log({ msg: 'stream stopped', pipeline: name, failure: runner.failure });
      }
    }
    for (const [name, record] of wanted) {
      if (this.runners.has(name) || this.closing) continue;
      const sources = await this.sources(record.spec.source, record.spec.join?.source);
      await ensureStreamExamples(this.nats, this.subjects, name, {
        replicas: this.config.EXAMPLES_STREAM_REPLICAS,
        duplicateWindowMs: this.config.STREAM_EXAMPLES_DUPLICATE_WINDOW_MS,
      });
      const runner = new StreamRunner(
        this.nats,
        this.subjects,
        await this.store(),
        record.spec,
        sources,
        {
          group: this.config.STREAM_GROUP_INDEX,
          groups: this.config.STREAM_GROUP_COUNT,
          checkpointMs: this.config.STREAM_CHECKPOINT_MS,
          maxAckPending: this.config.STREAM_MAX_ACK_PENDING,
          ackWaitMs: this.config.STREAM_ACK_WAIT_MS,
          examplesInFlight: this.config.MATERIALIZE_IN_FLIGHT,
        },
      );
      this.runners.set(name, runner);
      try {
        await runner.start();
        this.startErrors.delete(name);
      } catch (err) {
        this.runners.delete(name);
        await runner.stop(false);
        this.startErrors.set(name, err instanceof Error ? err.message : String(err));
        this.logger.warn({
          msg: 'stream start failed',
          pipeline: name,
          error: this.startErrors.get(name),
        });
      }
    }
  }
}
