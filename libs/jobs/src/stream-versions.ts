import { JobSpec, RoleReport, StreamRoleSettings, streamJobConsumer } from '@dln/contracts';
import {
  CatalogueEntry,
  decideModelVersion,
  PromotionPolicy,
  VersionDecision,
} from './model-versions';

/** A catalogued version with the job that exported it. */
export interface JobCatalogueEntry extends CatalogueEntry {
  jobId: string;
}

type Exported = Extract<RoleReport, { type: 'exported' }>;

/** RoleConfig.stream of a stream job's roles (undefined for a batch job). */
export function streamRoleSettingsOf(
  spec: Pick<JobSpec, 'mode' | 'stream'>,
  jobId: string,
  pipeline: string,
): StreamRoleSettings | undefined {
  if (spec.mode !== 'stream' || !spec.stream) return undefined;
  return { pipeline, consumer: streamJobConsumer(jobId), settings: spec.stream };
}

/**
 * Messages a stream job's consumer lets out before any is acknowledged: two batches per worker,
 * so a worker trains on one while the next is on its way, and a slow one holds back no more.
 */
export function streamMaxAckPending(spec: Pick<JobSpec, 'cluster' | 'training'>): number {
  return 2 * spec.cluster.workers * spec.training.batchSize;
}

/**
 * The identity of a stream export (a re-sent report is the same export): the incarnation of
 * worker 0 and its step. Null for a batch export (one per generation).
 */
export function streamExportKey(report: Exported): string | null {
  if (!report.stream) return null;
  const { generation, attempt } = report.token;
  return `g${generation}.a${attempt}.s${report.stream.step}`;
}

/**
 * What a stream export becomes: the batch rule (refused when not finite, the NaN guard; default
 * unless pinned or worse than the default by more than the margin), judged on the progressive
 * metric it carries. A stream export must name its step and snapshot version.
 */
export function decideStreamVersion(
  existing: readonly CatalogueEntry[],
  report: Exported,
  policy: PromotionPolicy,
): VersionDecision {
  if (!report.stream)
    return { accepted: false, reason: 'a stream export names its step and snapshot version' };
  return decideModelVersion(existing, { metrics: report.metrics, finite: report.finite }, policy);
}

/**
 * Versions of `jobId` to retire from the catalogue once it holds more than `keep` of them: the
 * oldest first; the default and pinned versions are never retired (they do not count against
 * the K either, so a job keeps its K newest versions besides them).
 */
export function versionsToRetire(
  entries: readonly JobCatalogueEntry[],
  jobId: string,
  keep: number,
): number[] {
  const mine = entries
    .filter((entry) => entry.jobId === jobId && !entry.isDefault && !entry.pinned)
    .sort((a, b) => b.version - a.version);
  return mine
    .slice(keep)
    .map((entry) => entry.version)
    .sort((a, b) => a - b);
}
