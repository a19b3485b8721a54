import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const agentsWorkloadMigrations: Record<string, Migration> = {
  '2026_11_25_021_agents_workload': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('agents')
        .addColumn('held_phone', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('held_online', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('held_av', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('held_contacts', 'jsonb', (c) => c.notNull().defaultTo('{}'))
        .addColumn('wrap_up_until', 'timestamptz')
        .addColumn('handled_day', 'text')
        .addColumn('handled_today', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
};
