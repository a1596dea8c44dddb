import { PipelineSpecInput, SourceDeclarationInput } from '@dln/contracts';

/**
 * The vega-datasets flights records ({date: "2001/01/13 14:56", delay, distance, origin,
 * destination}) as a source: the date is a zone-less wall-clock time, stored as UTC epoch ms,
 * and records carry generated ids (`idFrom=row`) in `_id`.
 */
export function flightsSourceDeclaration(name = 'flights'): SourceDeclarationInput {
  return {
    name,
    fields: [
      { name: 'date', type: 'timestamp' },
      { name: 'delay', type: 'integer' },
      { name: 'distance', type: 'integer' },
      { name: 'origin', type: 'string', maxLength: 8 },
      { name: 'destination', type: 'string', maxLength: 8 },
    ],
  };
}

/**
 * The flights example pipeline: predict "delayed more than 15 minutes" from the departure hour
 * weekday and calendar day (wall clock, so UTC as stored), origin and destination vocabulary ids, distance
 * both standardized and as log1p, and a hashed origin x destination cross.
 */
export function flightsPipelineSpec(name = 'flights', source = 'flights'): PipelineSpecInput {
  return {
    name,
    source,
    features: [
      {
        kind: 'datetime',
        name: 'hour',
        field: 'date',
        part: 'hour',
        timeZone: 'UTC',
        encoding: 'onehot',
      },
      {
        kind: 'datetime',
        name: 'weekday',
        field: 'date',
        part: 'dayOfWeek',
        timeZone: 'UTC',
        encoding: 'onehot',
      },
      // The calendar day: delays cluster on bad-weather and holiday days.
      {
        kind: 'datetime',
        name: 'day',
        field: 'date',
        part: 'dayOfYear',
        timeZone: 'UTC',
        encoding: 'id',
      },
      { kind: 'numeric', name: 'distance', field: 'distance', transform: 'standardize' },
      { kind: 'numeric', name: 'log_distance', field: 'distance', transform: 'log1p' },
      {
        kind: 'categorical',
        name: 'origin',
        field: 'origin',
        vocabulary: { kind: 'learned', maxSize: 500 },
        encoding: 'id',
      },
      {
        kind: 'categorical',
        name: 'destination',
        field: 'destination',
        vocabulary: { kind: 'learned', maxSize: 500 },
        encoding: 'id',
      },
      { kind: 'cross', name: 'route', fields: ['origin', 'destination'], buckets: 4096 },
    ],
    label: { kind: 'binary', field: 'delay', threshold: 15 },
    split: { validationFraction: 0.2 },
  };
}
