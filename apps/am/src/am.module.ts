import { AM_ENTITIES, AM_MIGRATIONS } from '@dln/persistence';
import { PlatformModule } from '@dln/platform';
import { DynamicModule, Module } from '@nestjs/common';
import type { AmConfig } from './am.config';
import { NodesModule } from './nodes/nodes.module';

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
            entities: AM_ENTITIES,
            migrations: AM_MIGRATIONS,
          },
        }),
        NodesModule.forRoot({
          heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
          lossAfterMissed: config.NODE_LOSS_AFTER_MISSED,
          sweepIntervalMs: config.NODE_SWEEP_INTERVAL_MS,
        }),
      ],
    };
  }
}
