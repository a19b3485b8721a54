import type pg from 'pg';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { freshPostgresSchema } from '../support/services.ts';
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
  { lateCommits: true },
);
