// The event store conformance suite: every adapter must pass it unchanged.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  comparePositions,
  DuplicateEventIdError,
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

/**
 * The head once it has reached `position`. Readers (headPosition too) stop below the oldest transaction running in
 * the database, which the other specs of a run share: an append's events can stay out of sight for a while after
 * it returned, while another spec holds a transaction.
 */
async function headAtLeast(store: EventStore, position: Position, timeoutMs = 60_000): Promise<Position> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const head = await store.headPosition();
    if (head && comparePositions(head, position) >= 0) return head;
    if (Date.now() > deadline) throw new Error(`the head stayed at ${String(head?.commit)}/${String(head?.prepare)}, below ${String(position.commit)}/${String(position.prepare)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** readAll after `after` (one page of up to 10,000) once `done` holds for it (see headAtLeast: events show late). */
async function readAllUntil(store: EventStore, after: Position | null, done: (events: RecordedEvent[]) => boolean, timeoutMs = 60_000): Promise<RecordedEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await store.readAll({ after, maxCount: 10_000 });
    if (done(events) || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function collectUntil(store: EventStore, after: Position | null, predicate: (events: RecordedEvent[]) => boolean, timeoutMs = 60_000) {
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

export interface ConformanceOptions {
  /** The store has concurrent transactions (PostgreSQL): test that a late commit is never skipped. */
  lateCommits?: boolean;
  /**
   * Opens a second store of the adapter that batches appends made while another is in flight (PostgreSQL,
   * PGlite: `maxAppendsInFlight: 1`): the appends started together after a first one go as one batch.
   */
  openBatching?: () => Promise<StoreUnderTest>;
}

export function eventStoreConformance(name: string, open: () => Promise<StoreUnderTest>, options: ConformanceOptions = {}) {
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

    describe('concurrent appends to several streams', () => {
      it('gives each append its own outcome: conflicts fail alone, the others are written', async () => {
        const existing = Array.from({ length: 4 }, () => stream('conc'));
        for (const s of existing) await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' });
        const fresh = Array.from({ length: 3 }, () => stream('conc'));
        const calls: { s: string; expected: 'no_stream' | 'any' | 'stream_exists' | number; ok: boolean; actual?: number | 'no_stream' }[] = [
          { s: existing[0]!, expected: 0, ok: true },
          { s: existing[1]!, expected: 5, ok: false, actual: 0 },
          { s: existing[2]!, expected: 'no_stream', ok: false, actual: 0 },
          { s: existing[3]!, expected: 'stream_exists', ok: true },
          { s: fresh[0]!, expected: 'no_stream', ok: true },
          { s: fresh[1]!, expected: 0, ok: false, actual: 'no_stream' },
          { s: fresh[2]!, expected: 'any', ok: true },
        ];
        const results = await Promise.allSettled(calls.map((c) => store.appendToStream(c.s, [newEvent('B'), newEvent('C')], { expectedRevision: c.expected })));
        results.forEach((r, i) => {
          const c = calls[i]!;
          if (c.ok) {
            expect(r.status, `append ${i}`).toBe('fulfilled');
            expect((r as PromiseFulfilledResult<{ nextRevision: number }>).value.nextRevision).toBe(typeof c.expected === 'number' || c.expected === 'stream_exists' ? 2 : 1);
          } else {
            expect(r.status, `append ${i}`).toBe('rejected');
            const err = (r as PromiseRejectedResult).reason as WrongExpectedRevisionError;
            expect(err).toBeInstanceOf(WrongExpectedRevisionError);
            expect(err.actual).toBe(c.actual);
          }
        });
        expect((await store.readStream(existing[0]!)).map((e) => e.type)).toEqual(['A', 'B', 'C']);
        expect((await store.readStream(existing[1]!)).map((e) => e.type)).toEqual(['A']);
        expect((await store.readStream(existing[2]!)).map((e) => e.type)).toEqual(['A']);
        expect((await store.readStream(fresh[1]!))).toEqual([]);
        expect((await store.readStream(fresh[2]!)).map((e) => e.revision)).toEqual([0, 1]);
      });

      it('does not double an append sent twice at once with the same event ids', async () => {
        const s = stream();
        await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' });
        const batch = [newEvent('B'), newEvent('C')];
        const [one, two] = await Promise.all([
          store.appendToStream(s, batch, { expectedRevision: 0 }),
          store.appendToStream(s, batch, { expectedRevision: 0 }),
        ]);
        expect(one.nextRevision).toBe(2);
        expect(two.nextRevision).toBe(2);
        expect(comparePositions(one.position, two.position)).toBe(0);
        expect((await store.readStream(s)).map((e) => e.type)).toEqual(['A', 'B', 'C']);
      });
    });

    if (options.openBatching) describe('appends batched into one transaction', () => {
      let b: StoreUnderTest;
      beforeAll(async () => {
        b = await options.openBatching!();
      });
      afterAll(async () => {
        await b?.dispose();
      });
      /** A first append to hold the store busy; the appends started right after it wait and go as one batch. */
      const lead = () => b.store.appendToStream(stream('lead'), [newEvent('Lead')], { expectedRevision: 'no_stream' });

      it('keeps each append of a batch to itself: a conflict fails alone, the others commit together', async () => {
        const taken = stream('batch');
        await b.store.appendToStream(taken, [newEvent('A')], { expectedRevision: 'no_stream' });
        const s1 = stream('batch');
        const s2 = stream('batch');
        const first = lead();
        const ok1 = b.store.appendToStream(s1, [newEvent('S1')], { expectedRevision: 'no_stream' });
        const bad = b.store.appendToStream(taken, [newEvent('X')], { expectedRevision: 'no_stream' }).catch((e: unknown) => e);
        const ok2 = b.store.appendToStream(s2, [newEvent('S2a'), newEvent('S2b')], { expectedRevision: 'any' });
        const bad2 = b.store.appendToStream(taken, [newEvent('Y')], { expectedRevision: 3 }).catch((e: unknown) => e);
        await first;
        const [r1, r2] = await Promise.all([ok1, ok2]);
        expect(r1.nextRevision).toBe(0);
        expect(r2.nextRevision).toBe(1);
        // One batch: one transaction.
        expect(r1.position.commit).toBe(r2.position.commit);
        expect(await bad).toBeInstanceOf(WrongExpectedRevisionError);
        expect(((await bad) as WrongExpectedRevisionError).actual).toBe(0);
        expect(((await bad2) as WrongExpectedRevisionError).actual).toBe(0);
        expect((await b.store.readStream(taken)).map((e) => e.type)).toEqual(['A']);
        expect((await b.store.readStream(s2)).map((e) => [e.type, e.revision])).toEqual([['S2a', 0], ['S2b', 1]]);
        // Readers see both, in one order, after the positions the appends returned.
        const head = await headAtLeast(b.store, comparePositions(r1.position, r2.position) >= 0 ? r1.position : r2.position);
        expect(comparePositions(head, r2.position) >= 0 && comparePositions(head, r1.position) >= 0).toBe(true);
      });

      it('runs appends to one stream in one batch one after the other', async () => {
        const s = stream('batch');
        const first = lead();
        const calls = [
          b.store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' }),
          b.store.appendToStream(s, [newEvent('B'), newEvent('C')], { expectedRevision: 0 }),
          b.store.appendToStream(s, [newEvent('D')], { expectedRevision: 0 }).catch((e: unknown) => e),
          b.store.appendToStream(s, [newEvent('E')], { expectedRevision: 2 }),
          b.store.appendToStream(s, [newEvent('F')], { expectedRevision: 'any' }),
          b.store.appendToStream(s, [newEvent('G')], { expectedRevision: 'no_stream' }).catch((e: unknown) => e),
        ] as const;
        await first;
        const [a, bc, d, e, f, g] = await Promise.all(calls);
        expect([a.nextRevision, bc.nextRevision, e.nextRevision, f.nextRevision]).toEqual([0, 2, 3, 4]);
        expect(new Set([a, bc, e, f].map((r) => r.position.commit)).size).toBe(1);
        expect((d as WrongExpectedRevisionError).actual).toBe(2);
        expect((g as WrongExpectedRevisionError).actual).toBe(4);
        const events = await b.store.readStream(s);
        expect(events.map((x) => [x.type, x.revision])).toEqual([['A', 0], ['B', 1], ['C', 2], ['E', 3], ['F', 4]]);
        for (let i = 1; i < events.length; i++) expect(comparePositions(events[i - 1]!.position, events[i]!.position)).toBe(-1);
      });

      it('treats a retry inside a batch as idempotent, and refuses event ids used by another stream', async () => {
        const s = stream('batch');
        const other = stream('batch');
        const used = newEvent('Used');
        await b.store.appendToStream(other, [used], { expectedRevision: 'no_stream' });
        const events = [newEvent('A'), newEvent('B')];
        const first = lead();
        const original = b.store.appendToStream(s, events, { expectedRevision: 'no_stream' });
        const retry = b.store.appendToStream(s, events, { expectedRevision: 'no_stream' });
        const stolen = b.store.appendToStream(stream('batch'), [used], { expectedRevision: 'no_stream' }).catch((e: unknown) => e);
        const after = b.store.appendToStream(s, [newEvent('C')], { expectedRevision: 1 });
        await first;
        const [o, r, c] = await Promise.all([original, retry, after]);
        expect(o.nextRevision).toBe(1);
        expect(r.nextRevision).toBe(1);
        expect(comparePositions(o.position, r.position)).toBe(0);
        expect(c.nextRevision).toBe(2);
        expect(await stolen).toBeInstanceOf(DuplicateEventIdError);
        expect((await b.store.readStream(s)).map((e) => e.type)).toEqual(['A', 'B', 'C']);
        expect((await b.store.readStream(other)).map((e) => e.type)).toEqual(['Used']);
      });

      it('falls back to one append at a time when the server refuses the whole batch', async () => {
        // The second event id of one append is taken by another stream: the batch's insert fails as a whole.
        const other = stream('batch');
        const used = newEvent('Used');
        await b.store.appendToStream(other, [used], { expectedRevision: 'no_stream' });
        const s1 = stream('batch');
        const s2 = stream('batch');
        const s3 = stream('batch');
        const first = lead();
        const ok1 = b.store.appendToStream(s1, [newEvent('S1')], { expectedRevision: 'no_stream' });
        const bad = b.store.appendToStream(s2, [newEvent('Fresh'), used], { expectedRevision: 'no_stream' }).catch((e: unknown) => e);
        const ok3 = b.store.appendToStream(s3, [newEvent('S3')], { expectedRevision: 'no_stream' });
        const ok1b = b.store.appendToStream(s1, [newEvent('S1b')], { expectedRevision: 0 });
        await first;
        expect((await ok1).nextRevision).toBe(0);
        expect((await ok3).nextRevision).toBe(0);
        expect((await ok1b).nextRevision).toBe(1);
        expect(await bad).toBeInstanceOf(Error);
        expect(await b.store.readStream(s2)).toEqual([]);
        expect((await b.store.readStream(s1)).map((e) => e.type)).toEqual(['S1', 'S1b']);
        expect((await b.store.readStream(other)).map((e) => e.type)).toEqual(['Used']);
      });

      it('delivers batched appends to a subscriber in order, each once', async () => {
        const s = stream('batch');
        const start = await b.store.headPosition();
        const collected = collectUntil(b.store, start, (seen) => seen.filter((e) => e.streamId === s).length >= 40);
        const first = lead();
        const all = Array.from({ length: 40 }, (_, i) => b.store.appendToStream(s, [newEvent('E', { i })], { expectedRevision: i === 0 ? 'no_stream' : i - 1 }));
        await first;
        await Promise.all(all);
        const seen = (await collected).filter((e) => e.streamId === s);
        expect(seen.map((e) => e.revision)).toEqual(Array.from({ length: 40 }, (_, i) => i));
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
        const all = await readAllUntil(store, before, (events) => events.filter((e) => e.streamId === s1 || e.streamId === s2).length >= 4);
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
        // A reader stops below the oldest transaction still running in the database (other specs of the run may
        // hold one): an empty page can mean "not visible yet", so read on until the append is all there.
        const deadline = Date.now() + 60_000;
        while (seen.filter((e) => e.streamId === s).length < count && Date.now() < deadline) {
          const page = await store.readAll({ after, maxCount: 7 });
          if (page.length === 0) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            continue;
          }
          seen.push(...page);
          after = page[page.length - 1]!.position;
        }
        const ours = seen.filter((e) => e.streamId === s);
        expect(ours.map((e) => e.revision)).toEqual(Array.from({ length: count }, (_, i) => i));
        expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
        const head = await headAtLeast(store, ours[count - 1]!.position);
        expect(comparePositions(head, ours[count - 1]!.position)).toBe(0);
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

      it('gives each of many subscribers (some at the head, some behind) every event once, in one order', async () => {
        const s = stream('many');
        const start = await store.headPosition();
        const past = await store.appendToStream(s, Array.from({ length: 10 }, (_, i) => newEvent('Past', { i })), { expectedRevision: 'no_stream' });
        const middle = await headAtLeast(store, past.position);
        const writers = Array.from({ length: 5 }, (_, w) => `${s}-w${w}`);
        const ours = (e: RecordedEvent) => e.streamId === s || writers.includes(e.streamId);
        // Eight from the same position (they share reads where the store can), four from the middle.
        const all = [
          ...Array.from({ length: 8 }, () => collectUntil(store, start, (seen) => seen.filter(ours).length >= 60)),
          ...Array.from({ length: 4 }, () => collectUntil(store, middle, (seen) => seen.filter(ours).length >= 50)),
        ];
        // Five writers at once, each on a stream of its own.
        await Promise.all(
          writers.map(async (w) => {
            for (let i = 0; i < 10; i++) await store.appendToStream(w, [newEvent('Live', { i })], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
          }),
        );
        const results = (await Promise.all(all)).map((seen) => seen.filter(ours));
        for (const [i, seen] of results.entries()) {
          expect(seen).toHaveLength(i < 8 ? 60 : 50);
          expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
          for (const id of [s, ...writers]) {
            const revisions = seen.filter((e) => e.streamId === id).map((e) => e.revision);
            expect(revisions).toEqual(Array.from({ length: id === s && i >= 8 ? 0 : 10 }, (_, k) => k));
          }
        }
        // Everyone from one position saw one and the same order.
        const order = results[0]!.map((e) => e.id);
        for (const seen of results.slice(1, 8)) expect(seen.map((e) => e.id)).toEqual(order);
        for (const seen of results.slice(8)) expect(seen.map((e) => e.id)).toEqual(order.slice(10));
      });

      it('tells when it has caught up, then goes on live', async () => {
        const s = stream('sub');
        const a = await store.appendToStream(s, [newEvent('A')], { expectedRevision: 'no_stream' });
        const head = await headAtLeast(store, a.position);
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
