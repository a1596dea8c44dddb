import { SharedNatsServer, NatsConnection } from '@dln/messaging';
import { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import type { BaseConfig } from './config';
import { JsonLogger } from './json-logger';
import { NATS_CONNECTION } from './tokens';

export interface ServiceAppOptions {
  service: string;
  config: BaseConfig;
  /** Largest request body accepted, in bytes; larger ones get 413 before any handler runs. */
  bodyLimitBytes?: number;
  /** Queue group for the service's NATS handlers, so replicas share the work. */
  queue?: string;
  /** Raw body parsers for extra content types (e.g. text/csv), given the body as a string. */
  textContentTypes?: string[];
  logger?: JsonLogger;
}

/**
 * Creates a service: Nest on Fastify, its NATS handlers on the shared connection under the
 * subject root, structured logs. Tests call this and `app.init()`; `main.ts` calls
 * `startService`, which also listens.
 */
export async function createServiceApp(
  rootModule: Type<unknown> | DynamicModule,
  options: ServiceAppOptions,
): Promise<NestFastifyApplication> {
  const logger = options.logger ?? new JsonLogger(options.service, options.config.LOG_LEVEL);
  const adapter = new FastifyAdapter({ bodyLimit: options.bodyLimitBytes ?? 1024 * 1024 });
  const textTypes = options.textContentTypes ?? [];
  if (textTypes.length > 0) {
    adapter
      .getInstance()
      .addContentTypeParser(textTypes, { parseAs: 'string' }, (_request, body, done) =>
        done(null, body),
      );
  }
  const app = await NestFactory.create<NestFastifyApplication>(rootModule, adapter, {
    logger,
    bufferLogs: false,
  });
  app.enableShutdownHooks();
  const nats = app.get<NatsConnection>(NATS_CONNECTION);
  app.connectMicroservice(
    {
      strategy: new SharedNatsServer(
        nats,
        options.config.SUBJECT_ROOT,
        options.queue ?? options.service,
      ),
    },
    { inheritAppConfig: true },
  );
  await app.startAllMicroservices();
  return app;
}

/** Starts a service and listens on its port (0 = any free port); returns the bound port. */
export async function startService(
  rootModule: Type<unknown> | DynamicModule,
  options: ServiceAppOptions & { port: number },
): Promise<{ app: INestApplication; port: number }> {
  const app = await createServiceApp(rootModule, options);
  await app.listen(options.port, options.config.HOST);
  const address = app.getHttpServer().address() as AddressInfo;
  // Always printed, whatever LOG_LEVEL: launchers and tests read the bound port from it.
  new JsonLogger(options.service, 'info').log(
    { msg: 'listening', port: address.port },
    'Bootstrap',
  );
  return { app, port: address.port };
}
