/** Calendar parts of an instant in an IANA time zone, through Intl (ICU's time zone data). */
export type DatetimePart = 'hour' | 'dayOfWeek' | 'dayOfMonth' | 'dayOfYear' | 'month';

/**
 * Number of values of each part: hour 0-23, dayOfWeek 0 = Monday .. 6 = Sunday, dayOfMonth 0-30
 * (the 1st is 0), dayOfYear 0-365 (January 1st is 0), month 0-11.
 */
export const PART_CARDINALITY: Readonly<Record<DatetimePart, number>> = {
  hour: 24,
  dayOfWeek: 7,
  dayOfMonth: 31,
  dayOfYear: 366,
  month: 12,
};

const DAY_MS = 86_400_000;

function dayOfYear(year: number, month0: number, day: number): number {
  return Math.round((Date.UTC(year, month0, day) - Date.UTC(year, 0, 1)) / DAY_MS);
}

const WEEKDAY_INDEX: Readonly<Record<string, number>> = {
  Mon: 0,
  Tue: 1,
  Wed: 2,
  Thu: 3,
  Fri: 4,
  Sat: 5,
  Sun: 6,
};

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      hour: 'numeric',
      weekday: 'short',
      month: 'numeric',
      day: 'numeric',
      year: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function utcPart(epochMs: number, part: DatetimePart): number {
  const date = new Date(epochMs);
  if (part === 'hour') return date.getUTCHours();
  if (part === 'month') return date.getUTCMonth();
  if (part === 'dayOfMonth') return date.getUTCDate() - 1;
  if (part === 'dayOfYear')
    return dayOfYear(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  return (date.getUTCDay() + 6) % 7;
}

/** The part of the instant `epochMs` as seen on a wall clock in `timeZone`. */
export function datetimePart(epochMs: number, part: DatetimePart, timeZone: string): number {
  if (timeZone === 'UTC') return utcPart(epochMs, part);
  const parts = formatterFor(timeZone).formatToParts(epochMs);
  const numeric = (type: Intl.DateTimeFormatPartTypes): number => {
    const value = parts.find((p) => p.type === type)?.value;
    if (value === undefined) throw new Error(`Intl gave no ${type} for ${epochMs} in ${timeZone}`);
    return Number(value);
  };
  if (part === 'dayOfMonth') return numeric('day') - 1;
  if (part === 'dayOfYear') return dayOfYear(numeric('year'), numeric('month') - 1, numeric('day'));
  const type = part === 'dayOfWeek' ? 'weekday' : part;
  const text = parts.find((p) => p.type === type)?.value;
  if (text === undefined) throw new Error(`Intl gave no ${type} for ${epochMs} in ${timeZone}`);
  if (part === 'dayOfWeek') {
    const index = WEEKDAY_INDEX[text];
    if (index === undefined) throw new Error(`unexpected weekday "${text}"`);
    return index;
  }
  const value = Number(text);
  return part === 'month' ? value - 1 : value % 24;
}
