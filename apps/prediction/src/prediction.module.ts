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
import { PARSE_POOL, PREDICTION_CONFIG, SCORING_METRICS } from './prediction.tokens';
import { registerServingMetrics } from './serving.metrics';
import { ScorersController } from './scoring/scorers.controller';
import { ScorersService } from './scoring/scorers.service';
import { registerScoringMetrics } from './scoring/scoring.metrics';

/** Stops the parse workers with the app. */
class PoolCloser implements OnApplicationShutdown {
  constructor(@Optional() @Inject(PARSE_POOL) private readonly pool?: ParsePool) {}
  async onApplicationShutdown(): Promise<void> {
    await this.pool?.close();
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
        PoolCloser,
      ],
    };
  }
}
