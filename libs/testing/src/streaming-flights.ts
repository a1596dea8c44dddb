import type { SourceDeclarationInput, StreamPipelineSpecInput } from '@dln/contracts';
import { loadFlights, storedDate } from './flights';

/** A flight of flights-20k as an event of the replay: departure time, and its label. */
export interface FlightEvent {
  id: string;
  t: number;
  origin: string;
  distance: number;
  /** The label: delayed by more than 10 minutes. */
  delayed: boolean;
}

/** flights-20k in departure-time order (ids `f<row>`); the first `count` when given. */
export function flightsByDepartureTime(count?: number): FlightEvent[] {
  const flights = loadFlights()
    .map((row, i) => ({
      id: `f${i}`,
      t: storedDate(row.date),
      origin: row.origin,
      distance: row.distance,
      delayed: row.delay > 10,
    }))
    .sort((a, b) => a.t - b.t || a.id.localeCompare(b.id));
  return count === undefined ? flights : flights.slice(0, count);
}

/** One record a replay producer sends: to `source`, at event time `at`. */
export interface Arrival {
  at: number;
  source: string;
  record: Record<string, string | number | boolean>;
}

/** Events at their departure time and each label `lagMs` later, in arrival (time) order. */
export function flightArrivals(
  flights: readonly FlightEvent[],
  lagMs: number,
  sources = { events: 'flights', labels: 'delays' },
): Arrival[] {
  return [
    ...flights.map((f) => ({
      at: f.t,
      source: sources.events,
      record: { id: f.id, t: f.t, origin: f.origin, distance: f.distance },
    })),
    ...flights.map((f) => ({
      at: f.t + lagMs,
      source: sources.labels,
      record: { lid: `l${f.id}`, event: f.id, t: f.t + lagMs, delayed: f.delayed },
    })),
  ].sort((a, b) => a.at - b.at || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}

/** The flight events source (partitioned by id, the join key, when `partitions` > 1). */
export function flightEventsSource(name = 'flights', partitions = 1): SourceDeclarationInput {
  return {
    name,
    idField: 'id',
    fields: [
      { name: 'id', type: 'string' },
      { name: 't', type: 'timestamp' },
      { name: 'origin', type: 'string' },
      { name: 'distance', type: 'number' },
    ],
    ...(partitions > 1 ? { partitionKey: 'id', partitions } : {}),
  };
}

/** The delayed-or-not labels source (partitioned by event id when `partitions` > 1). */
export function flightLabelsSource(name = 'delays', partitions = 1): SourceDeclarationInput {
  return {
    name,
    idField: 'lid',
    fields: [
      { name: 'lid', type: 'string' },
      { name: 'event', type: 'string' },
      { name: 't', type: 'timestamp' },
      { name: 'delayed', type: 'boolean' },
    ],
    ...(partitions > 1 ? { partitionKey: 'event', partitions } : {}),
  };
}

/**
 * Flights joined with their labels within twice the label lag, lateness the same: log1p of the
 * distance, hour, origin (a growing vocabulary). Not a running standardization: the first
 * snapshot has no statistics yet, and raw distances (up to ~2,700) saturate a fresh model.
 */
export function flightDelaysStreamPipeline(
  name: string,
  labelLagMs: number,
  sources = { events: 'flights', labels: 'delays' },
  snapshotEveryRecords = 500,
): StreamPipelineSpecInput {
  return {
    mode: 'stream',
    name,
    source: sources.events,
    eventTime: 't',
    latenessMs: 2 * labelLagMs,
    features: [
      { kind: 'numeric', name: 'distance', field: 'distance', transform: 'log1p' },
      { kind: 'datetime', name: 'hour', field: 't', part: 'hour' },
      {
        kind: 'categorical',
        name: 'origin',
        field: 'origin',
        vocabulary: { kind: 'learned', maxSize: 400 },
        encoding: 'id',
      },
    ],
    label: { kind: 'binary', field: 'delayed' },
    join: {
      source: sources.labels,
      eventKey: 'id',
      labelKey: 'event',
      labelTime: 't',
      windowMs: 2 * labelLagMs,
    },
    snapshotEveryRecords,
  };
}
