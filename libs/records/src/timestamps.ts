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

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra =
    yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
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
  const monthDays = mo === 2 && isLeap(y) ? 29 : (DAYS_IN_MONTH[mo - 1] ?? 0);
  if (d < 1 || d > monthDays) throw new TimestampError('no such day');
  return daysFromCivil(y, mo, d) * 86_400_000 + ((h * 60 + mi) * 60 + s) * 1000 + ms;
}

/** Two or four ASCII digits at `at` as a number, or -1. */
function digitsAt(text: string, at: number, count: 2 | 4): number {
  let value = 0;
  for (let i = at; i < at + count; i += 1) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
  }
  return value;
}

/**
 * The common zone-less forms without a regex: `YYYY/MM/DD`, `YYYY-MM-DD`, then optionally
 * ` HH:MM` or `THH:MM` (`-` form) and `:SS`. Undefined when the text has another shape.
 */
function fastWallClock(text: string): number | undefined {
  const length = text.length;
  if (length !== 10 && length !== 16 && length !== 19) return undefined;
  const sep = text.charCodeAt(4);
  if ((sep !== 47 && sep !== 45) || text.charCodeAt(7) !== sep) return undefined;
  const y = digitsAt(text, 0, 4);
  const mo = digitsAt(text, 5, 2);
  const d = digitsAt(text, 8, 2);
  if (y < 0 || mo < 0 || d < 0) return undefined;
  let h = 0;
  let mi = 0;
  let s = 0;
  if (length > 10) {
    const t = text.charCodeAt(10);
    if (!(t === 32 || (t === 84 && sep === 45)) || text.charCodeAt(13) !== 58) return undefined;
    h = digitsAt(text, 11, 2);
    mi = digitsAt(text, 14, 2);
    if (length === 19) {
      if (text.charCodeAt(16) !== 58) return undefined;
      s = digitsAt(text, 17, 2);
    }
    if (h < 0 || mi < 0 || s < 0) return undefined;
  }
  return wallClock(y, mo, d, h, mi, s, 0);
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
  const fast = fastWallClock(text);
  if (fast !== undefined)
    return timeZone === undefined || timeZone === 'UTC' ? fast : wallTimeToUtc(fast, timeZone);
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
