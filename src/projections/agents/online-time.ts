// Time online today (UTC days): every state but offline counts, breaks included, as CCC's "online duration".

export function utcDay(iso: string | Date): string {
  return new Date(iso).toISOString().slice(0, 10);
}

function startOfUtcDay(at: Date): number {
  return Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
}

export interface OnlineClock {
  onlineSince: Date | null;
  onlineDay: string | null;
  secondsAccumulated: number;
}

/** Closes an online spell at `at`: adds its part that falls on `at`'s day. */
export function closeOnlineSpell(clock: OnlineClock, at: Date): OnlineClock {
  if (!clock.onlineSince) return clock;
  const day = utcDay(at);
  const base = clock.onlineDay === day ? clock.secondsAccumulated : 0;
  const from = Math.max(clock.onlineSince.getTime(), startOfUtcDay(at));
  return { onlineSince: null, onlineDay: day, secondsAccumulated: base + Math.max(0, (at.getTime() - from) / 1000) };
}

export function onlineSecondsToday(clock: OnlineClock, now: Date): number {
  const today = utcDay(now);
  let seconds = clock.onlineDay === today ? clock.secondsAccumulated : 0;
  if (clock.onlineSince) seconds += Math.max(0, (now.getTime() - Math.max(clock.onlineSince.getTime(), startOfUtcDay(now))) / 1000);
  return Math.floor(seconds);
}
