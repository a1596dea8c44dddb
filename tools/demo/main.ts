import { Subjects } from '@dln/contracts';
import { loadFlights } from '@dln/testing';
import { prepareFlightsFeatures } from './features-step';
import { ingestFlights } from './ingest-step';
import { heldOutFlights, scoreFlights, waitForModel } from './predict-step';
import { trainFlights } from './training-step';
import { Launcher } from './launcher';
import { StackConfig, stackConfigFrom, startStack, urlOf } from './stack';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/**
 * The main job: the whole stack as separate processes, the real flights data ingested, its
 * features fitted and materialized. Stays up until Ctrl-C (DEMO_EXIT=1: stop when done).
 */
async function main(): Promise<void> {
  const config = stackConfigFrom(process.env);
  const launcher = new Launcher(`${config.dataDir}/logs`);
  launcher.stopOnSignals();
  try {
    await runDemo(config, launcher);
  } catch (err) {
    say(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
    say(`service logs: ${config.dataDir}/logs/`);
    await launcher.stopAll();
    process.exit(1);
  }
}

async function runDemo(config: StackConfig, launcher: Launcher): Promise<void> {
  const subjects = new Subjects(config.subjectRoot);
  const source = 'flights';
  const pipeline = 'flights';

  say('== dl-on-nats demo: flights delays ==');
  await startStack(config, launcher, say);

  const flights = loadFlights();
  say(`\n-- ingest: ${flights.length} flights from vega-datasets/data/flights-20k.json over REST`);
  const stored = await ingestFlights(urlOf(config, 'ingest'), source, flights);
  say(
    `stored ${stored} records in stream ${subjects.rawStream(source)} (${subjects.rawAll(source)})`,
  );

  say('\n-- features: fit and materialize the flights pipeline');
  const version = await prepareFlightsFeatures(urlOf(config, 'feature'), pipeline, source, stored);
  const { counts } = version.materialization;
  say(
    `pipeline ${pipeline} v${version.version}: ${version.outputSchema.denseWidth} dense values + ` +
      `${version.outputSchema.ids.length} id columns per example; ${counts.train} train / ${counts.validation} validation examples ` +
      `in stream ${subjects.examplesStream(pipeline)}`,
  );

  say('\n-- training: 2 workers + 1 parameter server, live progress');
  const job = await trainFlights(urlOf(config, 'am'), pipeline, version.version, say);
  if (job.state !== 'SUCCEEDED' || job.modelVersion === null)
    throw new Error(`job ${job.id} ended ${job.state}: ${job.reason ?? ''}`);
  const last = job.validation[job.validation.length - 1];
  say(
    `model ${job.spec.output.model} v${job.modelVersion}: validation AUC ${last?.metrics.auc?.toFixed(4) ?? '-'}, log loss ${last?.metrics.loss.toFixed(4) ?? '-'}`,
  );

  say('\n-- prediction: held-out flights scored through REST');
  await waitForModel(urlOf(config, 'prediction'), job.spec.output.model, job.modelVersion);
  const heldOut = heldOutFlights(
    flights,
    version.snapshot.spec.split.validationFraction,
    version.snapshot.spec.split.seed,
    6,
  );
  const scores = await scoreFlights(urlOf(config, 'prediction'), job.spec.output.model, heldOut);
  heldOut.forEach((flight, i) => {
    say(
      `  ${flight.date} ${flight.origin}->${flight.destination} ${String(flight.distance).padStart(4)} mi: P(delay>15) ${scores[i]!.toFixed(3)}  (actual delay ${flight.delay} min)`,
    );
  });

  say('\n-- where everything is');
  say(`am         ${urlOf(config, 'am')}/v1/jobs/${job.id}, /v1/nodes, /v1/models`);
  say(`ingest     ${urlOf(config, 'ingest')}/v1/sources/${source}`);
  say(
    `feature    ${urlOf(config, 'feature')}/v1/pipelines/${pipeline}/versions/${version.version}`,
  );
  say(`prediction ${urlOf(config, 'prediction')}/v1/models/${job.spec.output.model}:predict`);
  say(
    `NATS ${config.natsUrl} (subject root "${config.subjectRoot}"), SQLite files and logs in ${config.dataDir}`,
  );
  if (process.env['DEMO_EXIT'] === '1') {
    await launcher.stopAll();
    return;
  }
  say('\nEverything keeps running; Ctrl-C stops what this command started.');
}

void main();
