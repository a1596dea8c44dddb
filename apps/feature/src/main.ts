import 'reflect-metadata';
import { startService } from '@dln/platform';
import { loadFeatureConfig } from './feature.config';
import { FeatureModule } from './feature.module';

async function main(): Promise<void> {
  const config = loadFeatureConfig(process.env);
  await startService(FeatureModule.forRoot(config), {
    service: 'feature',
    config,
    port: config.PORT,
  });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', service: 'feature', msg: 'start failed', error: String(err) })}\n`,
  );
  process.exit(1);
});
