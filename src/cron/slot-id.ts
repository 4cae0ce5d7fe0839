/**
 * A cron slot's identity: its scheduled time as an ISO 8601 timestamp in the schedule's timezone, to the
 * second, with the zone's offset (`2026-03-29T03:00:00+02:00`; `…Z` in UTC). Computed from the expression,
 * never from the clock at firing time, so hosts whose clocks disagree name the same slot the same way. The
 * offset keeps the two 02:30s of a fall-back night apart.
 *
 * @example
 * ```ts
 * slotId(new Date('2026-12-06T10:00:02Z'), 'UTC');           // '2026-12-06T10:00:02Z'
 * slotId(new Date('2026-03-29T01:00:00Z'), 'Europe/Berlin'); // '2026-03-29T03:00:00+02:00'
 * ```
 *
 * Failure modes: an unknown `timezone` throws `RangeError` (from `Intl`); `schedule()` checks it up front.
 */
export function slotId(at: Date, timezone: string): string {
  if (timezone === 'UTC' || timezone === 'Etc/UTC') return `${at.toISOString().slice(0, 19)}Z`;
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'longOffset',
  }).formatToParts(at);
  const get = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  // `longOffset` reads "GMT+02:00", or "GMT" at offset zero.
  const offset = get('timeZoneName').replace(/^GMT/, '') || 'Z';
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}:${get('second')}${offset}`;
}

/** The instant a slot id names (the inverse of {@link slotId}); `NaN` for something that is not one. */
export function slotTime(id: string): number {
  return Date.parse(id);
}
