import { PlatformModule } from '@dln/platform';
import { DynamicModule, Module } from '@nestjs/common';
import type { AmConfig } from './am.config';

/** The application manager: node registry, jobs, failover (see ARCHITECTURE.md). */
@Module({})
export class AmModule {
  static forRoot(config: AmConfig): DynamicModule {
    return {
      module: AmModule,
      imports: [
        PlatformModule.forRoot({
          service: 'am',
          config,
          database: {
            databaseUrl: config.DATABASE_URL,
            dataDir: config.DATA_DIR,
            schema: config.DB_SCHEMA,
            entities: [],
            migrations: [],
          },
        }),
      ],
    };
  }
}
