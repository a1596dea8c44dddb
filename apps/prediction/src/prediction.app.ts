import { createServiceApp, JsonLogger, MetricsService } from '@dln/platform';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import type { PredictionConfig } from './prediction.config';
import { PredictionModule } from './prediction.module';
import { TfServingErrorFilter } from './tf-serving-error.filter';

/** Header with the time the server spent on a request, from its arrival to its answer. */
export const SERVER_TIME_HEADER = 'x-server-time-ms';

const STARTED = Symbol('started');

type Timed = { [STARTED]?: bigint; routeOptions?: { url?: string } };

/**
 * The prediction app: bodies reach the handlers as raw bytes (parsed inline or in a worker
 * thread by the serving lib), and every answer says how long the server took (header and
 * histogram), which the benchmark reads.
 */
export async function createPredictionApp(
  config: PredictionConfig,
): Promise<NestFastifyApplication> {
  const app = await createServiceApp(PredictionModule.forRoot(config), {
    service: 'prediction',
    config,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
  });
  app.useGlobalFilters(new TfServingErrorFilter());
  app.useBodyParser(
    ['application/json', 'text/plain'],
    { bodyLimit: config.BODY_LIMIT_BYTES },
    (_request, body, done) => done(null, body),
  );
  const seconds = app
    .get(MetricsService)
    .histogram(
      'prediction_request_seconds',
      'Time from request arrival to answer',
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
      ['route', 'status'],
    );
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', (request, _reply, done) => {
    (request as Timed)[STARTED] = process.hrtime.bigint();
    done();
  });
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const started = (request as Timed)[STARTED];
    if (started !== undefined) {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      void reply.header(SERVER_TIME_HEADER, ms.toFixed(3));
      seconds.observe(
        {
          route: (request as Timed).routeOptions?.url ?? 'unmatched',
          status: String(reply.statusCode),
        },
        ms / 1000,
      );
    }
    done(null, payload);
  });
  return app;
}

/** Starts the app and logs the `listening` line with the bound port. */
export async function startPredictionApp(
  config: PredictionConfig,
): Promise<{ app: NestFastifyApplication; port: number }> {
  const app = await createPredictionApp(config);
  await app.listen(config.PORT, config.HOST);
  const port = (app.getHttpServer().address() as AddressInfo).port;
  // Always printed, whatever LOG_LEVEL: launchers and tests read the bound port from it.
  new JsonLogger('prediction', 'info').log({ msg: 'listening', port }, 'Bootstrap');
  return { app, port };
}
