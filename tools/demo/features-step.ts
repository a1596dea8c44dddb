import type { PipelineVersion, PipelineView } from '@dln/contracts';
import { flightsPipelineSpec } from '@dln/features';
import { callJson } from './http';
import { Progress } from './progress';

/** Runs `work` while showing the progress that `poll` reads, until `work` settles. */
async function withProgress<T>(
  work: Promise<T>,
  poll: () => Promise<number>,
  progress: Progress,
): Promise<T> {
  let settled = false;
  const watcher = (async () => {
    while (!settled) {
      await new Promise((done) => setTimeout(done, 500));
      if (!settled) progress.update(await poll().catch(() => 0));
    }
  })();
  try {
    return await work;
  } finally {
    settled = true;
    await watcher;
  }
}

/** Declares the flights pipeline, fits a version over the stored source and materializes it. */
export async function prepareFlightsFeatures(
  featureUrl: string,
  pipeline: string,
  source: string,
  records: number,
): Promise<PipelineVersion> {
  const base = `${featureUrl}/v1/pipelines`;
  await callJson('POST', base, flightsPipelineSpec(pipeline, source));
  const fitProgress = new Progress('fit     ', records);
  const fitted = await withProgress(
    callJson<PipelineVersion>('POST', `${base}/${pipeline}/fit`),
    async () => (await callJson<PipelineView>('GET', `${base}/${pipeline}`)).fit.processed,
    fitProgress,
  );
  fitProgress.update(fitted.recordCount);
  const materializeProgress = new Progress('examples', fitted.recordCount);
  const version = await withProgress(
    callJson<PipelineVersion>('POST', `${base}/${pipeline}/versions/${fitted.version}/materialize`),
    async () =>
      (await callJson<PipelineVersion>('GET', `${base}/${pipeline}/versions/${fitted.version}`))
        .materialization.processed,
    materializeProgress,
  );
  materializeProgress.update(version.materialization.processed);
  return version;
}
