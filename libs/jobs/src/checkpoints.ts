import type { CheckpointManifest, ParameterLayout } from '@dln/contracts';

/** One shard's report that it stored its part of a checkpoint. */
export interface ShardCheckpoint {
  shard: number;
  step: number;
  updateCount: number;
  object: string;
}

/** A complete checkpoint the AM knows of (its manifest is written). */
export interface CheckpointEntry {
  generation: number;
  step: number;
  manifest: string;
  objects: string[];
}

export interface CheckpointContext {
  jobId: string;
  generation: number;
  shards: number;
  keep: number;
}

/** Object Store name of a checkpoint's manifest: written last, so its presence marks completeness. */
export function manifestObjectName(jobId: string, generation: number, step: number): string {
  return `${jobId}/g${generation}/step-${step}/manifest.json`;
}

/**
 * Checkpoint bookkeeping of one job generation: collects the shards' reports per step and, once
 * every shard has reported a step, yields the manifest to write; keeps the last K complete
 * checkpoints and names the ones to delete.
 */
export class CheckpointTracker {
  private readonly pending = new Map<number, Map<number, ShardCheckpoint>>();
  private readonly complete: CheckpointEntry[];

  constructor(
    private readonly context: CheckpointContext,
    existing: readonly CheckpointEntry[] = [],
  ) {
    if (!Number.isSafeInteger(context.shards) || context.shards < 1)
      throw new Error('a job has at least one shard');
    if (!Number.isSafeInteger(context.keep) || context.keep < 1)
      throw new Error('keep at least one checkpoint');
    this.complete = [...existing].sort((a, b) => a.generation - b.generation || a.step - b.step);
  }

  /**
   * Records a shard's report. Returns the step's shards (ordered) when this report completed it;
   * undefined while shards are missing, for a repeated report, or for a step already complete.
   */
  report(report: ShardCheckpoint): ShardCheckpoint[] | undefined {
    if (
      !Number.isSafeInteger(report.shard) ||
      report.shard < 0 ||
      report.shard >= this.context.shards
    ) {
      throw new Error(
        `shard ${report.shard} is not one of the job's ${this.context.shards} shards`,
      );
    }
    if (this.has(this.context.generation, report.step)) return undefined;
    let shards = this.pending.get(report.step);
    if (!shards) this.pending.set(report.step, (shards = new Map()));
    if (shards.has(report.shard)) return undefined;
    shards.set(report.shard, { ...report });
    if (shards.size < this.context.shards) return undefined;
    this.pending.delete(report.step);
    // Older incomplete steps can no longer complete in order; their parts are abandoned.
    for (const step of [...this.pending.keys()]) if (step < report.step) this.pending.delete(step);
    return [...shards.values()].sort((a, b) => a.shard - b.shard);
  }

  /** Builds the manifest of a completed step. */
  manifest(
    shards: readonly ShardCheckpoint[],
    layout: ParameterLayout,
    optimizer: string,
    workerPositions: CheckpointManifest['workerPositions'],
    createdAt: string,
  ): CheckpointManifest {
    const step = shards[0]?.step;
    if (
      step === undefined ||
      shards.length !== this.context.shards ||
      shards.some((s) => s.step !== step)
    ) {
      throw new Error('a manifest needs one report of every shard for the same step');
    }
    return {
      jobId: this.context.jobId,
      generation: this.context.generation,
      step,
      createdAt,
      shards: shards.map(({ shard, object, updateCount }) => ({ shard, object, updateCount })),
      variables: layout.variables,
      optimizer,
      workerPositions: [...workerPositions],
    };
  }

  /**
   * Records a checkpoint whose manifest is written; returns the checkpoints beyond the last K to
   * delete (oldest first).
   */
  committed(entry: CheckpointEntry): CheckpointEntry[] {
    if (!this.has(entry.generation, entry.step))
      this.complete.push({ ...entry, objects: [...entry.objects] });
    this.complete.sort((a, b) => a.generation - b.generation || a.step - b.step);
    const excess = this.complete.length - this.context.keep;
    return excess > 0 ? this.complete.splice(0, excess) : [];
  }

  /** The newest complete checkpoint (what a restart restores from). */
  latest(): CheckpointEntry | undefined {
    return this.complete[this.complete.length - 1];
  }

  list(): CheckpointEntry[] {
    return this.complete.map((entry) => ({ ...entry, objects: [...entry.objects] }));
  }

  private has(generation: number, step: number): boolean {
    return this.complete.some((entry) => entry.generation === generation && entry.step === step);
  }
}
