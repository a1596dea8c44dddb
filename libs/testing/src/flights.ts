import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A flight record as vega-datasets ships it. */
export interface Flight {
  date: string;
  delay: number;
  distance: number;
  origin: string;
  destination: string;
}

/** Real data no one here wrote: the US flights of the `vega-datasets` npm package. */
export function loadFlights(file = 'flights-20k.json'): Flight[] {
  // The package exports only its JS entry; its data files sit beside it in data/.
  const path = join(dirname(require.resolve('vega-datasets')), '..', 'data', file);
  const rows = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (!Array.isArray(rows)) throw new Error(`${path} is not a JSON array`);
  return rows as Flight[];
}

const FLIGHT_DATE = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2})$/;

/** A flight's "2001/01/13 14:56", zone-less, so UTC, as ingest stores it: epoch milliseconds. */
export function storedDate(date: string): number {
  const match = FLIGHT_DATE.exec(date);
  if (!match) throw new Error(`not a flights date (yyyy/mm/dd hh:mm): "${date}"`);
  const [y, mo, d, h, mi] = match.slice(1).map(Number) as [number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi);
}
