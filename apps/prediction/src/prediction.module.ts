import { selectBackend } from '@dln/ml';
import { MetricsService, PlatformModule } from '@dln/platform';
import { ModelRegistry, ParsePool, Predictor } from '@dln/serving';
import {
  DynamicModule,
  Logger,
  Module,
  OnApplicationShutdown,
  Inject,
  Optional,
} from '@nestjs/common';
import { ModelCatalogueService } from './model-catalogue.service';
import type { PredictionConfig } from './prediction.config';
import { PredictionController } from './prediction.controller';
import {
  BLOB_FETCH_THREAD,
  PARSE_POOL,
  PREDICTION_CONFIG,
  SCORING_METRICS,
} from './prediction.tokens';
import { BlobFetchThread } from './blob-fetch/blob-fetch-thread';
import { registerServingMetrics } from './serving.metrics';
import { ScorersController } from './scoring/scorers.controller';
import { ScorersService } from './scoring/scorers.service';
import { registerScoringMetrics } from './scoring/scoring.metrics';

/** Stops the worker threads with the app. */
class ThreadCloser implements OnApplicationShutdown {
  constructor(
    @Optional() @Inject(PARSE_POOL) private readonly pool?: ParsePool,
    @Optional() @Inject(BLOB_FETCH_THREAD) private readonly blobs?: BlobFetchThread,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.pool?.close(), this.blobs?.close()]);
  }
}

/** Direct prediction: loaded model versions behind TensorFlow Serving's REST API (ARCHITECTURE.md). */
@Module({})
export class PredictionModule {
  static forRoot(config: PredictionConfig): DynamicModule {
    return {
      module: PredictionModule,
      imports: [PlatformModule.forRoot({ service: 'prediction', config })],
      controllers: [PredictionController, ScorersController],
      providers: [
        { provide: PREDICTION_CONFIG, useValue: config },
        {
          provide: ModelRegistry,
          // The backend is chosen once, before any model is built.
          useFactory: async () => {
            await selectBackend(
              new Logger('Backend'),
              config.TFJS_BACKEND ? { force: config.TFJS_BACKEND } : {},
            );
            return new ModelRegistry();
          },
        },
        {
          provide: PARSE_POOL,
          useFactory: () =>
            config.PARSE_WORKERS > 0 ? new ParsePool(config.PARSE_WORKERS) : undefined,
        },
        {
          provide: BLOB_FETCH_THREAD,
          useFactory: () =>
            config.ARTIFACT_FETCH_THREAD === 'on'
              ? new BlobFetchThread({
                  connection: {
                    servers: config.NATS_URL,
                    name: 'prediction',
                    user: config.NATS_USER,
                    pass: config.NATS_PASSWORD,
                    token: config.NATS_TOKEN,
                  },
                }).start()
              : undefined,
        },
        {
          provide: Predictor,
          inject: [ModelRegistry, PARSE_POOL, MetricsService],
          useFactory: (
            registry: ModelRegistry,
            pool: ParsePool | undefined,
            metrics: MetricsService,
          ) => {
            const predictor = new Predictor(registry, { offloadBytes: config.OFFLOAD_BYTES }, pool);
            registerServingMetrics(metrics, predictor);
            return predictor;
          },
        },
        ModelCatalogueService,
        ScorersService,
        {
          provide: SCORING_METRICS,
          inject: [MetricsService, ScorersService],
          useFactory: (metrics: MetricsService, scorers: ScorersService) =>
            registerScoringMetrics(metrics, scorers),
        },
        ThreadCloser,
      ],
    };
  }
}
