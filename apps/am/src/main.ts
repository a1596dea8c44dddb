import 'reflect-metadata';
import { startService } from '@dln/platform';
import { loadAmConfig } from './am.config';
import { AmModule } from './am.module';

async function main(): Promise<void> {
  const config = loadAmConfig(process.env);
  await startService(AmModule.forRoot(config), { service: 'am', config, port: config.PORT });
}

main().catch((err: unknown) => {
  process.stderr.write(`${JSON.stringify({ level: 'error', service: 'am', msg: 'start failed', error: String(err) })}\n`);
  process.exit(1);
});
