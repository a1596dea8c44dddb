import { Launcher } from './launcher';
import { stackConfigFrom, startStack, urlOf } from './stack';

/** `npm run services`: the stack in the foreground, for users who bring their own data. */
async function main(): Promise<void> {
  const config = stackConfigFrom(process.env);
  const launcher = new Launcher(`${config.dataDir}/logs`);
  launcher.stopOnSignals();
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    await startStack(config, launcher, say);
  } catch (err) {
    say(`error: ${err instanceof Error ? err.message : String(err)}`);
    await launcher.stopAll();
    process.exit(1);
  }
  say(
    `\nREST: am ${urlOf(config, 'am')}  ingest ${urlOf(config, 'ingest')}  feature ${urlOf(config, 'feature')}  prediction ${urlOf(config, 'prediction')}`,
  );
  say(`logs: ${config.dataDir}/logs/*.log   subject root: ${config.subjectRoot}`);
  say('Ctrl-C stops everything.');
}

void main();
