import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PostgresEventStore, migrateEventStore, type PostgresEventStoreOptions } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPgliteClient } from '../../src/adapters/sql/sql-client.ts';
import { eventStoreConformance } from './conformance.ts';

async function openPglite(options: PostgresEventStoreOptions = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-pglite-'));
  const sql = await createPgliteClient(dir);
  await migrateEventStore(sql);
  const store = new PostgresEventStore(sql, options);
  return {
    store,
    dispose: async () => {
      await store.close();
      await sql.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

eventStoreConformance('PGlite (embedded)', () => openPglite(), { openBatching: () => openPglite({ maxAppendsInFlight: 1 }) });
