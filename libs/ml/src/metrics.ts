import { LabelKind } from '@dln/contracts';

const EPSILON = 1e-7;

function checkLengths(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`got ${a.length} predictions for ${b.length} labels`);
}

/**
 * Exact ROC AUC by ranks (Mann-Whitney U), tied scores getting their average rank. NaN when
 * the labels hold only one class.
 */
export function aucByRanks(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(scores, labels);
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && scores[order[end] as number] === scores[order[start] as number]) end += 1;
    const averageRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k += 1) {
      if ((labels[order[k] as number] as number) > 0.5) {
        positives += 1;
        positiveRankSum += averageRank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean binary cross-entropy of probabilities, clipped to [1e-7, 1 - 1e-7] as tfjs does. */
export function logLoss(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(probabilities, labels);
  let sum = 0;
  for (let i = 0; i < labels.length; i += 1) {
    const p = Math.min(1 - EPSILON, Math.max(EPSILON, probabilities[i] as number));
    const y = labels[i] as number;
    sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
  }
  return sum / labels.length;
}

/** Mean sparse categorical cross-entropy of rows of class probabilities (size x classes). */
export function categoricalLogLoss(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): number {
  checkLengths({ length: probabilities.length / classes }, labels);
  let sum = 0;
  for (let i = 0; i < labels.length; i += 1) {
    const p = probabilities[i * classes + (labels[i] as number)] as number;
    sum -= Math.log(Math.min(1 - EPSILON, Math.max(EPSILON, p)));
  }
  return sum / labels.length;
}

/** Share of binary predictions on the right side of `threshold`. */
export function binaryAccuracy(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold = 0.5,
): number {
  checkLengths(probabilities, labels);
  let right = 0;
  for (let i = 0; i < labels.length; i += 1)
    if (((probabilities[i] as number) > threshold ? 1 : 0) === labels[i]) right += 1;
  return right / labels.length;
}

/** Share of rows whose highest-scoring class (first on a tie) is the label. */
export function classAccuracy(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): number {
  checkLengths({ length: probabilities.length / classes }, labels);
  let right = 0;
  for (let i = 0; i < labels.length; i += 1) {
    let best = 0;
    for (let c = 1; c < classes; c += 1)
      if (
        (probabilities[i * classes + c] as number) > (probabilities[i * classes + best] as number)
      )
        best = c;
    if (best === labels[i]) right += 1;
  }
  return right / labels.length;
}

export function meanAbsoluteError(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): number {
  checkLengths(predictions, labels);
  let sum = 0;
  for (let i = 0; i < labels.length; i += 1)
    sum += Math.abs((predictions[i] as number) - (labels[i] as number));
  return sum / labels.length;
}

export function meanSquaredError(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): number {
  checkLengths(predictions, labels);
  let sum = 0;
  for (let i = 0; i < labels.length; i += 1)
    sum += ((predictions[i] as number) - (labels[i] as number)) ** 2;
  return sum / labels.length;
}

export function rootMeanSquaredError(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): number {
  return Math.sqrt(meanSquaredError(predictions, labels));
}

/** Validation metrics of one evaluation; which ones are present depends on the label kind. */
export interface Metrics {
  loss: number;
  count: number;
  auc?: number;
  accuracy?: number;
  mae?: number;
  rmse?: number;
}

/**
 * Metrics of model outputs (size x outputUnits) against labels: loss, AUC and accuracy for
 * binary labels, loss and accuracy for classes, loss (MSE), MAE and RMSE for numbers. The loss
 * is unweighted (class weights shape training, not how a model is judged).
 */
export function computeMetrics(
  labelKind: LabelKind,
  outputs: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes = 1,
): Metrics {
  const count = labels.length;
  if (labelKind === 'binary') {
    return {
      count,
      loss: logLoss(outputs, labels),
      auc: aucByRanks(outputs, labels),
      accuracy: binaryAccuracy(outputs, labels),
    };
  }
  if (labelKind === 'class') {
    return {
      count,
      loss: categoricalLogLoss(outputs, labels, classes),
      accuracy: classAccuracy(outputs, labels, classes),
    };
  }
  return {
    count,
    loss: meanSquaredError(outputs, labels),
    mae: meanAbsoluteError(outputs, labels),
    rmse: rootMeanSquaredError(outputs, labels),
  };
}
