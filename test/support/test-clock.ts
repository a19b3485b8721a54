// A clock a test sets: the wall clock shifted by an offset, so time still runs (timers, token lifetimes and
// waits behave) while the test decides what day and hour Kefu sees. Given to startTestKefu({ clock }) it is
// the clock work hours, flows' business hours, the IVR and event stamps read (startKefu's `clock` option);
// production has no way to set it.
export interface TestClock {
  /** What Kefu reads. */
  now(): Date;
  /** From now on the clock reads `at` (and runs on from there). */
  setTo(at: Date | string): void;
  /** Back to the wall clock. */
  reset(): void;
}

export function testClock(): TestClock {
  let offsetMs = 0;
  return {
    now: () => new Date(Date.now() + offsetMs),
    setTo(at) {
      const ms = typeof at === 'string' ? Date.parse(at) : at.getTime();
      if (!Number.isFinite(ms)) throw new Error(`testClock.setTo: not a time: ${String(at)}`);
      offsetMs = ms - Date.now();
    },
    reset() {
      offsetMs = 0;
    },
  };
}

/** The next `weekday` (0 Sunday … 6 Saturday) at `hour`:`minute` UTC strictly after `from` (at least a day ahead, so never today). */
export function nextUtc(weekday: number, hour: number, minute = 0, from = new Date()): Date {
  const d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate() + 1, hour, minute));
  while (d.getUTCDay() !== weekday) d.setUTCDate(d.getUTCDate() + 1);
  return d;
}
