import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const agentsMigrations: Record<string, Migration> = {
  '2026_11_25_020_agents': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('agents')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('login', 'text', (c) => c.notNull())
        .addColumn('phone', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('presence', 'text', (c) => c.notNull())
        .addColumn('break_reason', 'text')
        .addColumn('forced_offline_reason', 'text')
        .addColumn('status_since', 'timestamptz', (c) => c.notNull())
        .addColumn('online_since', 'timestamptz')
        .addColumn('online_day', 'text')
        .addColumn('online_seconds_accumulated', 'double precision', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .addPrimaryKeyConstraint('agents_pk', ['instance_id', 'id'])
        .execute();
      await db.schema.createIndex('agents_page').on('agents').columns(['instance_id', 'created_at', 'id']).execute();
      await db.schema.createIndex('agents_login').on('agents').columns(['instance_id', 'login']).execute();
    },
  },
};
