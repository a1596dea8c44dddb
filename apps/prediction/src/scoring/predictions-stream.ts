// Moved to @dln/messaging: inference jobs' workers write the same predictions streams.
export { ensurePredictionsStream } from '@dln/messaging';
export type { PredictionsStreamLimits } from '@dln/messaging';
