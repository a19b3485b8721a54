import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** PH-2: the numbers a skill group's agents may call out from. */
export const skillGroupOutboundMigrations: Record<string, Migration> = {
  '2026_12_10_032_skill_group_outbound_numbers': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('skill_groups')
        .addColumn('outbound_numbers', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .execute();
    },
  },
};
