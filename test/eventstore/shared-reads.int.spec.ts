// Subscription reads of different sizes from one position (projections read 5,000 at a time, the router 500)
// share one query per commit, and each subscriber still gets every event once, in order.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPgliteClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { Position, RecordedEvent, Subscription } from '../../src/domain/ports/event-store.ts';
import { newEvent } from './conformance.ts';

describe('subscription reads of different sizes (PGlite)', () => {
  let dir: string;
  let sql: SqlClient;
  let store: PostgresEventStore;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kefu-shared-reads-'));
    sql = await createPgliteClient(dir);
    await migrateEventStore(sql);
    // No idle polls: reads come from commits only, so they can be counted.
    // Own appends read back like others' (not handed from memory: see own-appends.int.spec.ts).
    store = new PostgresEventStore(sql, { idlePollMs: 60_000, serveOwnAppends: false });
  });
  afterAll(async () => {
    await store.close();
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('share one query per commit and give each subscriber every event once, in order', async () => {
    await store.appendToStream('shared-reads-past', [newEvent('Past')], { expectedRevision: 'no_stream' });
    const start: Position | null = await store.headPosition();
    const sizes = [50, 50, 50, 3, 3, 3];
    const subscribers = sizes.map((batchSize) => ({ batchSize, seen: [] as RecordedEvent[], caughtUp: false, subscription: null as Subscription | null }));
    for (const s of subscribers) {
      s.subscription = store.subscribeToAll({
        after: start,
        batchSize: s.batchSize,
        onCaughtUp: () => void (s.caughtUp = true),
        onEvent: (e) => void s.seen.push(e),
      });
    }
    const until = async (ok: () => boolean) => {
      const deadline = Date.now() + 30_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await until(() => subscribers.every((s) => s.caughtUp));

    const reads: number[] = [];
    const readAll = store.readAll.bind(store);
    store.readAll = (options) => {
      reads.push(options?.maxCount ?? 1000);
      return readAll(options);
    };
    try {
      // One commit of one event: one query, whatever the subscribers' sizes.
      await store.appendToStream('shared-reads-one', [newEvent('One')], { expectedRevision: 'no_stream' });
      await until(() => subscribers.every((s) => s.seen.length === 1));
      expect(reads).toEqual([50]);

      // A commit of ten: the small readers take three at a time, the same events in the same order.
      await store.appendToStream(
        'shared-reads-ten',
        Array.from({ length: 10 }, (_, i) => newEvent('Ten', { i })),
        { expectedRevision: 'no_stream' },
      );
      for (let i = 0; i < 5; i++) await store.appendToStream(`shared-reads-live-${i}`, [newEvent('Live', { i })], { expectedRevision: 'no_stream' });
      await until(() => subscribers.every((s) => s.seen.length === 16));
    } finally {
      store.readAll = readAll;
    }
    const order = subscribers[0]!.seen.map((e) => e.id);
    expect(new Set(order).size).toBe(16);
    expect(subscribers[0]!.seen.map((e) => e.streamId)).toEqual([
      'shared-reads-one',
      ...Array.from({ length: 10 }, () => 'shared-reads-ten'),
      ...Array.from({ length: 5 }, (_, i) => `shared-reads-live-${i}`),
    ]);
    for (const s of subscribers) expect(s.seen.map((e) => e.id)).toEqual(order);
    await Promise.all(subscribers.map((s) => s.subscription!.stop()));
  });
});
