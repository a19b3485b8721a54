// Time online today (UTC days): closing a spell keeps only its part on the closing day; breaks count as online.
import { describe, expect, it } from 'vitest';
import type { OnlineClock } from '../../src/projections/agents/online-time.ts';
import { closeOnlineSpell, onlineSecondsToday, utcDay } from '../../src/projections/agents/online-time.ts';

const at = (iso: string) => new Date(iso);
const offlineClock: OnlineClock = { onlineSince: null, onlineDay: null, secondsAccumulated: 0 };

describe('utcDay', () => {
  it('is the UTC date, whatever the offset of the input', () => {
    expect(utcDay('2026-11-25T23:30:00.000-02:00')).toBe('2026-11-26');
    expect(utcDay(at('2026-11-25T00:00:00.000Z'))).toBe('2026-11-25');
  });
});

describe('closeOnlineSpell', () => {
  describe('when offline', () => {
    it('changes nothing', () => {
      const clock: OnlineClock = { onlineSince: null, onlineDay: '2026-11-25', secondsAccumulated: 120 };
      expect(closeOnlineSpell(clock, at('2026-11-25T10:00:00.000Z'))).toBe(clock);
    });
  });

  describe('when online', () => {
    it('adds a spell within one day to nothing', () => {
      const clock: OnlineClock = { ...offlineClock, onlineSince: at('2026-11-25T09:00:00.000Z') };
      expect(closeOnlineSpell(clock, at('2026-11-25T09:30:00.000Z'))).toEqual({ onlineSince: null, onlineDay: '2026-11-25', secondsAccumulated: 1800 });
    });

    it('adds a spell to the time already online that day', () => {
      const clock: OnlineClock = { onlineSince: at('2026-11-25T14:00:00.000Z'), onlineDay: '2026-11-25', secondsAccumulated: 600 };
      expect(closeOnlineSpell(clock, at('2026-11-25T14:10:00.000Z'))).toEqual({ onlineSince: null, onlineDay: '2026-11-25', secondsAccumulated: 1200 });
    });

    it('starts the count again on a new day', () => {
      const clock: OnlineClock = { onlineSince: at('2026-11-26T08:00:00.000Z'), onlineDay: '2026-11-25', secondsAccumulated: 5000 };
      expect(closeOnlineSpell(clock, at('2026-11-26T08:05:00.000Z'))).toEqual({ onlineSince: null, onlineDay: '2026-11-26', secondsAccumulated: 300 });
    });

    it('keeps only the part after UTC midnight of a spell that crosses it', () => {
      const clock: OnlineClock = { onlineSince: at('2026-11-25T23:30:00.000Z'), onlineDay: '2026-11-25', secondsAccumulated: 3600 };
      expect(closeOnlineSpell(clock, at('2026-11-26T00:15:00.000Z'))).toEqual({ onlineSince: null, onlineDay: '2026-11-26', secondsAccumulated: 900 });
    });

    it('counts nothing of a spell closed exactly at midnight', () => {
      const clock: OnlineClock = { ...offlineClock, onlineSince: at('2026-11-25T23:00:00.000Z') };
      expect(closeOnlineSpell(clock, at('2026-11-26T00:00:00.000Z'))).toEqual({ onlineSince: null, onlineDay: '2026-11-26', secondsAccumulated: 0 });
    });

    it('never counts a negative spell when the close comes before the start', () => {
      const clock: OnlineClock = { onlineSince: at('2026-11-25T10:00:05.000Z'), onlineDay: '2026-11-25', secondsAccumulated: 60 };
      expect(closeOnlineSpell(clock, at('2026-11-25T10:00:00.000Z'))).toEqual({ onlineSince: null, onlineDay: '2026-11-25', secondsAccumulated: 60 });
    });
  });
});

describe('onlineSecondsToday', () => {
  describe('when offline', () => {
    it('is nothing for an agent never online', () => {
      expect(onlineSecondsToday(offlineClock, at('2026-11-25T12:00:00.000Z'))).toBe(0);
    });

    it('is the time accumulated today, in whole seconds', () => {
      const clock: OnlineClock = { onlineSince: null, onlineDay: '2026-11-25', secondsAccumulated: 1234.9 };
      expect(onlineSecondsToday(clock, at('2026-11-25T18:00:00.000Z'))).toBe(1234);
    });

    it('forgets the time accumulated on an earlier day', () => {
      const clock: OnlineClock = { onlineSince: null, onlineDay: '2026-11-24', secondsAccumulated: 1234 };
      expect(onlineSecondsToday(clock, at('2026-11-25T08:00:00.000Z'))).toBe(0);
    });
  });

  describe('when online', () => {
    it('adds the open spell to the time accumulated today', () => {
      const clock: OnlineClock = { onlineSince: at('2026-11-25T11:00:00.000Z'), onlineDay: '2026-11-25', secondsAccumulated: 600 };
      expect(onlineSecondsToday(clock, at('2026-11-25T11:20:30.500Z'))).toBe(600 + 1230);
    });

    it('counts an open spell that crosses UTC midnight from midnight only', () => {
      const clock: OnlineClock = { onlineSince: at('2026-11-25T22:00:00.000Z'), onlineDay: '2026-11-25', secondsAccumulated: 7200 };
      expect(onlineSecondsToday(clock, at('2026-11-26T00:45:00.000Z'))).toBe(2700);
    });

    it('agrees with the spell as closed at the same moment', () => {
      const clock: OnlineClock = { onlineSince: at('2026-11-25T23:10:00.000Z'), onlineDay: '2026-11-25', secondsAccumulated: 300 };
      const now = at('2026-11-26T01:00:00.000Z');
      expect(onlineSecondsToday(clock, now)).toBe(onlineSecondsToday(closeOnlineSpell(clock, now), now));
      expect(onlineSecondsToday(clock, now)).toBe(3600);
    });

    it('never counts a spell that starts after now', () => {
      const clock: OnlineClock = { onlineSince: at('2026-11-25T10:00:05.000Z'), onlineDay: '2026-11-25', secondsAccumulated: 60 };
      expect(onlineSecondsToday(clock, at('2026-11-25T10:00:00.000Z'))).toBe(60);
    });
  });
});
