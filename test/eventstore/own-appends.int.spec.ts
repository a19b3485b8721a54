// A store hands its own appended events to its subscribers from memory when kefu_append says no lower
// transaction was running once they were written (they directly follow a known position): no read of the event
// table after the commit. A lower transaction still running makes it read, so its later commit is never skipped.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPgliteClient } from '../../src/adapters/sql/sql-client.ts';
import type { NewEvent, Position, RecordedEvent, Subscription } from '../../src/domain/ports/event-store.ts';
import { ownPostgresDatabase } from '../support/services.ts';
import { newEvent } from './conformance.ts';

const until = async (ok: () => boolean, what: string) => {
  const deadline = Date.now() + 30_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Events as JSON, keys in their order (bigints as text): what a subscriber got must be what a read gives. */
const asText = (events: RecordedEvent[]) => JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

/** Keys in an order jsonb does not keep, nested, non-ASCII and integer-like keys among them. */
const awkwardData = () => ({ zeta: 1, a: { yy: [{ b: 2, aa: 1 }], x: null }, é: 'e', ab: 'two', '10': 'ten', '2': 'two', text: '<b>hi</b> 😀' });

/** Subscribers at the head of `store` (two batch sizes), the reads they cause counted. */
async function headSubscribers(store: PostgresEventStore) {
  const start: Position | null = await store.headPosition();
  const subscribers = [500, 5000].map((batchSize) => ({ seen: [] as RecordedEvent[], caughtUp: false, subscription: null as Subscription | null, batchSize }));
  for (const s of subscribers) {
    s.subscription = store.subscribeToAll({ after: start, batchSize: s.batchSize, onCaughtUp: () => void (s.caughtUp = true), onEvent: (e) => void s.seen.push(e) });
  }
  await until(() => subscribers.every((s) => s.caughtUp), 'caught up');
  const reads: number[] = [];
  const readAll = store.readAll.bind(store);
  store.readAll = (options) => {
    reads.push(options?.maxCount ?? 1000);
    return readAll(options);
  };
  return {
    start,
    subscribers,
    reads,
    stop: async () => {
      store.readAll = readAll;
      await Promise.all(subscribers.map((s) => s.subscription!.stop()));
    },
  };
}

/** Appends one at a time and two at once (a batch, with maxAppendsInFlight 1), then checks what subscribers got. */
async function appendAndCheck(store: PostgresEventStore, subs: Awaited<ReturnType<typeof headSubscribers>>) {
  const tag = randomUUID().slice(0, 8);
  const appends: [string, NewEvent[]][] = [
    [`own-${tag}-a`, [newEvent('One', awkwardData())]],
    [`own-${tag}-b`, [newEvent('Two', { i: 1 }), newEvent('Two', { i: 2 }), newEvent('Two', awkwardData())]],
  ];
  for (const [stream, events] of appends) await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });
  // Sent together: the first goes alone, the next three wait for it and go as one kefu_append_many call.
  await Promise.all(
    Array.from({ length: 4 }, (_, i) => store.appendToStream(`own-${tag}-c${i}`, [newEvent('Together', { i, ...awkwardData() })], { expectedRevision: 'no_stream' })),
  );
  await until(() => subs.subscribers.every((s) => s.seen.length === 8), 'every event');
  return readAllQuietly(store, subs.start);
}

async function readAllQuietly(store: PostgresEventStore, after: Position | null) {
  return PostgresEventStore.prototype.readAll.call(store, { after, maxCount: 10_000 });
}

describe('own appends handed to subscribers from memory (PGlite)', () => {
  it('skip the read after the commit, and give each subscriber what a read gives, in order, once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-own-appends-'));
    const sql = await createPgliteClient(dir);
    // No idle polls: reads come from commits only, so they can be counted.
    const store = new PostgresEventStore(sql, { idlePollMs: 60_000, maxAppendsInFlight: 1 });
    try {
      await migrateEventStore(sql);
      await store.appendToStream('own-past', [newEvent('Past')], { expectedRevision: 'no_stream' });
      const subs = await headSubscribers(store);
      const read = await appendAndCheck(store, subs);
      // PGlite runs one transaction at a time: no lower one is ever running, every commit is handed.
      expect(subs.reads).toEqual([]);
      expect(read).toHaveLength(8);
      for (const s of subs.subscribers) expect(asText(s.seen)).toBe(asText(read));
      await subs.stop();
    } finally {
      await store.close();
      await sql.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('own appends handed to subscribers from memory (PostgreSQL)', () => {
  /** A database of its own: transactions of other tests' schemas in a shared one would be lower ones. */
  const ownDatabase = () => ownPostgresDatabase('kefu_own_appends');

  it('skip the read when no lower transaction runs, and read when one does: its late commit is not skipped', async () => {
    const db = await ownDatabase();
    const store = new PostgresEventStore(db.sql, { idlePollMs: 100, maxAppendsInFlight: 1 });
    const other = new pg.Client({ connectionString: db.url });
    try {
      await migrateEventStore(db.sql);
      await other.connect();
      await store.appendToStream('own-past', [newEvent('Past')], { expectedRevision: 'no_stream' });

      // What kefu_append says: the lower transactions still running once its events were written (the open
      // one here), none once that ended; nothing in REPEATABLE READ (its snapshot was taken before the
      // transaction had its id, so it cannot tell).
      const append = async (client: pg.Client) =>
        (
          await client.query<{ lower_tx: string | null; prev_seq: string | null }>('SELECT lower_tx, prev_seq FROM kefu_append($1, $2, $3::jsonb)', [
            `own-sql-${randomUUID()}`,
            'no_stream',
            JSON.stringify([newEvent('Sql')]),
          ])
        ).rows[0]!;
      const lower = new pg.Client({ connectionString: db.url });
      await lower.connect();
      try {
        await lower.query('BEGIN');
        const lowerTx = (await lower.query<{ tx: string }>('SELECT pg_current_xact_id()::text AS tx')).rows[0]!.tx;
        expect((await append(other)).lower_tx?.split(',')).toContain(lowerTx);
        await lower.query('COMMIT');
        const quiet = await append(other);
        expect(quiet.prev_seq).not.toBeNull();
        await other.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        expect((await append(other)).lower_tx).toBeNull();
        await other.query('COMMIT');
      } finally {
        await lower.end();
      }

      const subs = await headSubscribers(store);
      const read = await appendAndCheck(store, subs);
      // Four commits of eight events (one batch of three appends): fewer reads than commits. (Alone in its
      // database every one is handed; the server's other databases may hold a moment's transaction below.)
      expect(subs.reads.length).toBeLessThan(4);
      for (const s of subs.subscribers) expect(asText(s.seen)).toBe(asText(read));

      // A lower transaction that writes an event and commits after a handed-looking one of the store's: the
      // store reads (waits for it) and the subscribers get both, the lower one first.
      const readsBefore = subs.reads.length;
      await other.query('BEGIN');
      await store.appendWith(
        { query: async (text, params) => { const r = await other.query(text, params as unknown[]); return { rows: r.rows, rowCount: r.rowCount ?? 0 }; }, script: async (text) => void (await other.query(text)) },
        'own-slow',
        [newEvent('Slow')],
        'no_stream',
      );
      await store.appendToStream('own-fast', [newEvent('Fast')], { expectedRevision: 'no_stream' });
      await new Promise((r) => setTimeout(r, 200));
      // Nothing past the lower transaction while it runs.
      for (const s of subs.subscribers) expect(s.seen.map((e) => e.type).slice(8)).toEqual([]);
      await other.query('COMMIT');
      await until(() => subs.subscribers.every((s) => s.seen.length === 10), 'the late commit');
      for (const s of subs.subscribers) expect(s.seen.slice(8).map((e) => e.type)).toEqual(['Slow', 'Fast']);
      expect(subs.reads.length).toBeGreaterThan(readsBefore);
      for (const s of subs.subscribers) expect(asText(s.seen)).toBe(asText(await readAllQuietly(store, subs.start)));
      await subs.stop();
    } finally {
      await other.end().catch(() => undefined);
      await store.close();
      await db.drop();
    }
  });
});
