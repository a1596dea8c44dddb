import { RoleReport } from '@dln/contracts';
import { CheckpointTracker, manifestObjectName } from '@dln/jobs';
import { Injectable, Logger } from '@nestjs/common';
import { ActiveJob } from './active-job';
import { CheckpointStore } from './checkpoint-store';
import { JobLedger } from './job-ledger';

/**
 * Checkpoint coordination: once every shard reported a step, the manifest is written to the
 * Object Store (last, so a checkpoint without one is incomplete and ignored), the checkpoint is
 * recorded in SQL, and the ones beyond the job's last K are deleted (manifest first).
 */
@Injectable()
export class CheckpointReports {
  private readonly logger = new Logger(CheckpointReports.name);

  constructor(
    private readonly ledger: JobLedger,
    private readonly objects: CheckpointStore,
  ) {}

  /** Runs under the job's lock. */
  async shardStored(
    job: ActiveJob,
    report: Extract<RoleReport, { type: 'checkpoint' }>,
  ): Promise<void> {
    if (!job.prepared) return;
    const tracker = (job.checkpoints ??= new CheckpointTracker(
      {
        jobId: job.id,
        generation: job.generation,
        shards: job.spec.cluster.ps,
        keep: job.spec.training.keepCheckpoints,
      },
      await this.ledger.store.checkpoints(job.id),
    ));
    const shards = tracker.report(report);
    if (!shards) return;
    const now = this.ledger.now();
    const manifest = tracker.manifest(
      shards,
      job.prepared.layout,
      job.spec.training.optimizer.kind,
      job.progress.positions(),
      new Date(now).toISOString(),
    );
    const name = manifestObjectName(job.id, job.generation, manifest.step);
    await this.objects.putManifest(name, manifest);
    const entry = {
      generation: job.generation,
      step: manifest.step,
      manifest: name,
      objects: shards.map((shard) => shard.object),
    };
    await this.ledger.store.addCheckpoint(job.id, entry, now);
    const expired = tracker.committed(entry);
    job.record({
      type: 'checkpoint',
      from: null,
      to: null,
      role: null,
      detail: {
        step: manifest.step,
        generation: job.generation,
        manifest: name,
        deleted: expired.map((old) => old.step),
      },
      at: now,
    });
    for (const old of expired) {
      try {
        await this.objects.delete([old.manifest, ...old.objects]);
        await this.ledger.store.removeCheckpoint(job.id, old);
      } catch (error) {
        this.logger.warn({
          msg: 'could not delete an old checkpoint',
          jobId: job.id,
          step: old.step,
          error: String(error),
        });
      }
    }
  }
}
