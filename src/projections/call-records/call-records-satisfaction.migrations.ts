import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Issue 12: the caller's rating from the post-call keypad survey (ChatSatisfaction: value, label, key, comment,
// ratedAt); chat records have had the column since issue 11. Both are filtered on being rated.
export const callRecordsSatisfactionMigrations: Record<string, Migration> = {
  '2026_12_22_001_records_satisfaction': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('call_records').addColumn('satisfaction', 'jsonb').execute();
      // Supervisors look for rated calls (and a value) among many: only rated rows are indexed.
      await sql`CREATE INDEX call_records_rated ON call_records (instance_id, started_at) WHERE satisfaction IS NOT NULL`.execute(db);
      await sql`CREATE INDEX chat_records_rated ON chat_records (instance_id, created_at) WHERE satisfaction IS NOT NULL`.execute(db);
    },
  },
};
