import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// A chat's record is updated at every message batch (message counts, last_seq, updated_at: none of them in an
// index), so its new version can stay on its page without new index entries (a HOT update) if the page has
// room: see contacts-fillfactor.migrations.ts. Only rows written from now on are placed so.
export const CHAT_RECORDS_FILLFACTOR = 50;

export const chatRecordsFillfactorMigrations: Record<string, Migration> = {
  '2027_01_10_301_chat_records_fillfactor': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE chat_records SET (fillfactor = ${sql.lit(CHAT_RECORDS_FILLFACTOR)})`.execute(db);
    },
  },
};
