// One small interface over each event store under test, so the measurements run the same code for all.
// Stream versions are given as "events already in the stream" and translated to each store's convention:
// Kefu's expected revision is the 0-based revision of the last event (count - 1); Emmett's expected stream
// version is the 1-based position of the last event (count).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PostgresEventStoreOptions } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { evolve, initialState, makeEvent, type ConversationState } from './workload.ts';

export const targets = ['kefu-postgres', 'kefu-pglite', 'emmett-postgres'] as const;
export type Target = (typeof targets)[number];

export interface StoreUnderTest {
  readonly target: Target;
  /** Appends `count` events to a stream that must not exist yet. */
  appendNew(streamId: string, count: number, firstIndex: number): Promise<void>;
  /** Appends `count` events to a stream that holds exactly `existing` events (optimistic concurrency check). */
  appendAt(streamId: string, existing: number, count: number, firstIndex: number): Promise<void>;
  /** Reads the whole stream and folds it into a state. */
  readAndFold(streamId: string): Promise<ConversationState>;
  /** PostgreSQL CHECKPOINT: flushes what the setup wrote before the measurements start. */
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

function bodies(streamId: string, count: number, firstIndex: number) {
  return Array.from({ length: count }, (_, k) => makeEvent(streamId, firstIndex + k));
}

export async function openStore(target: Target, databaseUrl: string): Promise<StoreUnderTest> {
  switch (target) {
    case 'kefu-postgres': {
      const { createPostgresClient } = await import('../../src/adapters/sql/sql-client.ts');
      return openKefu(target, createPostgresClient(databaseUrl), () => undefined);
    }
    case 'kefu-pglite': {
      // Note: PGlite runs with fsync=off, so its commits do not wait for the disk.
      const { createPgliteClient } = await import('../../src/adapters/sql/sql-client.ts');
      const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-pglite-'));
      return openKefu(target, await createPgliteClient(dir), () => rmSync(dir, { recursive: true, force: true }));
    }
    case 'emmett-postgres':
      return openEmmett(databaseUrl);
  }
}

async function openKefu(target: Target, sql: SqlClient, cleanup: () => void): Promise<StoreUnderTest> {
  const { PostgresEventStore, migrateEventStore } = await import('../../src/adapters/eventstore/postgres/postgres-event-store.ts');
  await migrateEventStore(sql);
  // BENCH_KEFU_STORE_OPTIONS: JSON of PostgresEventStoreOptions, to compare settings (e.g. '{"maxAppendsInFlight":2}').
  const store = new PostgresEventStore(sql, JSON.parse(process.env.BENCH_KEFU_STORE_OPTIONS || '{}') as PostgresEventStoreOptions);
  const toNew = (streamId: string, count: number, firstIndex: number) =>
    bodies(streamId, count, firstIndex).map((b) => ({ id: randomUUID(), ...b }));
  return {
    target,
    async appendNew(streamId, count, firstIndex) {
      await store.appendToStream(streamId, toNew(streamId, count, firstIndex), { expectedRevision: 'no_stream' });
    },
    async appendAt(streamId, existing, count, firstIndex) {
      await store.appendToStream(streamId, toNew(streamId, count, firstIndex), { expectedRevision: existing - 1 });
    },
    async readAndFold(streamId) {
      const events = await store.readStream(streamId);
      let state = initialState();
      for (const e of events) state = evolve(state, e);
      return state;
    },
    async checkpoint() {
      await sql.query('CHECKPOINT');
    },
    async close() {
      await store.close();
      await sql.close();
      cleanup();
    },
  };
}

async function openEmmett(databaseUrl: string): Promise<StoreUnderTest> {
  const { getPostgreSQLEventStore } = await import('@event-driven-io/emmett-postgresql');
  const { STREAM_DOES_NOT_EXIST } = await import('@event-driven-io/emmett');
  const pg = (await import('pg')).default;
  const store = getPostgreSQLEventStore(databaseUrl);
  // Emmett creates its schema on first use; do it now so no measurement pays for it.
  await store.schema.migrate();
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  return {
    target: 'emmett-postgres',
    async appendNew(streamId, count, firstIndex) {
      await store.appendToStream(streamId, bodies(streamId, count, firstIndex), { expectedStreamVersion: STREAM_DOES_NOT_EXIST });
    },
    async appendAt(streamId, existing, count, firstIndex) {
      await store.appendToStream(streamId, bodies(streamId, count, firstIndex), { expectedStreamVersion: BigInt(existing) });
    },
    async readAndFold(streamId) {
      const r = await store.aggregateStream(streamId, { evolve, initialState });
      return r.state;
    },
    async checkpoint() {
      await admin.query('CHECKPOINT');
    },
    async close() {
      await admin.end();
      await store.close();
    },
  };
}
