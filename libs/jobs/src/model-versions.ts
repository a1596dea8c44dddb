import type {
  EarlyStoppingMetric,
  EvaluationMetrics,
  FieldIssue,
  JobSpec,
  OutputSchema,
} from '@dln/contracts';
import { allFinite, metricValue, metricsForLabel, worsening } from './metrics';

/** A catalogued version of one model, as far as the decision needs it. */
export interface CatalogueEntry {
  version: number;
  metrics: EvaluationMetrics;
  isDefault: boolean;
  pinned: boolean;
}

export interface ExportCandidate {
  metrics: EvaluationMetrics;
  /** The role's own check that every weight is finite. */
  finite: boolean;
}

export interface PromotionPolicy {
  metric: EarlyStoppingMetric;
  /** How much worse than the default (in the metric's units) a new version may be and still replace it. */
  margin: number;
}

export const DEFAULT_PROMOTION: PromotionPolicy = { metric: 'loss', margin: 0.01 };

export type VersionDecision =
  | { accepted: false; reason: string }
  | { accepted: true; version: number; becomesDefault: boolean; reason: string };

export function promotionPolicyOf(spec: Pick<JobSpec, 'output'>): PromotionPolicy {
  return spec.output.promotion ?? DEFAULT_PROMOTION;
}

/** The promotion metric must be one the label's evaluation reports. */
export function checkPromotionPolicy(
  policy: PromotionPolicy,
  schema: OutputSchema,
  prefix = 'output.promotion',
): FieldIssue[] {
  const allowed = metricsForLabel(schema.label.kind);
  if (allowed.includes(policy.metric)) return [];
  return [
    {
      path: `${prefix}.metric`,
      message: `metric "${policy.metric}" does not apply to a ${schema.label.kind} label (use one of: ${allowed.join(', ')})`,
    },
  ];
}

/**
 * Decides what an exported model becomes: refused when its weights or any validation metric are
 * NaN or infinite; otherwise the next version number of the model, and the default unless the
 * default is pinned or the new version's metric is worse than the default's by more than the
 * margin. A default whose metric cannot be compared (it lacks the metric) is replaced.
 */
export function decideModelVersion(
  existing: readonly CatalogueEntry[],
  candidate: ExportCandidate,
  policy: PromotionPolicy,
): VersionDecision {
  if (!candidate.finite)
    return { accepted: false, reason: 'the exported weights are not all finite' };
  if (!allFinite(candidate.metrics)) {
    const bad = Object.entries(candidate.metrics)
      .filter(([, value]) => typeof value === 'number' && !Number.isFinite(value))
      .map(([name]) => name);
    return { accepted: false, reason: `validation ${bad.join(', ')} not finite` };
  }
  const version = existing.reduce((max, entry) => Math.max(max, entry.version), 0) + 1;
  const current = existing.find((entry) => entry.isDefault);
  if (!current)
    return { accepted: true, version, becomesDefault: true, reason: 'first default version' };
  if (current.pinned) {
    return {
      accepted: true,
      version,
      becomesDefault: false,
      reason: `version ${current.version} is pinned as the default`,
    };
  }
  const mine = metricValue(candidate.metrics, policy.metric);
  const theirs = metricValue(current.metrics, policy.metric);
  if (mine === undefined) {
    return {
      accepted: true,
      version,
      becomesDefault: false,
      reason: `the new version has no ${policy.metric} to compare`,
    };
  }
  if (theirs === undefined) {
    return {
      accepted: true,
      version,
      becomesDefault: true,
      reason: `version ${current.version} has no ${policy.metric} to compare`,
    };
  }
  const worse = worsening(policy.metric, mine, theirs);
  if (worse > policy.margin) {
    return {
      accepted: true,
      version,
      becomesDefault: false,
      reason: `${policy.metric} ${mine} is worse than version ${current.version}'s ${theirs} by ${worse}, more than the margin ${policy.margin}`,
    };
  }
  return {
    accepted: true,
    version,
    becomesDefault: true,
    reason: `${policy.metric} ${mine} is within ${policy.margin} of version ${current.version}'s ${theirs} or better`,
  };
}
