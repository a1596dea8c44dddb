import 'reflect-metadata';
import { startService } from '@dln/platform';
import { loadAmConfig } from './am.config';
import { AmModule } from './am.module';
import { runWithLease } from './lease/run-with-lease';

async function main(): Promise<void> {
  const config = loadAmConfig(process.env);
  // The lease needs a database both AMs share: with SQLite there is one AM, always active.
  if (config.DATABASE_URL) return runWithLease(config);
  await startService(AmModule.forRoot(config), { service: 'am', config, port: config.PORT });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', service: 'am', msg: 'start failed', error: String(err) })}\n`,
  );
  process.exit(1);
});
