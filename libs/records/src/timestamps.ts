/**
 * Timestamp parsing to epoch milliseconds. Accepted text forms:
 * - ISO 8601: `2001-01-01`, `2001-01-01T06:55`, `2001-01-01T06:55:12.345`, with `Z` or `±HH:MM`
 *   (or `±HHMM`), a space allowed instead of `T`;
 * - the flights form `2001/01/01 06:55` and `2001/01/01 06:55:12`.
 * A time without a zone is wall-clock time in `timezone` (IANA) when given, else UTC.
 */
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const SLASHED = /^(\d{4})\/(\d{2})\/(\d{2})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?$/;

export class TimestampError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimestampError';
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Offset of `timeZone` from UTC at instant `utcMs`, in milliseconds (e.g. -5 h for New York in winter). */
export function zoneOffsetMs(timeZone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(new Date(utcMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const wall = Date.UTC(
    parts.year ?? 0,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
  return wall - (utcMs - (((utcMs % 1000) + 1000) % 1000));
}

/**
 * The instant whose wall-clock time in `timeZone` is `wallMs` (wall time written as if UTC). In a
 * DST gap the time is read with the offset before the change; in an overlap, the earlier instant.
 */
export function wallTimeToUtc(wallMs: number, timeZone: string): number {
  const first = wallMs - zoneOffsetMs(timeZone, wallMs);
  const offset = zoneOffsetMs(timeZone, first);
  const second = wallMs - offset;
  if (second === first) {
    const earlier = wallMs - zoneOffsetMs(timeZone, first - 3_600_000);
    if (earlier < first && earlier + zoneOffsetMs(timeZone, earlier) === wallMs) return earlier;
    return first;
  }
  return second + zoneOffsetMs(timeZone, second) === wallMs ? second : first;
}

function int(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : Number(text);
}

function wallClock(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  ms: number,
): number {
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59)
    throw new TimestampError('date or time out of range');
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms));
  date.setUTCFullYear(y);
  if (date.getUTCDate() !== d || date.getUTCMonth() !== mo - 1)
    throw new TimestampError('no such day');
  return date.getTime();
}

function zoneOffsetFromText(zone: string): number {
  if (zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
  if (hours > 23 || minutes > 59) throw new TimestampError('zone offset out of range');
  return sign * (hours * 60 + minutes) * 60_000;
}

/** Parses `text` into epoch milliseconds; throws TimestampError naming the problem. */
export function parseTimestamp(text: string, timeZone?: string): number {
  const iso = ISO.exec(text);
  const match = iso ?? SLASHED.exec(text);
  if (!match) throw new TimestampError('must be ISO 8601 or "YYYY/MM/DD HH:MM[:SS]"');
  const fraction = iso?.[7];
  const ms = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000 + 1e-6);
  const wall = wallClock(
    Number(match[1]),
    Number(match[2]),
    Number(match[3]),
    int(match[4], 0),
    int(match[5], 0),
    int(match[6], 0),
    ms,
  );
  const zone = iso?.[8];
  if (zone !== undefined) return wall - zoneOffsetFromText(zone);
  return timeZone === undefined || timeZone === 'UTC' ? wall : wallTimeToUtc(wall, timeZone);
}
