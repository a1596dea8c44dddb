import { Subjects } from '@dln/contracts';
import { connectNats } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import { DatabaseOptions, openDatabase } from '@dln/persistence';
import {
  DynamicModule,
  Global,
  Inject,
  Module,
  OnApplicationShutdown,
  Provider,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { ApiKeyGuard } from './api-key.guard';
import type { BaseConfig } from './config';
import { ErrorFilter } from './error-filter';
import { HealthController, HealthService } from './health';
import { MetricsController, MetricsService } from './metrics';
import { DATA_SOURCE, NATS_CONNECTION, SERVICE_CONFIG, SERVICE_NAME, SUBJECTS } from './tokens';

export interface PlatformOptions {
  service: string;
  config: BaseConfig;
  /** Services that keep SQL state name their tables here. */
  database?: Omit<DatabaseOptions, 'service'>;
}

/** Closes the shared connections when the app shuts down. */
class ConnectionCloser implements OnApplicationShutdown {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    private readonly dataSource?: DataSource,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.nats.isClosed()) await this.nats.drain().catch(() => this.nats.close());
    if (this.dataSource?.isInitialized) await this.dataSource.destroy();
  }
}

/**
 * What every service shares: validated config, the one NATS connection, subjects under the
 * configured root, the database (when it has one), /health, /metrics, error mapping, API key.
 */
@Global()
@Module({})
export class PlatformModule {
  static forRoot(options: PlatformOptions): DynamicModule {
    const { config, service } = options;
    const providers: Provider[] = [
      { provide: SERVICE_NAME, useValue: service },
      { provide: SERVICE_CONFIG, useValue: config },
      { provide: SUBJECTS, useValue: new Subjects(config.SUBJECT_ROOT) },
      {
        provide: NATS_CONNECTION,
        useFactory: () =>
          connectNats({
            servers: config.NATS_URL,
            name: service,
            user: config.NATS_USER,
            pass: config.NATS_PASSWORD,
            token: config.NATS_TOKEN,
          }),
      },
      MetricsService,
      HealthService,
      { provide: APP_FILTER, useClass: ErrorFilter },
      { provide: APP_GUARD, useClass: ApiKeyGuard },
    ];
    const database = options.database;
    if (database) {
      providers.push({
        provide: DATA_SOURCE,
        useFactory: () => openDatabase({ ...database, service }),
      });
      providers.push({
        provide: ConnectionCloser,
        inject: [NATS_CONNECTION, DATA_SOURCE],
        useFactory: (nats: NatsConnection, dataSource: DataSource) =>
          new ConnectionCloser(nats, dataSource),
      });
    } else {
      providers.push({
        provide: ConnectionCloser,
        inject: [NATS_CONNECTION],
        useFactory: (nats: NatsConnection) => new ConnectionCloser(nats),
      });
    }
    return {
      module: PlatformModule,
      controllers: [HealthController, MetricsController],
      providers,
      exports: [
        SERVICE_NAME,
        SERVICE_CONFIG,
        SUBJECTS,
        NATS_CONNECTION,
        MetricsService,
        HealthService,
        ...(database ? [DATA_SOURCE] : []),
      ],
    };
  }
}
