/** Zones already accepted: building an Intl.DateTimeFormat costs ~0.4 ms, and every parse of a declaration or pipeline asks. */
const known = new Set<string>();

/** True for an IANA time zone the runtime knows ("UTC", "America/New_York"). */
export function isTimeZone(zone: string): boolean {
  if (known.has(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return false;
  }
  known.add(zone);
  return true;
}
