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

describe('parseTimestamp fast and general paths', () => {
  it('agree with Date.UTC over many dates, leap days and far years', () => {
    const cases: [number, number, number, number, number, number][] = [
      [1970, 1, 1, 0, 0, 0],
      [1969, 12, 31, 23, 59, 59],
      [1900, 2, 28, 12, 0, 0],
      [2000, 2, 29, 1, 2, 3],
      [2024, 2, 29, 23, 59, 59],
      [1600, 3, 1, 0, 0, 0],
      [9999, 12, 31, 23, 59, 59],
      [1, 1, 1, 0, 0, 0],
    ];
    const pad = (v: number, n = 2) => String(v).padStart(n, '0');
    for (const [y, mo, d, h, mi, s] of cases) {
      const utc = new Date(Date.UTC(2000, mo - 1, d, h, mi, s));
      utc.setUTCFullYear(y);
      const date = `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
      expect(parseTimestamp(`${date}T${pad(h)}:${pad(mi)}:${pad(s)}`), date).toBe(utc.getTime());
      expect(
        parseTimestamp(`${date.replace(/-/g, '/')} ${pad(h)}:${pad(mi)}:${pad(s)}`),
        date,
      ).toBe(utc.getTime());
      expect(parseTimestamp(`${date}T${pad(h)}:${pad(mi)}:${pad(s)}.000Z`), date).toBe(
        utc.getTime(),
      );
    }
    expect(() => parseTimestamp('1900/02/29 00:00')).toThrow(/no such day/);
    expect(() => parseTimestamp('2001/00/10')).toThrow(/out of range/);
    expect(() => parseTimestamp('2001/01/00')).toThrow(/no such day/);
    expect(() => parseTimestamp('2001/01-01')).toThrow(TimestampError);
    expect(() => parseTimestamp('2001/01/01T06:55')).toThrow(TimestampError);
    expect(() => parseTimestamp('2001-01-01x06:55')).toThrow(TimestampError);
    expect(() => parseTimestamp('2001/01/01 06:5x')).toThrow(TimestampError);
  });
});
