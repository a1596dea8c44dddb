import { pipelineSpecSchema } from '@dln/contracts';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fitPipeline } from '../analyzer';
import { PipelineEncoder } from '../encoder';
import { flightsPipelineSpec } from './flights';

interface Flight {
  date: string;
  delay: number;
  distance: number;
  origin: string;
  destination: string;
}

/** The stored raw format: "2001/01/13 14:56" (zone-less, so UTC) as epoch ms. */
function stored(flight: Flight, index: number) {
  const [d, t] = flight.date.split(' ');
  const [y, mo, da] = (d ?? '').split('/').map(Number);
  const [h, mi] = (t ?? '').split(':').map(Number);
  return { ...flight, _id: String(index), date: Date.UTC(y!, mo! - 1, da!, h!, mi!) };
}

describe('flights preset on the real vega-datasets records', () => {
  const flights = (
    JSON.parse(
      readFileSync(
        join(dirname(require.resolve('vega-datasets')), '..', 'data', 'flights-20k.json'),
        'utf8',
      ),
    ) as Flight[]
  ).map(stored);

  it('fits and encodes every record to the width its output schema states', () => {
    const snapshot = fitPipeline(pipelineSpecSchema.parse(flightsPipelineSpec()), flights);
    const encoder = new PipelineEncoder(snapshot);
    const schema = encoder.outputSchema;
    expect(schema.denseWidth).toBe(24 + 7 + 1 + 1);
    expect(schema.ids.map((c) => c.name)).toEqual(['day', 'origin', 'destination', 'route']);
    const delayed = flights.filter((f) => f.delay > 15).length;
    expect(snapshot.label).toEqual({ count: 20_000, positives: delayed });
    const mean = flights.reduce((s, f) => s + f.distance, 0) / flights.length;
    expect(snapshot.features[3]?.mean).toBeCloseTo(mean, 6);
    let positives = 0;
    for (const flight of flights) {
      const example = encoder.encode(flight);
      expect(example.dense.length).toBe(schema.denseWidth);
      positives += example.label;
    }
    expect(positives).toBe(delayed);
    // the first record: 2001/01/01 00:47 (a Monday), DTW -> LAS, delay 66
    const first = encoder.encode(flights[0]!);
    expect(first.dense[0]).toBe(1);
    expect(first.dense[24]).toBe(1);
    expect(first.label).toBe(1);
  });
});
