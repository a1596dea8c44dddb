import { PlatformModule } from '@dln/platform';
import { DynamicModule, Module } from '@nestjs/common';
import type { IngestConfig } from './ingest.config';
import { INGEST_CONFIG } from './ingest.tokens';
import { IngestMetrics } from './records/ingest-metrics';
import { IngestHandlers } from './records/ingest.handlers';
import { IngestService } from './records/ingest.service';
import { RecordsController } from './records/records.controller';
import { CreateSources1764000000000 } from './sources/create-sources.migration';
import { SourceEntity } from './sources/source.entity';
import { SourcesController } from './sources/sources.controller';
import { SourcesService } from './sources/sources.service';

/** Content types whose bodies reach the records route as text (JSON is parsed by Fastify, once). */
export const INGEST_TEXT_CONTENT_TYPES = ['application/x-ndjson', 'application/ndjson', 'text/csv'];

/** The ingest service: source declarations, validation, raw streams (see ARCHITECTURE.md). */
@Module({})
export class IngestModule {
  static forRoot(config: IngestConfig): DynamicModule {
    return {
      module: IngestModule,
      imports: [
        PlatformModule.forRoot({
          service: 'ingest',
          config,
          database: {
            databaseUrl: config.DATABASE_URL,
            dataDir: config.DATA_DIR,
            schema: config.DB_SCHEMA,
            entities: [SourceEntity],
            migrations: [CreateSources1764000000000],
          },
        }),
      ],
      controllers: [SourcesController, RecordsController, IngestHandlers],
      providers: [
        { provide: INGEST_CONFIG, useValue: config },
        SourcesService,
        IngestService,
        IngestMetrics,
      ],
    };
  }
}
