/** Calendar parts of an instant in an IANA time zone, through Intl (ICU's time zone data). */
export type DatetimePart = 'hour' | 'dayOfWeek' | 'month';

/** Number of values of each part: hour 0-23, dayOfWeek 0 = Monday .. 6 = Sunday, month 0-11. */
export const PART_CARDINALITY: Readonly<Record<DatetimePart, number>> = {
  hour: 24,
  dayOfWeek: 7,
  month: 12,
};

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
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function utcPart(epochMs: number, part: DatetimePart): number {
  const date = new Date(epochMs);
  if (part === 'hour') return date.getUTCHours();
  if (part === 'month') return date.getUTCMonth();
  return (date.getUTCDay() + 6) % 7;
}

/** The part of the instant `epochMs` as seen on a wall clock in `timeZone`. */
export function datetimePart(epochMs: number, part: DatetimePart, timeZone: string): number {
  if (timeZone === 'UTC') return utcPart(epochMs, part);
  const parts = formatterFor(timeZone).formatToParts(epochMs);
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
