import { describe, expect, it } from 'vitest';
import { parseTimestamp, TimestampError, zoneOffsetMs } from './timestamps';

const H = 3_600_000;

describe('parseTimestamp', () => {
  it('reads the flights form as UTC', () => {
    // 2001-01-01T00:00Z is 978307200 s after the epoch.
    expect(parseTimestamp('2001/01/01 06:55')).toBe(978_307_200_000 + 6 * H + 55 * 60_000);
    expect(parseTimestamp('2001/01/01 06:55:12')).toBe(
      978_307_200_000 + 6 * H + 55 * 60_000 + 12_000,
    );
    expect(parseTimestamp('2001/01/01')).toBe(978_307_200_000);
  });

  it('reads ISO 8601 with and without zones and fractions', () => {
    expect(parseTimestamp('2001-01-01T06:55:00Z')).toBe(978_307_200_000 + 6 * H + 55 * 60_000);
    expect(parseTimestamp('2001-01-01T06:55:00+02:00')).toBe(978_307_200_000 + 4 * H + 55 * 60_000);
    expect(parseTimestamp('2001-01-01T06:55-0530')).toBe(978_307_200_000 + 12 * H + 25 * 60_000);
    expect(parseTimestamp('2001-01-01 06:55:00.250')).toBe(
      978_307_200_000 + 6 * H + 55 * 60_000 + 250,
    );
    expect(parseTimestamp('2001-01-01T00:00:00.1Z')).toBe(978_307_200_100);
    expect(parseTimestamp('1969-12-31T23:59:59Z')).toBe(-1000);
  });

  it('reads zone-less times in the named zone, across DST', () => {
    // New York: EST (UTC-5) in January, EDT (UTC-4) in July.
    expect(parseTimestamp('2001/01/01 06:55', 'America/New_York')).toBe(
      978_307_200_000 + 11 * H + 55 * 60_000,
    );
    expect(parseTimestamp('2021-07-04T12:00', 'America/New_York')).toBe(
      Date.UTC(2021, 6, 4, 16, 0),
    );
    // 2021-03-14 01:30 EST is 06:30Z; 03:30 EDT is 07:30Z (02:00-03:00 does not exist that day).
    expect(parseTimestamp('2021-03-14T01:30', 'America/New_York')).toBe(
      Date.UTC(2021, 2, 14, 6, 30),
    );
    expect(parseTimestamp('2021-03-14T03:30', 'America/New_York')).toBe(
      Date.UTC(2021, 2, 14, 7, 30),
    );
    // Ambiguous 01:30 on 2021-11-07: the earlier (EDT) instant, 05:30Z.
    expect(parseTimestamp('2021-11-07T01:30', 'America/New_York')).toBe(
      Date.UTC(2021, 10, 7, 5, 30),
    );
    // An explicit zone wins over the field's zone.
    expect(parseTimestamp('2021-07-04T12:00Z', 'America/New_York')).toBe(
      Date.UTC(2021, 6, 4, 12, 0),
    );
    // Kolkata: +05:30, no DST.
    expect(parseTimestamp('2021-07-04 12:00', 'Asia/Kolkata')).toBe(Date.UTC(2021, 6, 4, 6, 30));
  });

  it('refuses what is not a timestamp', () => {
    for (const bad of [
      '',
      ' ',
      'NaN',
      'Infinity',
      '2001/13/01 00:00',
      '2001/02/29 00:00',
      '2001-01-01T24:00',
      '2001-01-01T10:61',
      '01/01/2001',
      '2001-01-01T06:55+25:00',
      '2001-1-1',
    ]) {
      expect(() => parseTimestamp(bad), bad).toThrow(TimestampError);
    }
    expect(parseTimestamp('2000/02/29 00:00')).toBe(Date.UTC(2000, 1, 29));
  });
});

describe('zoneOffsetMs', () => {
  it('gives the UTC offset at an instant', () => {
    expect(zoneOffsetMs('America/New_York', Date.UTC(2021, 0, 1))).toBe(-5 * H);
    expect(zoneOffsetMs('America/New_York', Date.UTC(2021, 6, 1))).toBe(-4 * H);
    expect(zoneOffsetMs('UTC', Date.UTC(2021, 6, 1, 0, 0, 0, 500))).toBe(0);
  });
});
