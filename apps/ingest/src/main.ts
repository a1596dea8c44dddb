import 'reflect-metadata';
import { startService } from '@dln/platform';
import { loadIngestConfig } from './ingest.config';
import { INGEST_TEXT_CONTENT_TYPES, IngestModule } from './ingest.module';

async function main(): Promise<void> {
  const config = loadIngestConfig(process.env);
  await startService(IngestModule.forRoot(config), {
    service: 'ingest',
    config,
    port: config.PORT,
    bodyLimitBytes: config.INGEST_MAX_BODY_BYTES,
    textContentTypes: INGEST_TEXT_CONTENT_TYPES,
  });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', service: 'ingest', msg: 'start failed', error: String(err) })}\n`,
  );
  process.exit(1);
});
