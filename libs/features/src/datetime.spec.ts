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

  it('reads the day of the month and of the year, leap years included, in UTC and in a zone', () => {
    expect(datetimePart(at('2001-01-13T14:56:00Z'), 'dayOfMonth', 'UTC')).toBe(12);
    expect(datetimePart(at('2001-01-01T00:00:00Z'), 'dayOfYear', 'UTC')).toBe(0);
    expect(datetimePart(at('2001-03-01T00:00:00Z'), 'dayOfYear', 'UTC')).toBe(59); // 31 + 28
    expect(datetimePart(at('2004-03-01T00:00:00Z'), 'dayOfYear', 'UTC')).toBe(60); // leap year
    expect(datetimePart(at('2004-12-31T12:00:00Z'), 'dayOfYear', 'UTC')).toBe(365);
    const newYear = at('2001-01-01T02:00:00Z'); // 2000-12-31 18:00 in Los Angeles; 2000 is a leap year
    expect(datetimePart(newYear, 'dayOfYear', 'America/Los_Angeles')).toBe(365);
    expect(datetimePart(newYear, 'dayOfMonth', 'America/Los_Angeles')).toBe(30);
    expect(datetimePart(newYear, 'dayOfYear', 'Asia/Tokyo')).toBe(0);
  });

  it('follows daylight saving: New York skipped 02:00-03:00 on 2021-03-14', () => {
    expect(datetimePart(at('2021-03-14T06:59:00Z'), 'hour', 'America/New_York')).toBe(1);
    expect(datetimePart(at('2021-03-14T07:00:00Z'), 'hour', 'America/New_York')).toBe(3);
    expect(datetimePart(at('2021-03-14T04:00:00Z'), 'hour', 'America/New_York')).toBe(23); // midnight is 0, not 24
    expect(datetimePart(at('2021-03-14T05:00:00Z'), 'hour', 'America/New_York')).toBe(0);
  });

  it('agrees with the UTC fast path through Intl too', () => {
    for (let t = 0; t < 400 * 86_400_000; t += 86_400_000 * 7 + 3_600_000 * 5) {
      for (const part of ['hour', 'dayOfWeek', 'dayOfMonth', 'dayOfYear', 'month'] as const) {
        expect(datetimePart(t, part, 'Etc/UTC')).toBe(datetimePart(t, part, 'UTC'));
      }
    }
  });
});
