/** DI tokens of the prediction service. */
export const PREDICTION_CONFIG = Symbol('PREDICTION_CONFIG');
export const PARSE_POOL = Symbol('PARSE_POOL');
export const SCORING_METRICS = Symbol('SCORING_METRICS');
export const BLOB_FETCH_THREAD = Symbol('BLOB_FETCH_THREAD');
