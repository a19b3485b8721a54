// A chat's contact row and chat record are updated at every message; their pages keep room (fillfactor) so the
// new version stays on the row's page, a HOT update with no new index entries. The setting is on a fresh read
// model and on one migrated from before it, and a row updated on a full table stays on its page.
import { sql, type Kysely } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import { describe, expect, it } from 'vitest';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPgliteClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { CHAT_RECORDS_FILLFACTOR } from '../../src/projections/chat-records/chat-records-fillfactor.migrations.ts';
import { CONTACTS_FILLFACTOR } from '../../src/projections/contacts/contacts-fillfactor.migrations.ts';
import { allMigrations, migrateReadModels } from '../../src/projections/migrations.ts';
import { readModelStore } from '../support/read-model.ts';
import { freshPostgresSchema, wantPostgres } from '../support/services.ts';

const fillfactors = async (db: Kysely<unknown>) => {
  const { rows } = await sql<{ relname: string; reloptions: string[] | null }>`
    SELECT c.relname, c.reloptions FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relname IN ('contacts', 'chat_records') ORDER BY c.relname`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.relname, r.reloptions ?? []]));
};

const expected = { chat_records: [`fillfactor=${CHAT_RECORDS_FILLFACTOR}`], contacts: [`fillfactor=${CONTACTS_FILLFACTOR}`] };

// Every row's page (the block of its ctid).
const blocks = async (db: Kysely<unknown>, table: 'contacts' | 'chat_records', key: 'id' | 'contact_id') => {
  const { rows } = await sql<{ id: string; block: string }>`SELECT ${sql.ref(key)} AS id, (ctid::text::point)[0]::text AS block FROM ${sql.table(table)} ORDER BY 1`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.id, r.block]));
};

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`chat rows' pages keep room for their updates (${backend})`, () => {
    it('a fresh read model has the fillfactors', async () => {
      const store = await readModelStore(backend);
      if (!store) return;
      try {
        expect(await fillfactors(store.db as never)).toEqual(expected);
      } finally {
        await store.drop();
      }
    });

    it('a read model migrated before the setting gets it, its rows kept', async () => {
      let client: SqlClient;
      let drop = async () => {};
      if (backend === 'postgres') {
        if (!(await wantPostgres())) return;
        const fresh = await freshPostgresSchema();
        client = fresh.client;
        drop = fresh.drop;
      } else client = await createPgliteClient(null);
      const db = createKysely(client) as Kysely<unknown>;
      try {
        const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db);
        const before: Record<string, Migration> = Object.fromEntries(Object.entries(allMigrations).filter(([name]) => !name.endsWith('_fillfactor')));
        const migrator = new Migrator({
          db,
          provider: { getMigrations: async () => before },
          migrationTableName: 'kefu_migrations',
          migrationLockTableName: 'kefu_migrations_lock',
          migrationTableSchema: rows[0]!.schema,
        });
        const { error } = await migrator.migrateToLatest();
        expect(error).toBeUndefined();
        expect(await fillfactors(db)).toEqual({ chat_records: [], contacts: [] });
        await sql`INSERT INTO contacts (instance_id, id, channel, direction, customer, status, created_at, updated_at)
          VALUES ('i1', 'c1', 'CHAT', 'INBOUND', '{}', 'CONNECTED', now(), now())`.execute(db);
        await migrateReadModels(db);
        expect(await fillfactors(db)).toEqual(expected);
        const kept = await sql<{ id: string }>`SELECT id FROM contacts`.execute(db);
        expect(kept.rows).toEqual([{ id: 'c1' }]);
      } finally {
        await client.close().catch(() => undefined);
        await drop();
      }
    });

    it('an update of every chat row written since stays on its page', async () => {
      const store = await readModelStore(backend);
      if (!store) return;
      const db = store.db as unknown as Kysely<unknown>;
      try {
        // Rows about as wide as the chat bench's (contacts ~700 bytes, chat records ~500): at fillfactor 100 the
        // first page is full after ~11 and ~16 of them, and the first update of a row there moves it.
        const pad = (n: number) => 'x'.repeat(n);
        for (let i = 0; i < 24; i++) {
          const id = `c${String(i).padStart(2, '0')}`;
          await sql`INSERT INTO contacts (instance_id, id, channel, direction, customer, status, created_at, updated_at)
            VALUES ('i1', ${id}, 'CHAT', 'INBOUND', ${JSON.stringify({ name: pad(560) })}::jsonb, 'CONNECTED', now(), now())`.execute(db);
          await sql`INSERT INTO chat_records (instance_id, contact_id, last_revision, source_kind, customer_kind, customer_id, page_url, created_at, updated_at)
            VALUES ('i1', ${id}, 0, 'WEB', 'VISITOR', 'v1', ${pad(340)}, now(), now())`.execute(db);
        }
        const contactsBefore = await blocks(db, 'contacts', 'id');
        const recordsBefore = await blocks(db, 'chat_records', 'contact_id');
        // What a chat message does to them (indexed columns unchanged).
        await sql`UPDATE contacts SET last_seq = last_seq + 1, updated_at = now()`.execute(db);
        await sql`UPDATE chat_records SET customer_messages = customer_messages + 1, last_seq = last_seq + 1, last_revision = 1, updated_at = now()`.execute(db);
        expect(await blocks(db, 'contacts', 'id')).toEqual(contactsBefore);
        expect(await blocks(db, 'chat_records', 'contact_id')).toEqual(recordsBefore);
      } finally {
        await store.drop();
      }
    });
  });
}
