import { describe, expect, it } from 'vitest';
import { datetimePart } from './datetime';

const at = (iso: string) => Date.parse(iso);

describe('datetimePart', () => {
  it('reads UTC parts: 2001-01-13 14:56 was a Saturday', () => {
    const t = at('2001-01-13T14:56:00Z');
    expect(t).toBe(979397760000);
    expect(datetimePart(t, 'hour', 'UTC')).toBe(14);
    expect(datetimePart(t, 'dayOfWeek', 'UTC')).toBe(5);
    expect(datetimePart(t, 'month', 'UTC')).toBe(0);
    expect(datetimePart(at('2001-01-01T00:00:00Z'), 'dayOfWeek', 'UTC')).toBe(0); // Monday
    expect(datetimePart(at('2000-12-31T23:59:59Z'), 'dayOfWeek', 'UTC')).toBe(6); // Sunday
  });

  it('reads the wall clock of a time zone, across midnight and year ends', () => {
    const t = at('2001-01-13T14:56:00Z');
    expect(datetimePart(t, 'hour', 'America/New_York')).toBe(9);
    expect(datetimePart(t, 'hour', 'Asia/Kolkata')).toBe(20); // +05:30 -> 20:26
    const newYear = at('2001-01-01T02:00:00Z'); // 2000-12-31 18:00 in Los Angeles, a Sunday
    expect(datetimePart(newYear, 'hour', 'America/Los_Angeles')).toBe(18);
    expect(datetimePart(newYear, 'dayOfWeek', 'America/Los_Angeles')).toBe(6);
    expect(datetimePart(newYear, 'month', 'America/Los_Angeles')).toBe(11);
  });

  it('follows daylight saving: New York skipped 02:00-03:00 on 2021-03-14', () => {
    expect(datetimePart(at('2021-03-14T06:59:00Z'), 'hour', 'America/New_York')).toBe(1);
    expect(datetimePart(at('2021-03-14T07:00:00Z'), 'hour', 'America/New_York')).toBe(3);
    expect(datetimePart(at('2021-03-14T04:00:00Z'), 'hour', 'America/New_York')).toBe(23); // midnight is 0, not 24
    expect(datetimePart(at('2021-03-14T05:00:00Z'), 'hour', 'America/New_York')).toBe(0);
  });

  it('agrees with the UTC fast path through Intl too', () => {
    for (let t = 0; t < 400 * 86_400_000; t += 86_400_000 * 7 + 3_600_000 * 5) {
      for (const part of ['hour', 'dayOfWeek', 'month'] as const) {
        expect(datetimePart(t, part, 'Etc/UTC')).toBe(datetimePart(t, part, 'UTC'));
      }
    }
  });
});
