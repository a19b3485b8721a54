import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** What a call does when the serving agent's device vanishes: END or REQUEUE. */
export const skillGroupDeviceLostMigrations: Record<string, Migration> = {
  '2026_12_16_033_skill_group_on_agent_device_lost': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('skill_groups')
        .addColumn('on_agent_device_lost', 'text', (c) => c.notNull().defaultTo(sql`'END'`))
        .execute();
    },
  },
};
