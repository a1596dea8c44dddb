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

/** Real data no one here wrote: the `vega-datasets` npm package's US flights. */
export function loadFlights(file = 'flights-20k.json'): Flight[] {
  // The package exports only its JS entry; its data files sit beside it in data/.
  const path = join(dirname(require.resolve('vega-datasets')), '..', 'data', file);
  const rows = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (!Array.isArray(rows)) throw new Error(`${path} is not a JSON array`);
  return rows as Flight[];
}
