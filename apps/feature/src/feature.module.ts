import { PlatformModule } from '@dln/platform';
import { DynamicModule, Module } from '@nestjs/common';
import type { FeatureConfig } from './feature.config';
import { FEATURE_CONFIG } from './feature.tokens';
import { CreatePipelines1764100000000 } from './pipelines/create-pipelines.migration';
import { PipelineEntity, PipelineVersionEntity } from './pipelines/pipeline.entities';
import { PipelinesController } from './pipelines/pipelines.controller';
import { PipelinesHandlers } from './pipelines/pipelines.handlers';
import { PipelinesService } from './pipelines/pipelines.service';
import { StreamsController } from './streams/streams.controller';
import { StreamsHandlers } from './streams/streams.handlers';
import { StreamsService } from './streams/streams.service';

/** The feature service: pipelines, their fitted versions, materialized examples, stream pipelines (see ARCHITECTURE.md). */
@Module({})
export class FeatureModule {
  static forRoot(config: FeatureConfig): DynamicModule {
    return {
      module: FeatureModule,
      imports: [
        PlatformModule.forRoot({
          service: 'feature',
          config,
          database: {
            databaseUrl: config.DATABASE_URL,
            dataDir: config.DATA_DIR,
            schema: config.DB_SCHEMA,
            entities: [PipelineEntity, PipelineVersionEntity],
            migrations: [CreatePipelines1764100000000],
          },
        }),
      ],
      controllers: [PipelinesController, PipelinesHandlers, StreamsController, StreamsHandlers],
      providers: [{ provide: FEATURE_CONFIG, useValue: config }, PipelinesService, StreamsService],
    };
  }
}
