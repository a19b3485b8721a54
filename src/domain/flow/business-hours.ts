// Whether a contact center is open at an instant, by a weekly timetable in its own time zone (DST
// included, by the platform's time zone data) and a list of holidays.
import type { NodeOf, Weekday } from './flow-document.ts';

export type BusinessHours = Pick<NodeOf<'businessHours'>, 'timeZone' | 'weekly' | 'holidays'>;

const dayIndex: Record<string, Weekday> = { Mon: 'MON', Tue: 'TUE', Wed: 'WED', Thu: 'THU', Fri: 'FRI', Sat: 'SAT', Sun: 'SUN' };
const order: Weekday[] = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'];

/** One formatter per time zone: building one costs far more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    if (formatters.size >= 1000) formatters.clear();
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock in `timeZone` at `at`: its date, weekday and minutes since midnight. */
export function localTime(at: string | Date, timeZone: string): { date: string; weekday: Weekday; minutes: number } {
  const parts = formatterFor(timeZone).formatToParts(new Date(at));
  const get = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  return {
    date: `${get('year')}-${get('month')}-${get('day')}`,
    weekday: dayIndex[get('weekday')] ?? 'MON',
    minutes: Number(get('hour')) * 60 + Number(get('minute')),
  };
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Open at `at`? A holiday closes its whole local date. A range whose close is before its open runs
 * overnight: `MON 22:00–06:00` is open from Monday 22:00 to Tuesday 06:00. Open is inclusive, close
 * exclusive.
 */
export function isOpenAt(hours: BusinessHours, at: string | Date): boolean {
  const now = localTime(at, hours.timeZone);
  const holidays = new Set(hours.holidays.map((h) => (typeof h === 'string' ? h : h.date)));
  if (holidays.has(now.date)) return false;
  const yesterday = order[(order.indexOf(now.weekday) + 6) % 7]!;
  return hours.weekly.some((range) => {
    const open = toMinutes(range.open);
    const close = toMinutes(range.close);
    if (open < close) return range.days.includes(now.weekday) && now.minutes >= open && now.minutes < close;
    return (range.days.includes(now.weekday) && now.minutes >= open) || (range.days.includes(yesterday) && now.minutes < close);
  });
}
