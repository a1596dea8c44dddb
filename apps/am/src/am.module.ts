import { AM_ENTITIES, AM_MIGRATIONS } from '@dln/persistence';
import { PlatformModule } from '@dln/platform';
import { DynamicModule, Module } from '@nestjs/common';
import type { AmConfig } from './am.config';
import { JobsModule } from './jobs/jobs.module';
import { NodesModule } from './nodes/nodes.module';

/** The application manager: node registry, jobs, failover (see ARCHITECTURE.md). */
@Module({})
export class AmModule {
  static forRoot(config: AmConfig): DynamicModule {
    const nodes = NodesModule.forRoot({
      heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
      lossAfterMissed: config.NODE_LOSS_AFTER_MISSED,
      sweepIntervalMs: config.NODE_SWEEP_INTERVAL_MS,
      restoreGraceMs: config.NODE_RESTORE_GRACE_MS,
    });
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
        nodes,
        JobsModule.forRoot(
          {
            schedulingIntervalMs: config.JOB_SCHEDULING_INTERVAL_MS,
            describeTimeoutMs: config.PIPELINE_DESCRIBE_TIMEOUT_MS,
            prepareTimeoutMs: config.PIPELINE_PREPARE_TIMEOUT_MS,
            progressEventMs: config.JOB_PROGRESS_EVENT_MS,
            stopGraceMs: config.ROLE_STOP_GRACE_MS,
            exportGraceMs: config.EXPORT_GRACE_MS,
            stopAttempts: config.ROLE_STOP_ATTEMPTS,
            stopRetryMs: config.ROLE_STOP_RETRY_MS,
            orphanGraceMs: config.ORPHAN_ROLE_GRACE_MS,
            roleMissingGraceMs: config.ROLE_MISSING_GRACE_MS,
          },
          nodes,
        ),
      ],
    };
  }
}
