import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const skillGroupRoutingOptionsMigrations: Record<string, Migration> = {
  '2026_11_25_031_skill_group_routing_options': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('skill_groups')
        .addColumn('auto_accept', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('last_agent_first_seconds', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_queue_length', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_wait_seconds', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('overflow_skill_group_id', 'text')
        .addColumn('when_no_agent_online', 'text', (c) => c.notNull().defaultTo(sql`'WAIT'`))
        .addColumn('break_after_missed_offer', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
    },
  },
};
