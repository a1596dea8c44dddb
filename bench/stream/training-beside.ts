import {
  flightArrivals,
  flightDelaysStreamPipeline,
  flightEventsSource,
  flightLabelsSource,
  flightsByDepartureTime,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { BesideStack, rest as ok } from './beside-stack';

const LABEL_LAG_MS = 30 * 60_000;
const PIPELINE = 'delays-beside';
/** Records/s the training's producer sends (events and labels) while the scoring round runs. */
const TRAINING_RECORDS_PER_S = 1_000;

/**
 * A streaming training job running beside the bench's scorer: its own stack (ingest, feature,
 * AM, a ps node, a worker node) under its own
 * subject root, on the same machine, learning from flights replayed by date with delayed labels
 * (as e2e streaming) fed at TRAINING_RECORDS_PER_S until stopped. Returns its stop.
 */
export async function startTrainingBeside(
  log: (line: string) => void,
): Promise<() => Promise<void>> {
  const stack = await BesideStack.start(uniqueRoot('bench_beside'));
  let producing = true;
  let producer: Promise<void> = Promise.resolve();
  const stop = async (): Promise<void> => {
    producing = false;
    await producer.catch(() => undefined);
    await stack.stop();
  };
  try {
    const ingest = stack.url('ingest');
    const feature = stack.url('feature');
    const am = stack.url('am');
    for (const declaration of [flightEventsSource(), flightLabelsSource()])
      await ok('POST', `${ingest}/v1/sources`, declaration);
    await ok('POST', `${feature}/v1/pipelines`, flightDelaysStreamPipeline(PIPELINE, LABEL_LAG_MS));
    await ok('POST', `${feature}/v1/pipelines/${PIPELINE}/stream/start`);
    const job = await ok<{ id: string }>('POST', `${am}/v1/jobs`, {
      name: 'delays-beside',
      mode: 'stream',
      examples: { pipeline: PIPELINE },
      model: { kind: 'wide_and_deep', embeddings: [{ column: 'origin', dim: 4 }], deepHidden: [8] },
      training: { batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, seed: 3 },
      cluster: { workers: 1, ps: 1 },
      output: { model: 'delays-beside', promotion: { metric: 'loss', margin: 1e6 } },
      stream: { exportEvery: { steps: 50, seconds: 5 }, keepVersions: 2, progressiveWindow: 500 },
    });
    await waitFor(
      'the training job to run',
      async () =>
        (await ok<{ state: string }>('GET', `${am}/v1/jobs/${job.id}`)).state === 'RUNNING',
      90_000,
      250,
    );
    const replay = flightArrivals(flightsByDepartureTime(), LABEL_LAG_MS);
    const chunk = TRAINING_RECORDS_PER_S / 10;
    producer = (async () => {
      for (let i = 0; producing && i < replay.length; i += chunk) {
        const started = performance.now();
        const slice = replay.slice(i, i + chunk);
        for (const source of ['flights', 'delays']) {
          const records = slice.filter((a) => a.source === source).map((a) => a.record);
          if (records.length > 0)
            await ok('POST', `${ingest}/v1/sources/${source}/records`, records);
        }
        const wait = 100 - (performance.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    })();
    // Wait for the first examples to be trained on, so the round measures a working job.
    await waitFor(
      'the training job to learn',
      async () =>
        ((await ok<{ progress: { examplesSeen?: number } }>('GET', `${am}/v1/jobs/${job.id}`))
          .progress.examplesSeen ?? 0) > 0,
      90_000,
      500,
    );
    log(
      `streaming training beside it: job ${job.id} running, producer at ${TRAINING_RECORDS_PER_S} records/s`,
    );
    return async () => {
      const view = await ok<{ progress: { examplesSeen?: number; step?: number } }>(
        'GET',
        `${am}/v1/jobs/${job.id}`,
      ).catch(() => undefined);
      log(
        `streaming training beside it: ${view?.progress.examplesSeen ?? '?'} examples trained, step ${view?.progress.step ?? '?'}`,
      );
      await stop();
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
