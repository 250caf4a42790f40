// Maintenance windows: "22:00-06:00" in an IANA time zone. Outside the window the backfill holds.
// A window may cross midnight; start = end means all day. DST is the zone's: luxon does the calendar.
import { WINDOW_PATTERN } from '@backfill/shared/settings';
import { DateTime } from 'luxon';

export interface DailyWindow {
  /** Minutes after local midnight, 0..1439. */
  startMinute: number;
  endMinute: number;
  /** The text it was parsed from, e.g. "22:00-06:00". */
  text: string;
}

/** "22:00-06:00" → a DailyWindow, or null when the text is not HH:MM-HH:MM (24-hour clock). */
export function parseWindow(text: string): DailyWindow | null {
  const m = WINDOW_PATTERN.exec(text);
  if (!m) return null;
  return {
    startMinute: Number(m[1]) * 60 + Number(m[2]),
    endMinute: Number(m[3]) * 60 + Number(m[4]),
    text,
  };
}

export interface WindowState {
  open: boolean;
  /** When it next opens (while closed) or closes (while open), ISO 8601 with the zone's offset. */
  nextChange: string;
}

const minuteOfDay = (t: DateTime) => t.hour * 60 + t.minute;

function isOpenAt(w: DailyWindow, m: number): boolean {
  if (w.startMinute === w.endMinute) return true;
  return w.startMinute < w.endMinute
    ? m >= w.startMinute && m < w.endMinute
    : m >= w.startMinute || m < w.endMinute;
}

/**
 * Whether the window is open at `now` in `zone`, and when that changes: the next local start (while
 * closed) or end (while open), today or tomorrow. A local time that a DST jump skips is moved on by
 * luxon (02:30 on a spring-forward night is 03:30).
 */
export function windowState(w: DailyWindow, zone: string, now: Date): WindowState {
  const local = DateTime.fromJSDate(now, { zone });
  if (w.startMinute === w.endMinute) return { open: true, nextChange: '' };
  const open = isOpenAt(w, minuteOfDay(local));
  const target = open ? w.endMinute : w.startMinute;
  let t = local.set({ hour: Math.floor(target / 60), minute: target % 60, second: 0, millisecond: 0 });
  if (t <= local) t = t.plus({ days: 1 });
  return { open, nextChange: t.toISO() ?? '' };
}
