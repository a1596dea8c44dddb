import type { Clock } from '@dln/cluster';
import type { ModelSpec, OutputSchema, ParameterLayout } from '@dln/contracts';

/** DI token of the job settings (from the am config). */
export const JOBS_SETTINGS = Symbol('JOBS_SETTINGS');
/** DI token of the LayoutPlanner. */
export const LAYOUT_PLANNER = Symbol('LAYOUT_PLANNER');

export interface JobsSettings {
  /** How often SCHEDULING jobs are retried and running roles' nodes checked. */
  schedulingIntervalMs: number;
  /** Timeout of a pipelineDescribe request to the feature service. */
  describeTimeoutMs: number;
  /** Timeout of a pipelinePrepare request (fit + materialize can take minutes). */
  prepareTimeoutMs: number;
  /** At most one progress event per job per this interval. */
  progressEventMs: number;
  /** SIGTERM-to-SIGKILL grace of a role told to stop. */
  stopGraceMs: number;
  /** How long a finished worker 0 may take for its export report to arrive. */
  exportGraceMs: number;
  /** Stop commands to an ALIVE node are tried this often before the orphan sweep takes over. */
  stopAttempts: number;
  /** Base wait between stop attempts (times the attempt number). */
  stopRetryMs: number;
  /**
   * A process a node reports that no active job wants (final job, superseded incarnation) is
   * stopped once it has been reported that long (it may be finishing by itself).
   */
  orphanGraceMs: number;
  /** A live role its node's heartbeats have not listed for this long is lost. */
  roleMissingGraceMs: number;
  clock?: Clock;
}

/**
 * Computes the deterministic parameter layout of a model on an output schema across `shards`
 * ps shards; throws when the model cannot be built.
 */
export type LayoutPlanner = (
  model: ModelSpec,
  schema: OutputSchema,
  shards: number,
  seed: number,
) => Promise<ParameterLayout>;
