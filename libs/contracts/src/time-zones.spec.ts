import { describe, expect, it } from 'vitest';
import { isTimeZone } from './time-zones';

describe('isTimeZone', () => {
  it('accepts IANA zones, again from its cache, and refuses anything else every time', () => {
    for (let round = 0; round < 2; round += 1) {
      expect(isTimeZone('UTC')).toBe(true);
      expect(isTimeZone('America/New_York')).toBe(true);
      expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
      expect(isTimeZone('')).toBe(false);
    }
  });
});
