import type { JobView } from '@dln/contracts';
import { flightsJobSpec } from '@dln/jobs';
import { callJson } from './http';

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

function metricsLine(metrics: JobView['validation'][number]['metrics']): string {
  const parts = [`log loss ${metrics.loss.toFixed(4)}`];
  if (metrics.auc !== undefined) parts.push(`AUC ${metrics.auc.toFixed(4)}`);
  return parts.join(', ');
}

/** Submits the flights job to the AM and follows it live until it ends. */
export async function trainFlights(
  amUrl: string,
  pipeline: string,
  version: number,
  say: (line: string) => void,
): Promise<JobView> {
  const submitted = await callJson<JobView>(
    'POST',
    `${amUrl}/v1/jobs`,
    flightsJobSpec(pipeline, version),
  );
  say(
    `job ${submitted.id}: ${submitted.spec.cluster.workers} workers + ${submitted.spec.cluster.ps} ps, ${submitted.spec.training.updateMode}`,
  );
  let lastState = '';
  let lastStep = -1;
  let evaluations = 0;
  for (;;) {
    const job = await callJson<JobView>('GET', `${amUrl}/v1/jobs/${submitted.id}`);
    const { progress } = job;
    if (progress.step !== lastStep && progress.step > 0) {
      lastStep = progress.step;
      const rate =
        progress.examplesPerSecond === null || progress.examplesPerSecond === 0
          ? ''
          : `, ${Math.round(progress.examplesPerSecond)} examples/s`;
      say(
        `  epoch ${progress.epoch} step ${progress.step} loss ${progress.loss?.toFixed(4) ?? '-'}${rate}`,
      );
    }
    for (const entry of job.validation.slice(evaluations))
      say(`  validation after epoch ${entry.epoch}: ${metricsLine(entry.metrics)}`);
    evaluations = job.validation.length;
    if (job.state !== lastState) {
      lastState = job.state;
      const placed = job.roles.map((role) => `${role.role}@${role.nodeId ?? '?'}`).join(' ');
      say(
        `  state ${job.state}${job.reason ? ` (${job.reason})` : ''}${placed ? `  ${placed}` : ''}`,
      );
    }
    if (FINAL.has(job.state)) return job;
    await new Promise((done) => setTimeout(done, 500));
  }
}
