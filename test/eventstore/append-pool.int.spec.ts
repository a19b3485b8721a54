// The PostgreSQL event store's appends run on the client's append pool (SqlClient.appendPool), not on the pool the
// requests share: with every connection of that pool taken (requests waiting for one, some of them for this very
// append, as a chat send's request does), an append still commits (issue 11).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPostgresClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { freshPostgresSchema, postgresUrl } from '../support/services.ts';

const event = () => ({ id: randomUUID(), type: 'Noted', data: {}, metadata: { correlationId: 'c', causationId: null, actor: 'test', instanceId: 'i', occurredAt: new Date().toISOString() } });

describe('PostgreSQL appends have connections of their own', () => {
  let db: Awaited<ReturnType<typeof freshPostgresSchema>>;
  /** The shared pool: one connection, taken in the test. */
  let shared: SqlClient;

  beforeAll(async () => {
    db = await freshPostgresSchema();
    await migrateEventStore(db.client);
    shared = createPostgresClient(postgresUrl, { schema: db.schema, max: 1 });
  });
  afterAll(async () => {
    await shared?.close();
    await db?.drop();
  });

  it('appends (alone and batched) while every connection of the shared pool is taken', async () => {
    const store = new PostgresEventStore(shared);
    let release!: () => void;
    let taken!: () => void;
    const isTaken = new Promise<void>((resolve) => (taken = resolve));
    const held = shared.withConnection(() => {
      taken();
      return new Promise<void>((resolve) => (release = resolve));
    });
    try {
      await isTaken;
      // Five at once: two calls in flight, the rest batched behind them (kefu_append_many).
      const appends = Promise.all(Array.from({ length: 5 }, (_, i) => store.appendToStream(`note-${i}-${randomUUID()}`, [event()], { expectedRevision: 'no_stream' })));
      // On the shared pool they would wait for the taken connection as long as it is held.
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([appends.then(() => 'appended'), new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still waiting'), 30_000)))]);
      clearTimeout(timer);
      expect(outcome).toBe('appended');
      const results = await appends;
      expect(results.map((r) => r.nextRevision)).toEqual([0, 0, 0, 0, 0]);
    } finally {
      release?.();
      await held;
    }
    // Written: read back on the shared pool once it is free.
    const count = await shared.query<{ n: number }>('SELECT count(*)::int AS n FROM kefu_events');
    expect(count.rows[0]!.n).toBeGreaterThanOrEqual(5);
  }, 90_000);
});
