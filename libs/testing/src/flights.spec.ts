import { describe, expect, it } from 'vitest';
import { loadFlights, storedDate } from './flights';

describe('flights test data', () => {
  it('loads vega-datasets flights-20k', () => {
    const flights = loadFlights();
    expect(flights).toHaveLength(20_000);
    expect(Object.keys(flights[0] ?? {}).sort()).toEqual([
      'date',
      'delay',
      'destination',
      'distance',
      'origin',
    ]);
  });

  it('converts a flights date to epoch ms in UTC, and refuses anything else', () => {
    expect(storedDate('2001/01/13 14:56')).toBe(Date.UTC(2001, 0, 13, 14, 56));
    expect(new Date(storedDate('2001/12/31 23:05')).toISOString()).toBe('2001-12-31T23:05:00.000Z');
    for (const bad of ['2001-01-13 14:56', '2001/01/13', '', '2001/01/13 14:56 UTC'])
      expect(() => storedDate(bad)).toThrow(/not a flights date/);
  });
});
