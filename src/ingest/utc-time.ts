// Calendar fields to Unix milliseconds for the decoders that read written-out times (syslog,
// Elasticsearch documents): fields out of range, and dates that do not exist, are null instead of
// being rolled over the way Date.UTC rolls them (month 13 into the next year, Feb 30 into March,
// years 0–99 into 1900–1999).

/** Unix ms of a UTC wall time (month 1–12; second 60, a leap second, read as 59), or null. */
export function utcWallMs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number | null {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return null;
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, Math.min(second, 59)));
  date.setUTCFullYear(year, month - 1, day); // not Date.UTC's year: 0099 stays 0099
  if (date.getUTCDate() !== day || date.getUTCMonth() !== month - 1) return null; // Feb 30 and the like
  return date.getTime();
}

/** Minutes east of UTC of a `+hh:mm` / `-hhmm` / `+hh` offset, or null when out of range. */
export function utcOffsetMinutes(sign: string, hours: number, minutes: number): number | null {
  if (hours > 23 || minutes > 59) return null;
  const total = hours * 60 + minutes;
  return sign === "-" ? -total : total;
}
