// The queue of a skill group: priority first, then first come first served.
import { describe, expect, it } from 'vitest';
import { compareWaiting, orderQueue } from '../../src/domain/routing/queue-order.ts';
import { at, contact } from './routing-fixtures.ts';

const ids = (contacts: { contactId: string }[]): string[] => contacts.map((c) => c.contactId);

describe('queue order', () => {
  it('serves a higher priority first, however long the others have waited', () => {
    const old = contact('old', { priority: 0, queuedAt: at('09:00'), sequence: 1 });
    const urgent = contact('urgent', { priority: 5, queuedAt: at('10:00'), sequence: 2 });
    expect(ids(orderQueue([old, urgent]))).toEqual(['urgent', 'old']);
  });

  it('serves the earlier queued first within a priority', () => {
    const second = contact('second', { queuedAt: at('10:01'), sequence: 1 });
    const first = contact('first', { queuedAt: at('10:00'), sequence: 2 });
    expect(ids(orderQueue([second, first]))).toEqual(['first', 'second']);
  });

  it('breaks a tie in the same millisecond by the order of the queued events', () => {
    const later = contact('later', { sequence: 8 });
    const earlier = contact('earlier', { sequence: 7 });
    expect(ids(orderQueue([later, earlier]))).toEqual(['earlier', 'later']);
  });

  it('compares instants, not the text of the timestamps', () => {
    const withOffset = contact('with-offset', { queuedAt: '2025-03-01T11:00:00+02:00', sequence: 2 });
    const utc = contact('utc', { queuedAt: '2025-03-01T09:30:00.000Z', sequence: 1 });
    expect(ids(orderQueue([utc, withOffset]))).toEqual(['with-offset', 'utc']);
  });

  it('keeps the place of a contact that went back to the queue after a missed offer', () => {
    const back = contact('back', { queuedAt: at('10:00'), sequence: 1, triedAgentIds: ['a-1'] });
    const newer = contact('newer', { queuedAt: at('10:02'), sequence: 2 });
    expect(ids(orderQueue([newer, back]))).toEqual(['back', 'newer']);
  });

  it('is a consistent comparison: a contact ties only with itself', () => {
    const a = contact('a', { sequence: 1 });
    const b = contact('b', { sequence: 2 });
    expect(compareWaiting(a, a)).toBe(0);
    expect(Math.sign(compareWaiting(a, b))).toBe(-Math.sign(compareWaiting(b, a)));
  });

  it('leaves the given list as it was', () => {
    const input = [contact('b', { sequence: 2 }), contact('a', { sequence: 1 })];
    orderQueue(input);
    expect(ids(input)).toEqual(['b', 'a']);
  });
});
