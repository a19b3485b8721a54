// A live view starts with the current state, then changes, so a client that (re)connects misses nothing.
// The order of work closes the gaps: the bus subscription is live first, then the read model is read, so
// every change committed after the read arrives on the bus. What arrived before the read began was
// committed before it (projections publish after commit) and is already in the snapshot: dropped. What
// arrives while the read runs may or may not be in it: held, and passed after the snapshot through the
// view's `admit`, which drops what the subscriber already has (an offer sent twice, a state unchanged), after
// the view's `notInSnapshot` dropped what is older than the snapshot (a state the read already saw replaced).

import { createHash } from 'node:crypto';
import { SlowConsumerError, attachDirect, type DirectSource } from './live-fanout.ts';

/** Messages a subscriber may have waiting before it is cut off as a slow consumer. */
const maxWaitingMessages = 1000;

export interface LiveView<T> {
  /** The current state, as messages of the live stream. */
  read(): Promise<T[]>;
  /** Whether a message adds anything for this subscriber; called in order for the snapshot, then for live messages. */
  admit(message: T): boolean;
  /**
   * Of the live messages that came while the snapshot was read (in order), those the snapshot does not already
   * have (by default all: admit then drops repeats). A message of a state older than the snapshot's can come
   * after the read began (a bus, or a connection pool, slower than the read): admit alone would send it after the
   * newer snapshot, then the snapshot's state again.
   */
  notInSnapshot?(snapshot: T[], held: T[]): T[];
}

export function snapshotThenChanges<T>(live: AsyncIterable<T>, view: LiveView<T>): AsyncIterableIterator<T> & DirectSource<T> {
  const source = live[Symbol.asyncIterator]() as AsyncIterator<T> & DirectSource<T>;
  /** Set once the reader takes messages straight from the source (attachDirect): the pump below stops. */
  let attached: ((message: T) => void) | null = null;
  /** Messages that came straight from the source before the pump let go (it may hold one on its way). */
  let early: T[] | null = null;
  const ready: T[] = [];
  /** Live messages that came while the snapshot was read; null once it was sent. */
  let held: T[] | null = [];
  let readStarted = false;
  let end: { error?: unknown } | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const offer = (message: T) => {
    if (!view.admit(message)) return;
    ready.push(message);
    // A subscriber that stopped reading cannot make this grow without bound: it is cut off instead.
    if (ready.length + (held?.length ?? 0) > maxWaitingMessages) {
      ready.length = 0;
      end ??= { error: new SlowConsumerError(`more than ${maxWaitingMessages} messages waiting`) };
      void source.return?.();
    }
  };

  void (async () => {
    try {
      for (;;) {
        const r = await source.next();
        // (Set by attachDirect meanwhile: the cast keeps TypeScript from narrowing it to its initial null.)
        const to = attached as ((message: T) => void) | null;
        if (to) {
          // A message the source gave this pump just before the reader attached comes first, then those that came since.
          const since = early ?? [];
          early = null;
          if (!r.done) to(r.value);
          for (const message of since) to(message);
          return;
        }
        if (r.done) break;
        if (!readStarted) continue;
        if (held) held.push(r.value);
        else offer(r.value);
        notify();
      }
      end ??= {};
    } catch (error) {
      end ??= { error };
    }
    notify();
  })();

  void (async () => {
    // One turn of the event loop lets the pump above take (and drop) what the bus delivered already.
    await new Promise((resolve) => setImmediate(resolve));
    readStarted = true;
    try {
      const snapshot = await view.read();
      for (const message of snapshot) offer(message);
      const during = held ?? [];
      for (const message of view.notInSnapshot ? view.notInSnapshot(snapshot, during) : during) offer(message);
      held = null;
    } catch (error) {
      end ??= { error };
      void source.return?.();
    }
    notify();
  })();

  return {
    async next(): Promise<IteratorResult<T>> {
      for (;;) {
        // Changes wait for the snapshot; an end (the subscription closed) does not.
        if (held === null && ready.length > 0) return { value: ready.shift()!, done: false };
        if (end) {
          if (end.error !== undefined) throw end.error;
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    /** Once the snapshot and everything held were read: each later message, if admitted, straight to `handler`. */
    [attachDirect](handler: (message: T) => void): boolean {
      if (attached || held !== null || ready.length > 0 || end || !source[attachDirect]) return false;
      const direct = (message: T) => {
        if (view.admit(message)) handler(message);
      };
      // The pump waits in source.next(): until it wakes (with nothing, or with a message already on its way), later messages wait behind it.
      early = [];
      if (!source[attachDirect]((message) => (early ? early.push(message) : direct(message)))) {
        early = null;
        return false;
      }
      attached = direct;
      return true;
    },
    async return(): Promise<IteratorResult<T>> {
      end ??= {};
      await source.return?.();
      notify();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * `admit` for views whose messages each carry one thing's whole state: a state is sent unless the subscriber
 * has exactly it already (the snapshot's row and the change that wrote it are one state). Compared with keys
 * sorted, since a row read back from jsonb columns orders its keys its own way.
 */
export function unlessAlreadySent<T>(keyOf: (message: T) => string): (message: T) => boolean {
  const sent = new Map<string, string>();
  return (message) => {
    const key = keyOf(message);
    const state = stateOf(message);
    if (sent.get(key) === state) return false;
    sent.set(key, state);
    return true;
  };
}

/**
 * `notInSnapshot` for the same views: a held message whose state is the one the snapshot has of its key is that
 * very state (a state is a whole row, its times included), so it and the messages of that key held before it are
 * in the snapshot already; those after it are newer. A key whose snapshot state no held message has: all of its
 * held messages are newer (an older one would have come before the message of the snapshot's state, in order).
 */
export function newerThanSnapshot<T>(keyOf: (message: T) => string): (snapshot: T[], held: T[]) => T[] {
  return (snapshot, held) => {
    if (held.length === 0) return held;
    const snapshotState = new Map(snapshot.map((m) => [keyOf(m), stateOf(m)]));
    /** Per key, the index of the last held message of the snapshot's state. */
    const caughtUpAt = new Map<string, number>();
    held.forEach((m, i) => {
      const key = keyOf(m);
      if (snapshotState.get(key) === stateOf(m)) caughtUpAt.set(key, i);
    });
    return held.filter((m, i) => i > (caughtUpAt.get(keyOf(m)) ?? -1));
  };
}

/**
 * A state as a digest: a supervisor's subscription remembers one per agent it follows, so its memory stays
 * small however many agents an instance has. A bus message is one frozen object shared by every subscriber
 * of its topic (live-fanout.ts): its digest is computed once, not once per subscriber.
 */
const statesOfSharedMessages = new WeakMap<object, string>();
function stateOf(message: unknown): string {
  const shared = message !== null && typeof message === 'object' && Object.isFrozen(message);
  const known = shared ? statesOfSharedMessages.get(message) : undefined;
  if (known !== undefined) return known;
  const text = JSON.stringify(message, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
  const state = createHash('sha256').update(text ?? 'undefined').digest('base64');
  if (shared) statesOfSharedMessages.set(message, state);
  return state;
}
