// Subscribers waiting for the next commit share one wait (issue 11): a process has ~18 subscriptions, and each of
// them used to make a promise, two closures and an idle-poll timer of its own after every commit. With one wait
// per generation, a commit that wakes them all leaves one timer behind, not one per subscriber; every subscriber
// still gets every event once, and the idle poll (the time-out) still finds events no wake-up told of.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPgliteClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { Subscription } from '../../src/domain/ports/event-store.ts';
import { until } from '../support/until.ts';
import { newEvent } from './conformance.ts';

describe('subscribers of one store share their wait for the next commit (PGlite)', () => {
  let dir: string;
  let sql: SqlClient;
  const stores: PostgresEventStore[] = [];
  const subscriptions: Subscription[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kefu-shared-waits-'));
    sql = await createPgliteClient(dir);
    await migrateEventStore(sql);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(subscriptions.splice(0).map((s) => s.stop()));
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `n` subscribers from the head of `store`, each with the types it got; resolves once all are caught up. */
  async function subscribers(store: PostgresEventStore, n: number): Promise<string[][]> {
    const got: string[][] = [];
    let caughtUp = 0;
    const after = await store.headPosition();
    for (let i = 0; i < n; i++) {
      const mine: string[] = [];
      got.push(mine);
      subscriptions.push(store.subscribeToAll({ after, onEvent: (e) => void mine.push(e.type), onCaughtUp: () => void caughtUp++ }));
    }
    await until(async () => caughtUp, (c) => c >= n, 30_000);
    return got;
  }

  it('a commit that wakes eight subscribers leaves one idle-poll timer, and each gets every event once', async () => {
    const pollMs = 61_237;
    const store = new PostgresEventStore(sql, { idlePollMs: pollMs });
    stores.push(store);
    const got = await subscribers(store, 8);
    const timeout = vi.spyOn(globalThis, 'setTimeout');
    const pollTimers = () => timeout.mock.calls.filter((c) => c[1] === pollMs).length;

    await store.appendToStream('shared-waits-a', [newEvent('A1')], { expectedRevision: 'no_stream' });
    await until(async () => got.map((g) => g.length), (ls) => ls.every((l) => l >= 1), 30_000);
    // Every subscriber is waiting again once the timer count stops moving (each waits right after its event).
    await new Promise((r) => setTimeout(r, 300));
    expect(pollTimers()).toBe(1);

    await store.appendToStream('shared-waits-a', [newEvent('A2'), newEvent('A3')], { expectedRevision: 0 });
    await until(async () => got.map((g) => g.length), (ls) => ls.every((l) => l >= 3), 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(pollTimers()).toBe(2);
    for (const g of got) expect(g).toEqual(['A1', 'A2', 'A3']);
  }, 90_000);

  it('the shared time-out still polls: events another store appended (no wake-up here) reach every subscriber', async () => {
    const store = new PostgresEventStore(sql, { idlePollMs: 200 });
    // On PGlite a store tells only its own subscribers: this one's appends never wake `store`'s.
    const other = new PostgresEventStore(sql, { idlePollMs: 60_000 });
    stores.push(store, other);
    const got = await subscribers(store, 5);
    await other.appendToStream('shared-waits-b', [newEvent('B1'), newEvent('B2')], { expectedRevision: 'no_stream' });
    await until(async () => got.map((g) => g.length), (ls) => ls.every((l) => l >= 2), 30_000);
    await other.appendToStream('shared-waits-b', [newEvent('B3')], { expectedRevision: 1 });
    await until(async () => got.map((g) => g.length), (ls) => ls.every((l) => l >= 3), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    for (const g of got) expect(g).toEqual(['B1', 'B2', 'B3']);
  }, 90_000);
});
