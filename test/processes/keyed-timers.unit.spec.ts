// KeyedTimers (the router's and chat reception's timers): the keys under a prefix are found among its kind and
// entity's keys only, and are exactly those a scan of every key finds (for keys of other entities that do not
// begin with this one's), through random arming and clearing; cleared timers are stopped.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyedTimers } from '../../src/processes/keyed-timers.ts';
import { seededRandom } from '../support/seeded-random.ts';

describe('KeyedTimers', () => {
  afterEach(() => vi.useRealTimers());

  it('finds the keys under a prefix as a scan of every key does, through random sets, deletes and clears', () => {
    const rnd = seededRandom(1112);
    const pick = <T,>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
    // Fixed-length ids, as streams' UUIDs: no entity's id begins with another's.
    const entities = Array.from({ length: 30 }, (_, i) => `contact-i.${String(i).padStart(4, '0')}`);
    const kinds = ['idle', 'queue', 'offer', 'wait'];
    const keyOf = () => {
      const kind = pick(kinds);
      const entity = pick(entities);
      return kind === 'queue' ? `${kind}:${entity}` : `${kind}:${entity}:${pick(['2026-05-01T10:00:00.000Z', '2026-05-01T10:00:05.000Z', 'o1', 'g:2026-05-01T10:00:00.000Z'])}`;
    };
    const timers = new KeyedTimers();
    const model = new Set<string>();
    const handle = setTimeout(() => {}, 0);
    clearTimeout(handle);
    for (let step = 0; step < 5000; step++) {
      const r = rnd();
      if (r < 0.5) {
        const key = keyOf();
        timers.set(key, handle);
        model.add(key);
      } else if (r < 0.8) {
        const key = rnd() < 0.7 && model.size > 0 ? pick([...model]) : keyOf();
        expect(timers.delete(key)).toBe(model.delete(key));
      } else if (r < 0.999) {
        const entity = pick(entities);
        const kind = pick(kinds);
        const prefix = pick([`${kind}:${entity}:`, `${kind}:${entity}`, `${kind}:${entity}:2026-05-01T10:00:0`]);
        const expected = [...model].filter((k) => k.startsWith(prefix)).sort();
        expect(timers.keysWithPrefix(prefix).sort()).toEqual(expected);
        if (rnd() < 0.5) {
          timers.clearPrefix(prefix);
          for (const k of expected) model.delete(k);
        }
      } else {
        timers.clear();
        model.clear();
      }
      expect(timers.size).toBe(model.size);
    }
    // A prefix with no colon looks at every key.
    expect(timers.keysWithPrefix('idle').sort()).toEqual([...model].filter((k) => k.startsWith('idle')).sort());
  });

  it('keeps another entity\'s timers whose id begins with this one\'s, and stops the cleared ones', () => {
    vi.useFakeTimers();
    const timers = new KeyedTimers();
    const fired: string[] = [];
    for (const key of ['queue:contact-i.1', 'queue:contact-i.12', 'idle:contact-i.1:t1', 'idle:contact-i.12:t1', 'seat:i/a'])
      timers.set(key, setTimeout(() => fired.push(key), 1000));
    expect(timers.keysWithPrefix('queue:contact-i.1')).toEqual(['queue:contact-i.1']);
    timers.clearPrefix('queue:contact-i.1');
    timers.clearPrefix('idle:contact-i.1:');
    vi.advanceTimersByTime(2000);
    expect(fired.sort()).toEqual(['idle:contact-i.12:t1', 'queue:contact-i.12', 'seat:i/a']);
    expect([...timers.keys()].sort()).toEqual(['idle:contact-i.12:t1', 'queue:contact-i.12', 'seat:i/a']);
  });
});
