// A live view's snapshot and its changes meet without a gap or a repeat, whatever arrives while the
// snapshot is read.
import { describe, expect, it } from 'vitest';
import { newerThanSnapshot, snapshotThenChanges, unlessAlreadySent } from '../../src/api/snapshot-then-changes.ts';

/** A bus subscription's queue, fed by the test. */
function liveQueue<T>() {
  const queued: T[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  const iterable: AsyncIterable<T> = {
    [Symbol.asyncIterator]: () => ({
      async next(): Promise<IteratorResult<T>> {
        while (queued.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
        return queued.length > 0 ? { value: queued.shift()!, done: false } : { value: undefined, done: true };
      },
      async return() {
        ended = true;
        wake?.();
        return { value: undefined, done: true };
      },
    }),
  };
  return {
    iterable,
    push(m: T) {
      queued.push(m);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
  };
}

const turn = () => new Promise((r) => setImmediate(r));

async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

interface Offer {
  offerId: string;
  state: 'OFFERED' | 'TIMED_OUT';
}

/** The agentOffers rule: OFFERED once per offer, an end only after its OFFERED. */
function offerAdmit() {
  const ringing = new Set<string>();
  return (m: Offer) => {
    if (m.state !== 'OFFERED') return ringing.delete(m.offerId);
    if (ringing.has(m.offerId)) return false;
    ringing.add(m.offerId);
    return true;
  };
}

describe('snapshotThenChanges', () => {
  it('drops what arrived before the snapshot was read, holds what arrives during it, and passes the rest through admit', async () => {
    const live = liveQueue<Offer>();
    let release!: (rows: Offer[]) => void;
    const read = new Promise<Offer[]>((r) => (release = r));
    // Committed (and so in the snapshot, or over) before the read: dropped.
    live.push({ offerId: 'old', state: 'OFFERED' });
    const it = snapshotThenChanges(live.iterable, { read: () => read, admit: offerAdmit() });
    await turn();
    await turn();
    // During the read: 'a' is in the snapshot too (a repeat), 'b' ends before the snapshot sees it, 'c' is new.
    live.push({ offerId: 'a', state: 'OFFERED' });
    live.push({ offerId: 'b', state: 'TIMED_OUT' });
    live.push({ offerId: 'c', state: 'OFFERED' });
    await turn();
    release([{ offerId: 'a', state: 'OFFERED' }]);
    live.push({ offerId: 'a', state: 'TIMED_OUT' });
    live.push({ offerId: 'c', state: 'TIMED_OUT' });
    expect(await take(it, 4)).toEqual([
      { offerId: 'a', state: 'OFFERED' },
      { offerId: 'c', state: 'OFFERED' },
      { offerId: 'a', state: 'TIMED_OUT' },
      { offerId: 'c', state: 'TIMED_OUT' },
    ]);
    live.end();
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('sends nothing live before the snapshot, even when the read is slow', async () => {
    const live = liveQueue<Offer>();
    let release!: (rows: Offer[]) => void;
    const it = snapshotThenChanges(live.iterable, { read: () => new Promise((r) => (release = r)), admit: offerAdmit() });
    await turn();
    await turn();
    live.push({ offerId: 'new', state: 'OFFERED' });
    const first = it.next();
    let settled = false;
    void first.then(() => (settled = true));
    await turn();
    await turn();
    expect(settled).toBe(false);
    release([{ offerId: 'ringing', state: 'OFFERED' }]);
    expect((await first).value).toEqual({ offerId: 'ringing', state: 'OFFERED' });
    expect((await it.next()).value).toEqual({ offerId: 'new', state: 'OFFERED' });
  });

  it('ends with the error of a failed snapshot, and lets the bus subscription go', async () => {
    const live = liveQueue<Offer>();
    const it = snapshotThenChanges(live.iterable, { read: async () => Promise.reject(new Error('read failed')), admit: () => true });
    await expect(it.next()).rejects.toThrow('read failed');
  });

  it('ends when the subscription closes before the snapshot was read', async () => {
    const live = liveQueue<Offer>();
    const it = snapshotThenChanges(live.iterable, { read: () => new Promise(() => undefined), admit: () => true });
    live.end();
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });
});

describe('snapshotThenChanges of whole states (agentStatusChanged)', () => {
  interface Status {
    id: string;
    presence: string;
    since: number;
  }
  const view = (read: Promise<Status[]>) => ({ read: () => read, admit: unlessAlreadySent<Status>((m) => m.id), notInSnapshot: newerThanSnapshot<Status>((m) => m.id) });

  it('sends no state older than the snapshot when its message comes after the read began (a slow bus or pool)', async () => {
    const live = liveQueue<Status>();
    let release!: (rows: Status[]) => void;
    const it = snapshotThenChanges(live.iterable, view(new Promise((r) => (release = r))));
    await turn();
    await turn();
    // Ann went on a break (1), then back (2), both committed before the read ran; their messages come during it.
    live.push({ id: 'ann', presence: 'BREAK', since: 1 });
    live.push({ id: 'ann', presence: 'AVAILABLE', since: 2 });
    // Bob's change (3) came after what the read saw of him (0).
    live.push({ id: 'bob', presence: 'BREAK', since: 3 });
    await turn();
    release([
      { id: 'ann', presence: 'AVAILABLE', since: 2 },
      { id: 'bob', presence: 'OFFLINE', since: 0 },
    ]);
    live.push({ id: 'ann', presence: 'BREAK', since: 4 });
    expect(await take(it, 4)).toEqual([
      { id: 'ann', presence: 'AVAILABLE', since: 2 },
      { id: 'bob', presence: 'OFFLINE', since: 0 },
      { id: 'bob', presence: 'BREAK', since: 3 },
      { id: 'ann', presence: 'BREAK', since: 4 },
    ]);
  });

  it('sends every state held after the snapshot when the read saw none of them, once', async () => {
    const live = liveQueue<Status>();
    let release!: (rows: Status[]) => void;
    const it = snapshotThenChanges(live.iterable, view(new Promise((r) => (release = r))));
    await turn();
    await turn();
    live.push({ id: 'ann', presence: 'BREAK', since: 1 });
    live.push({ id: 'ann', presence: 'AVAILABLE', since: 2 });
    await turn();
    release([{ id: 'ann', presence: 'OFFLINE', since: 0 }]);
    live.push({ id: 'ann', presence: 'AVAILABLE', since: 2 });
    live.push({ id: 'ann', presence: 'OFFLINE', since: 3 });
    expect(await take(it, 4)).toEqual([
      { id: 'ann', presence: 'OFFLINE', since: 0 },
      { id: 'ann', presence: 'BREAK', since: 1 },
      { id: 'ann', presence: 'AVAILABLE', since: 2 },
      { id: 'ann', presence: 'OFFLINE', since: 3 },
    ]);
  });
});

describe('unlessAlreadySent', () => {
  it('sends a state once per key, whatever the order of its keys, and every change', () => {
    const admit = unlessAlreadySent<{ id: string; presence: string; held: Record<string, number> }>((m) => m.id);
    expect(admit({ id: 'ann', presence: 'AVAILABLE', held: { a: 1, b: 2 } })).toBe(true);
    expect(admit({ presence: 'AVAILABLE', held: { b: 2, a: 1 }, id: 'ann' })).toBe(false);
    expect(admit({ id: 'bob', presence: 'AVAILABLE', held: { a: 1, b: 2 } })).toBe(true);
    expect(admit({ id: 'ann', presence: 'BREAK', held: { a: 1, b: 2 } })).toBe(true);
    expect(admit({ id: 'ann', presence: 'AVAILABLE', held: { a: 1, b: 2 } })).toBe(true);
  });
});
