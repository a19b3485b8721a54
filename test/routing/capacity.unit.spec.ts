// Workload against capacity: one voice/video line shared by PHONE and AV, N chats for ONLINE.
import { describe, expect, it } from 'vitest';
import { hasCapacity, load } from '../../src/domain/routing/capacity.ts';
import { agent } from './routing-fixtures.ts';

const holding = (PHONE: number, ONLINE: number, AV: number) => agent('a-1', { held: { PHONE, ONLINE, AV } });

describe('capacity', () => {
  describe('PHONE and AV', () => {
    it('a free agent has room for one phone call and one AV contact', () => {
      expect(hasCapacity(holding(0, 0, 0), 'PHONE', 1)).toBe(true);
      expect(hasCapacity(holding(0, 0, 0), 'AV', 1)).toBe(true);
    });

    it('an agent on a phone call gets no other phone call and no AV contact', () => {
      expect(hasCapacity(holding(1, 0, 0), 'PHONE', 1)).toBe(false);
      expect(hasCapacity(holding(1, 0, 0), 'AV', 1)).toBe(false);
    });

    it('an agent on an AV contact gets no phone call and no other AV contact', () => {
      expect(hasCapacity(holding(0, 0, 1), 'PHONE', 1)).toBe(false);
      expect(hasCapacity(holding(0, 0, 1), 'AV', 1)).toBe(false);
    });

    it('chats do not take the voice line: an agent chatting can still take a call', () => {
      expect(hasCapacity(holding(0, 3, 0), 'PHONE', 1)).toBe(true);
    });
  });

  describe('ONLINE', () => {
    it('chats fill up to the skill group maxConcurrency', () => {
      expect(hasCapacity(holding(0, 2, 0), 'ONLINE', 3)).toBe(true);
      expect(hasCapacity(holding(0, 3, 0), 'ONLINE', 3)).toBe(false);
    });

    it('a call does not use up chat capacity', () => {
      expect(hasCapacity(holding(1, 0, 0), 'ONLINE', 3)).toBe(true);
    });
  });

  it('an unavailable agent never has capacity, on any channel', () => {
    const away = agent('a-1', { available: false });
    expect(hasCapacity(away, 'PHONE', 1)).toBe(false);
    expect(hasCapacity(away, 'AV', 1)).toBe(false);
    expect(hasCapacity(away, 'ONLINE', 5)).toBe(false);
  });

  it('load is held / limit: 2 of 4 chats is half loaded, a call is a full line', () => {
    expect(load(holding(0, 2, 0), 'ONLINE', 4)).toBe(0.5);
    expect(load(holding(0, 0, 0), 'ONLINE', 4)).toBe(0);
    expect(load(holding(1, 0, 0), 'PHONE', 1)).toBe(1);
    expect(load(holding(0, 0, 1), 'PHONE', 1)).toBe(1);
  });

  it('a group that allows no chats counts everyone as fully loaded', () => {
    expect(load(holding(0, 0, 0), 'ONLINE', 0)).toBe(Number.POSITIVE_INFINITY);
  });
});
