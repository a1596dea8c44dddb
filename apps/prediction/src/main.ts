import 'reflect-metadata';
import { loadPredictionConfig } from './prediction.config';
import { startPredictionApp } from './prediction.app';

async function main(): Promise<void> {
  await startPredictionApp(loadPredictionConfig(process.env));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', service: 'prediction', msg: 'start failed', error: String(err) })}\n`,
  );
  process.exit(1);
});
