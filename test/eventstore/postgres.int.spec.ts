import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { freshPostgresSchema, ownPostgresDatabase } from '../support/services.ts';
import { eventStoreConformance } from './conformance.ts';

eventStoreConformance(
  'PostgreSQL',
  async () => {
    const db = await freshPostgresSchema();
    await migrateEventStore(db.client);
    const store = new PostgresEventStore(db.client);
    return {
      store,
      appendInOpenTransaction: async (streamId, events) => {
        const pool = db.client.raw as pg.Pool;
        const conn = await pool.connect();
        await conn.query('BEGIN');
        const tx = {
          query: async <R,>(text: string, params?: unknown[]) => {
            const r = await conn.query(text, params as unknown[]);
            return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
          },
          script: async (text: string) => {
            await conn.query(text);
          },
        };
        await store.appendWith(tx, streamId, events, 'no_stream');
        return {
          commit: async () => {
            await conn.query('COMMIT');
            conn.release();
            store.notifyOthers();
          },
        };
      },
      dispose: async () => {
        await store.close();
        await db.drop();
      },
    };
  },
  {
    lateCommits: true,
    openBatching: async () => {
      const db = await freshPostgresSchema();
      await migrateEventStore(db.client);
      const store = new PostgresEventStore(db.client, { maxAppendsInFlight: 1 });
      return {
        store,
        dispose: async () => {
          await store.close();
          await db.drop();
        },
      };
    },
  },
);

describe('PostgreSQL readers and other databases', () => {
  it('are not held back by a long transaction in another database of the server', async () => {
    const { default: pgModule } = await import('pg');
    const { postgresUrl } = await import('../support/services.ts');
    const { newEvent } = await import('./conformance.ts');
    const { randomUUID } = await import('node:crypto');
    // A database of its own: a transaction of another spec running in the shared test database would hold the
    // readers back (rightly: it could write events there), which is not what this checks.
    const db = await ownPostgresDatabase('kefu_other_db_readers');
    await migrateEventStore(db.sql);
    const store = new PostgresEventStore(db.sql);
    const elsewhere = new pgModule.Client({ connectionString: postgresUrl.replace(/\/[^/]+$/, '/postgres') });
    await elsewhere.connect();
    try {
      // A transaction with an id, left open in the "postgres" database (a long report, say).
      await elsewhere.query('BEGIN');
      await elsewhere.query('SELECT pg_current_xact_id()');
      const before = await store.headPosition();
      const stream = `other-${randomUUID()}`;
      await store.appendToStream(stream, [newEvent('A')], { expectedRevision: 'no_stream' });
      const seen = await store.readAll({ after: before, maxCount: 10_000 });
      expect(seen.filter((e) => e.streamId === stream).map((e) => e.type)).toEqual(['A']);
    } finally {
      await elsewhere.query('ROLLBACK').catch(() => undefined);
      await elsewhere.end();
      await store.close();
      await db.drop();
    }
  });
});
