// The event store conformance suite: every adapter must pass it unchanged.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  comparePositions,
  WrongExpectedRevisionError,
  type EventStore,
  type NewEvent,
  type Position,
  type RecordedEvent,
} from '../../src/domain/ports/event-store.ts';

export interface StoreUnderTest {
  store: EventStore;
  /** Optional: run `write` inside a transaction that commits only when `commit` is called (PostgreSQL only). */
  appendInOpenTransaction?: (streamId: string, events: NewEvent[]) => Promise<{ commit: () => Promise<void> }>;
  dispose: () => Promise<void>;
}

export function newEvent(type: string, data: Record<string, unknown> = {}): NewEvent {
  return {
    id: randomUUID(),
    type,
    data,
    metadata: { instanceId: 'i1', actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: new Date().toISOString() },
  };
}

const stream = (prefix = 'test') => `${prefix}-${randomUUID()}`;

function collectUntil(store: EventStore, after: Position | null, predicate: (events: RecordedEvent[]) => boolean, timeoutMs = 10_000) {
  const seen: RecordedEvent[] = [];
  return new Promise<RecordedEvent[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      void sub.stop();
      reject(new Error(`subscription saw ${seen.length} events before the timeout`));
    }, timeoutMs);
    const sub = store.subscribeToAll({
      after,
      onEvent: (e) => {
        seen.push(e);
        if (predicate(seen)) {
          clearTimeout(timer);
          void sub.stop().then(() => resolve(seen));
        }
      },
      onError: reject,
    });
  });
}

export function eventStoreConformance(
  name: string,
  open: () => Promise<StoreUnderTest>,
  options: { lateCommits?: boolean } = {},
) {
  describe(`event store conformance: ${name}`, () => {
    let t: StoreUnderTest;
    let store: EventStore;
    beforeAll(async () => {
      t = await open();
      store = t.store;
    });
    afterAll(async () => {
      await t?.dispose();
    });

    describe('append with an expected revision', () => {
      it('creates a stream with no_stream and refuses a second no_stream append', async () => {
        const s = stream();
        const r = await store.appendToStream(s, [newEvent('A'), newEvent('B')], { expectedRevision: 'no_stream' });
        expect(r.nextRevision).toBe(1);
        await expect(store.appendToStream(s, [newEvent('C')], { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(
          WrongExpectedRevisionError,
        );
        expect((await store.readStream(s)).map((e) => e.type)).toEqual(['A', 'B']);
      });

      it('appends at the exact revision and reports the actual one on a conflict', async () => {
        const s = stream();
        await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' });
        const r = await store.appendToStream(s, [newEvent('B')], { expectedRevision: 0 });
        expect(r.nextRevision).toBe(1);
        const err = await store.appendToStream(s, [newEvent('C')], { expectedRevision: 0 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WrongExpectedRevisionError);
        expect((err as WrongExpectedRevisionError).actual).toBe(1);
        await expect(store.appendToStream(stream(), [newEvent('X')], { expectedRevision: 3 })).rejects.toBeInstanceOf(
          WrongExpectedRevisionError,
        );
      });

      it('appends with any whether or not the stream exists', async () => {
        const s = stream();
        expect((await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'any' })).nextRevision).toBe(0);
        expect((await store.appendToStream(s, [newEvent('B'), newEvent('C')], { expectedRevision: 'any' })).nextRevision).toBe(2);
      });

      it('appends with stream_exists only to an existing stream', async () => {
        const s = stream();
        await expect(store.appendToStream(s, [newEvent('A')], { expectedRevision: 'stream_exists' })).rejects.toBeInstanceOf(
          WrongExpectedRevisionError,
        );
        await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' });
        expect((await store.appendToStream(s, [newEvent('B')], { expectedRevision: 'stream_exists' })).nextRevision).toBe(1);
      });

      it('lets exactly one of many concurrent appends at one revision win', async () => {
        const s = stream();
        await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' });
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => store.appendToStream(s, [newEvent('B', { i })], { expectedRevision: 0 })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(WrongExpectedRevisionError);
        expect(await store.readStream(s)).toHaveLength(2);
      });

      it('does not double an append retried with the same event ids', async () => {
        const s = stream();
        await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' });
        const batch = [newEvent('B'), newEvent('C')];
        const first = await store.appendToStream(s, batch, { expectedRevision: 0 });
        const again = await store.appendToStream(s, batch, { expectedRevision: 0 });
        expect(again.nextRevision).toBe(first.nextRevision);
        const events = await store.readStream(s);
        expect(events.map((e) => e.id)).toEqual([events[0]!.id, batch[0]!.id, batch[1]!.id]);
      });
    });

    describe('reading a stream', () => {
      it('reads forwards and backwards, from a revision, with a limit', async () => {
        const s = stream();
        await store.appendToStream(s, ['A', 'B', 'C', 'D'].map((t) => newEvent(t, { t })), { expectedRevision: 'no_stream' });
        const forwards = await store.readStream(s);
        expect(forwards.map((e) => [e.type, e.revision])).toEqual([['A', 0], ['B', 1], ['C', 2], ['D', 3]]);
        expect(forwards[1]!.data).toEqual({ t: 'B' });
        expect(forwards[1]!.metadata.instanceId).toBe('i1');
        expect((await store.readStream(s, { direction: 'backwards' })).map((e) => e.type)).toEqual(['D', 'C', 'B', 'A']);
        expect((await store.readStream(s, { fromRevision: 2 })).map((e) => e.type)).toEqual(['C', 'D']);
        expect((await store.readStream(s, { direction: 'backwards', fromRevision: 1 })).map((e) => e.type)).toEqual(['B', 'A']);
        expect((await store.readStream(s, { direction: 'backwards', maxCount: 1 })).map((e) => e.type)).toEqual(['D']);
        expect(await store.readStream(stream())).toEqual([]);
      });
    });

    describe('reading all events', () => {
      it('reads every event in order after a position, without others before it', async () => {
        const before = await store.headPosition();
        const s1 = stream();
        const s2 = stream();
        await store.appendToStream(s1, [newEvent('A1'), newEvent('A2')], { expectedRevision: 'no_stream' });
        await store.appendToStream(s2, [newEvent('B1')], { expectedRevision: 'no_stream' });
        await store.appendToStream(s1, [newEvent('A3')], { expectedRevision: 1 });
        const all = await store.readAll({ after: before, maxCount: 10_000 });
        const ours = all.filter((e) => e.streamId === s1 || e.streamId === s2);
        expect(ours.map((e) => e.type)).toEqual(['A1', 'A2', 'B1', 'A3']);
        for (let i = 1; i < all.length; i++) expect(comparePositions(all[i - 1]!.position, all[i]!.position)).toBe(-1);
        const fromMiddle = await store.readAll({ after: ours[1]!.position, maxCount: 10_000 });
        expect(fromMiddle.filter((e) => e.streamId === s1 || e.streamId === s2).map((e) => e.type)).toEqual(['B1', 'A3']);
        expect(await store.readAll({ after: before, maxCount: 2 })).toHaveLength(2);
      });
    });

    describe('reading all events in pages', () => {
      it('pages through one large append in numeric order, each event once, and heads at its last event', async () => {
        // Enough events in one append to cross the next power of ten of the position: order must be numeric.
        const before = await store.headPosition();
        const prepare = Number(before?.prepare ?? 0n);
        const count = Math.min(2000, Math.max(25, 10 ** String(prepare + 1).length - prepare + 5));
        const s = stream('page');
        await store.appendToStream(s, Array.from({ length: count }, (_, i) => newEvent('E', { i })), { expectedRevision: 'no_stream' });
        const seen: RecordedEvent[] = [];
        let after = before;
        for (;;) {
          const page = await store.readAll({ after, maxCount: 7 });
          if (page.length === 0) break;
          seen.push(...page);
          after = page[page.length - 1]!.position;
        }
        const ours = seen.filter((e) => e.streamId === s);
        expect(ours.map((e) => e.revision)).toEqual(Array.from({ length: count }, (_, i) => i));
        expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
        const head = await store.headPosition();
        expect(head && comparePositions(head, ours[count - 1]!.position)).toBe(0);
      });
    });

    describe('catch-up subscription', () => {
      it('delivers the past, then live events, with no gap and no duplicate', async () => {
        const s = stream('sub');
        const start = await store.headPosition();
        await store.appendToStream(s, Array.from({ length: 30 }, (_, i) => newEvent('Past', { i })), { expectedRevision: 'no_stream' });
        const collected = collectUntil(store, start, (seen) => seen.filter((e) => e.streamId === s).length >= 130);
        // Live appends race with the catch-up reads on purpose.
        for (let i = 0; i < 100; i++) {
          await store.appendToStream(s, [newEvent('Live', { i })], { expectedRevision: 'any' });
        }
        const seen = (await collected).filter((e) => e.streamId === s);
        expect(seen.map((e) => e.revision)).toEqual(Array.from({ length: 130 }, (_, i) => i));
        expect(new Set(seen.map((e) => e.id)).size).toBe(130);
      });

      it('tells when it has caught up, then goes on live', async () => {
        const s = stream('sub');
        await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' });
        const head = await store.headPosition();
        const got: string[] = [];
        let caughtUp!: () => void;
        const isCaughtUp = new Promise<void>((r) => (caughtUp = r));
        let sawLive!: () => void;
        const live = new Promise<void>((r) => (sawLive = r));
        const sub = store.subscribeToAll({
          after: head,
          onCaughtUp: () => caughtUp(),
          onEvent: (e) => {
            if (e.streamId === s) {
              got.push(e.type);
              sawLive();
            }
          },
        });
        await isCaughtUp;
        await store.appendToStream(s, [newEvent('B')], { expectedRevision: 0 });
        await live;
        await sub.stop();
        expect(got).toEqual(['B']);
      });

      // Only where concurrent transactions exist: PostgreSQL (PGlite has one connection, EventStoreDB one writer).
      if (options.lateCommits) it('never skips an event whose transaction commits after a later one', async () => {
        if (!t.appendInOpenTransaction) throw new Error('lateCommits needs appendInOpenTransaction');
        const slow = stream('late');
        const fast = stream('late');
        const start = await store.headPosition();
        const collected = collectUntil(store, start, (seen) => seen.filter((e) => e.streamId === slow || e.streamId === fast).length >= 2);
        // The slow transaction takes its sequence number first and commits last.
        const open = await t.appendInOpenTransaction(slow, [newEvent('Slow')]);
        await store.appendToStream(fast, [newEvent('Fast')], { expectedRevision: 'no_stream' });
        await new Promise((r) => setTimeout(r, 300));
        await open.commit();
        const seen = (await collected).filter((e) => e.streamId === slow || e.streamId === fast);
        expect(seen.map((e) => e.type).sort()).toEqual(['Fast', 'Slow']);
        // And a reader that starts after both sees them in the same order as the subscriber did.
        const all = (await store.readAll({ after: start, maxCount: 10_000 })).filter((e) => e.streamId === slow || e.streamId === fast);
        expect(all.map((e) => e.id)).toEqual(seen.map((e) => e.id));
      });
    });
  });
}
