import {
  ControlPattern,
  ModelAnnouncement,
  modelAnnouncementSchema,
  modelCatalogueSchema,
  ModelVersion,
  parseInput,
  Subjects,
} from '@dln/contracts';
import { decodeJson, requestJson } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import { MetricsService, NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import {
  LoadedModel,
  ModelRegistry,
  ParsePool,
  ServedVersion,
  servableFromBlobs,
  ServingLimits,
  VersionState,
} from '@dln/serving';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { ArtifactSource } from './artifact-source';
import { FeatureAggregates } from './feature-aggregates';
import type { PredictionConfig } from './prediction.config';
import { BLOB_FETCH_THREAD, PARSE_POOL, PREDICTION_CONFIG } from './prediction.tokens';
import { BlobFetchThread } from './blob-fetch/blob-fetch-thread';
import { loadOrder, versionsToKeep } from './version-policy';

const round = (ms: number): number => Math.round(ms * 100) / 100;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Learns model versions from the AM (the catalogue at start, retried until the AM answers, then
 * announcements), loads their artifacts from the Object Store, and keeps the registry's defaults
 * in step. A new default is served only once loaded; the old one is retired after that.
 */
@Injectable()
export class ModelCatalogueService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ModelCatalogueService.name);
  private readonly artifacts: ArtifactSource;
  private readonly aggregates: FeatureAggregates;
  private readonly perModel = new Map<string, Promise<void>>();
  private readonly loadSeconds: Histogram<'phase'> | undefined;
  private readonly loadFailures: Counter | undefined;
  private subscription: { unsubscribe(): void } | undefined;
  private closed = false;
  private learned = false;
  private catalogueLearned: Promise<void> = Promise.resolve();

  constructor(
    readonly registry: ModelRegistry,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(PREDICTION_CONFIG) private readonly config: PredictionConfig,
    @Optional() @Inject(PARSE_POOL) private readonly pool?: ParsePool,
    @Optional() @Inject(BLOB_FETCH_THREAD) blobThread?: BlobFetchThread,
    @Optional() metrics?: MetricsService,
  ) {
    this.loadSeconds = metrics?.histogram(
      'prediction_version_load_seconds',
      'Loading one model version, by phase: fetch (artifact blobs), build (layers, weights, encoder), plan (op plan), total',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ['phase'],
    );
    this.loadFailures = metrics?.counter(
      'prediction_version_load_failures',
      'Model versions that could not be loaded (see the error log)',
    );
    this.artifacts = new ArtifactSource(nats, subjects, blobThread, (message) =>
      this.logger.warn(message),
    );
    this.aggregates = new FeatureAggregates(nats, subjects, config.AGGREGATES_TIMEOUT_MS);
  }

  get limits(): ServingLimits {
    return { maxInstances: this.config.MAX_INSTANCES, maxBatchRows: this.config.MAX_BATCH_ROWS };
  }

  onApplicationBootstrap(): void {
    // Subscribe before asking, so that no announcement falls between the catalogue and us.
    this.subscription = this.nats.subscribe(this.subjects.modelAnnouncements(), {
      callback: (error, msg) => {
        if (error) return;
        try {
          const announcement = parseInput(
            modelAnnouncementSchema,
            decodeJson(msg.data),
            'model announcement',
          );
          void this.onAnnouncement(announcement);
        } catch (cause) {
          this.logger.warn(`ignored a model announcement: ${String(cause)}`);
        }
      },
    });
    this.catalogueLearned = this.learnCatalogue();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.subscription?.unsubscribe();
    await this.catalogueLearned.catch(() => undefined);
  }

  /** Resolves once the AM's catalogue has been read and its versions loaded (tests, health). */
  whenCatalogueLearned(): Promise<void> {
    return this.catalogueLearned;
  }

  /** For /health: whether the catalogue was read, and each model's served default. */
  summary(): { catalogue: 'read' | 'waiting'; models: Record<string, number | null> } {
    const models: Record<string, number | null> = {};
    for (const model of this.registry.modelNames())
      models[model] = this.registry.defaultVersion(model);
    return { catalogue: this.learned ? 'read' : 'waiting', models };
  }

  private async catalogue(model?: string): Promise<ModelVersion[]> {
    const reply = await requestJson(
      this.nats,
      this.subjects.control(ControlPattern.modelCatalogue),
      model ? { model } : {},
      {
        reply: modelCatalogueSchema,
        what: 'model catalogue',
        timeoutMs: 5_000,
      },
    );
    return reply.versions;
  }

  private async learnCatalogue(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt += 1) {
      try {
        const versions = await this.catalogue();
        const models = [...new Set(versions.map((v) => v.model))];
        this.logger.log({
          msg: 'catalogue read',
          models: models.length,
          versions: versions.length,
        });
        await Promise.all(
          models.map((model) =>
            this.apply(
              model,
              versions.filter((v) => v.model === model),
            ),
          ),
        );
        this.learned = true;
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 30 === 0)
          this.logger.warn(`model catalogue not available yet (${String(error)}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, this.config.CATALOGUE_RETRY_MS));
      }
    }
  }

  private async onAnnouncement(announcement: ModelAnnouncement): Promise<void> {
    this.logger.log({ msg: 'model announced', ...announcement });
    try {
      // Asked inside the model's queue: a reply to an earlier announcement can never be applied
      // after a later one's (promote then pin in quick succession must end pinned).
      await this.apply(announcement.model, () => this.catalogue(announcement.model));
    } catch (error) {
      this.logger.error(
        `could not follow the announcement of ${announcement.model} v${announcement.version}: ${String(error)}`,
      );
    }
  }

  /** One model's changes run one after another. */
  private apply(
    model: string,
    versions: ModelVersion[] | (() => Promise<ModelVersion[]>),
  ): Promise<void> {
    const previous = this.perModel.get(model) ?? Promise.resolve();
    const next = previous.then(async () =>
      this.sync(model, typeof versions === 'function' ? await versions() : versions),
    );
    this.perModel.set(
      model,
      next.catch(() => undefined),
    );
    return next;
  }

  private async sync(model: string, versions: ModelVersion[]): Promise<void> {
    const keep = versionsToKeep(versions, this.config.KEEP_VERSIONS);
    const wantedDefault = versions.find((v) => v.isDefault)?.version ?? null;
    for (const v of versions) {
      if (keep.has(v.version) && this.registry.state(model, v.version) === undefined)
        this.registry.mark(model, v.version, VersionState.Start);
    }
    this.registry.setDefault(model, wantedDefault);
    // Versions to (re)load: new ones, and ones that failed or were unloaded and are wanted again.
    // One at a time (see loadOrder): concurrent loads ran their steps back to back on the loop.
    const loads = loadOrder(
      versions.filter((v) => {
        const state = this.registry.state(model, v.version);
        return keep.has(v.version) && (state === VersionState.Start || state === VersionState.End);
      }),
      wantedDefault,
    );
    for (const version of loads) await this.load(version);
    for (const version of this.registry.availableVersions(model)) {
      if (!keep.has(version)) this.retire(model, version);
    }
  }

  private async load(version: ModelVersion): Promise<void> {
    const { model } = version;
    this.registry.mark(model, version.version, VersionState.Loading);
    const started = performance.now();
    try {
      const blobs = await this.artifacts.blobs(version);
      const fetched = performance.now();
      const servable = await servableFromBlobs(
        blobs,
        (source) => this.artifacts.declaration(source),
        (pipeline) => this.aggregates.describe(pipeline),
      );
      if (!servable.source)
        this.logger.warn(
          `${model} v${version.version}: no source declaration; timestamps must be epoch ms`,
        );
      // Loading runs on the event loop that answers requests: yield between its synchronous
      // steps, so that requests waiting meanwhile are answered between them (swap p99).
      await nextTurn();
      const loaded = new LoadedModel(
        model,
        version.version,
        servable,
        this.limits,
        this.aggregates,
        { plan: 'later' },
      );
      const built = performance.now();
      await nextTurn();
      await loaded.compilePlan();
      const planned = performance.now();
      this.pool?.register(model, version.version, loaded.encodingSpec(this.limits));
      this.registry.available(model, new ServedVersion(loaded, this.limits));
      const ms = {
        fetch: round(fetched - started),
        build: round(built - fetched),
        plan: round(planned - built),
        total: round(performance.now() - started),
      };
      for (const [phase, value] of Object.entries(ms))
        this.loadSeconds?.observe({ phase }, value / 1000);
      this.logger.log({
        msg: 'version loaded',
        model,
        version: version.version,
        default: this.registry.defaultVersion(model),
        ms,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.registry.mark(model, version.version, VersionState.End, `loading failed: ${message}`);
      this.loadFailures?.inc();
      this.logger.error(`${model} v${version.version} could not be loaded: ${message}`);
    }
  }

  private retire(model: string, version: number): void {
    this.registry.retire(model, version);
    this.pool?.drop(model, version);
    this.logger.log({ msg: 'version unloaded', model, version });
  }
}
