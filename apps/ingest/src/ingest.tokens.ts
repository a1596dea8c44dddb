/** DI tokens of the ingest service. */
export const INGEST_CONFIG = Symbol('INGEST_CONFIG');
