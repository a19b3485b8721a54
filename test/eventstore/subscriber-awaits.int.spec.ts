// A subscription awaits its subscriber only when the subscriber returns a promise (issue 11: every event goes to
// each of a process's subscribers, and an await of nothing cost a promise and a microtask per event and
// subscriber). A subscriber that returns nothing gets a read's events one after another in one turn; one that
// returns a promise still gets the next event only once it has settled. Every event once, in order, either way.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPgliteClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { Position } from '../../src/domain/ports/event-store.ts';
import { until } from '../support/until.ts';
import { newEvent } from './conformance.ts';

describe('subscribeToAll awaits only what its subscriber returns (PGlite)', () => {
  let dir: string;
  let sql: SqlClient;
  let store: PostgresEventStore;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kefu-subscriber-awaits-'));
    sql = await createPgliteClient(dir);
    await migrateEventStore(sql);
    store = new PostgresEventStore(sql, { idlePollMs: 60_000 });
  });
  afterAll(async () => {
    await store.close();
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers a read to a synchronous subscriber in one turn, and waits for an asynchronous one', async () => {
    await store.appendToStream('awaits-before', [newEvent('Before')], { expectedRevision: 'no_stream' });
    const start: Position | null = await store.headPosition();
    await store.appendToStream('awaits-s', [newEvent('A'), newEvent('B'), newEvent('C'), newEvent('D')], { expectedRevision: 'no_stream' });

    // Synchronous: a microtask queued at one event has not run by the next one (no await in between).
    const sync: { type: string; microtaskRan: boolean }[] = [];
    let ran = true;
    const s1 = store.subscribeToAll({
      after: start,
      onEvent: (e) => {
        sync.push({ type: e.type, microtaskRan: ran });
        ran = false;
        queueMicrotask(() => (ran = true));
      },
    });
    // Asynchronous: the next event comes only after the returned promise settled.
    const async: { type: string; previousDone: boolean }[] = [];
    let previousDone = true;
    const s2 = store.subscribeToAll({
      after: start,
      onEvent: async (e) => {
        async.push({ type: e.type, previousDone });
        previousDone = false;
        await new Promise((r) => setTimeout(r, 5));
        previousDone = true;
      },
    });
    await until(async () => [sync.length, async.length], ([a, b]) => a! >= 4 && b! >= 4, 30_000);
    await Promise.all([s1.stop(), s2.stop()]);

    expect(sync).toEqual([
      { type: 'A', microtaskRan: true },
      { type: 'B', microtaskRan: false },
      { type: 'C', microtaskRan: false },
      { type: 'D', microtaskRan: false },
    ]);
    expect(async.map((x) => x.type)).toEqual(['A', 'B', 'C', 'D']);
    expect(async.every((x) => x.previousDone)).toBe(true);
  }, 60_000);
});
