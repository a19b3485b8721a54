// contact_messages is written at every chat message; each index on it is an entry (and WAL) per message. The
// client id index served one rare read (a refused send's retry, answered with the message stored before), which
// the seq index's first columns serve as well: it is gone from a fresh read model and from one migrated before,
// its rows kept. The retry itself: chat-conversations (a retried send to an ended chat is still answered).
import { sql, type Kysely } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import { describe, expect, it } from 'vitest';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPgliteClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { contactMessagesClientIdMigrations } from '../../src/projections/contacts/contact-messages-client-id.migrations.ts';
import { allMigrations, migrateReadModels } from '../../src/projections/migrations.ts';
import { readModelStore } from '../support/read-model.ts';
import { freshPostgresSchema, wantPostgres } from '../support/services.ts';

const indexes = async (db: Kysely<unknown>) =>
  (
    await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'contact_messages' ORDER BY indexname`.execute(db)
  ).rows.map((r) => r.indexname);

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`contact_messages keeps the indexes its reads need (${backend})`, () => {
    it('a fresh read model has the primary key and the seq index only', async () => {
      const store = await readModelStore(backend);
      if (!store) return;
      try {
        expect(await indexes(store.db as never)).toEqual(['contact_messages_pk', 'contact_messages_seq']);
      } finally {
        await store.drop();
      }
    });

    it('a read model migrated before loses the client id index, its messages kept and still found by client id', async () => {
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
        const dropping = Object.keys(contactMessagesClientIdMigrations);
        const before: Record<string, Migration> = Object.fromEntries(Object.entries(allMigrations).filter(([name]) => !dropping.includes(name)));
        const migrator = new Migrator({
          db,
          provider: { getMigrations: async () => before },
          migrationTableName: 'kefu_migrations',
          migrationLockTableName: 'kefu_migrations_lock',
          migrationTableSchema: rows[0]!.schema,
        });
        const { error } = await migrator.migrateToLatest();
        expect(error).toBeUndefined();
        expect(await indexes(db)).toEqual(['contact_messages_client_id', 'contact_messages_pk', 'contact_messages_seq']);
        await sql`INSERT INTO contact_messages (instance_id, contact_id, id, sender, text, sent_at, seq, client_message_id)
          VALUES ('i1', 'c1', 'm1', 'CUSTOMER', 'hello', now(), 1, 'client-1'), ('i1', 'c1', 'm2', 'AGENT', 'hi', now(), 2, 'client-2')`.execute(db);
        await migrateReadModels(db);
        expect(await indexes(db)).toEqual(['contact_messages_pk', 'contact_messages_seq']);
        const found = await sql<{ id: string }>`SELECT id FROM contact_messages WHERE instance_id = 'i1' AND contact_id = 'c1' AND client_message_id = 'client-2' AND sender = 'AGENT'`.execute(db);
        expect(found.rows).toEqual([{ id: 'm2' }]);
      } finally {
        await client.close().catch(() => undefined);
        await drop();
      }
    });
  });
}
