import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Issue 9: the customer leg's media figures, and the sides that went silent while connected (a filter).
export const callRecordsMediaMigrations: Record<string, Migration> = {
  '2026_12_04_130_call_records_media': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('call_records')
        .addColumn('customer_media', 'jsonb')
        // 'CUSTOMER' and/or 'AGENT', once each, in the order they went silent.
        .addColumn('silent_sides', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .execute();
      // Supervisors look for silent calls among many: only those rows are indexed.
      await sql`CREATE INDEX call_records_silent ON call_records (instance_id, started_at) WHERE cardinality(silent_sides) > 0`.execute(db);
    },
  },
};
