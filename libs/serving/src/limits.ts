/** Bounds of one serving instance; every request is checked against them before any work. */
export interface ServingLimits {
  /** Most instances (rows) one predict or classify request may carry. */
  maxInstances: number;
  /** Most rows the micro-batcher merges into one model call. */
  maxBatchRows: number;
}

export const DEFAULT_SERVING_LIMITS: ServingLimits = { maxInstances: 1024, maxBatchRows: 2048 };

/** The only signature a served model has (TensorFlow Serving's default name). */
export const DEFAULT_SIGNATURE = 'serving_default';
