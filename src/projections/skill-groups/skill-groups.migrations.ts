import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const skillGroupsMigrations: Record<string, Migration> = {
  '2026_11_25_030_skill_groups': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('skill_groups')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('strategy', 'text', (c) => c.notNull())
        .addColumn('max_concurrency', 'integer', (c) => c.notNull())
        .addColumn('ring_timeout_seconds', 'integer', (c) => c.notNull())
        .addColumn('wrap_up_seconds', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .addPrimaryKeyConstraint('skill_groups_pk', ['instance_id', 'id'])
        .execute();
      await db.schema
        .createTable('skill_group_members')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('skill_group_id', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('level', 'integer', (c) => c.notNull())
        .addColumn('added_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('skill_group_members_pk', ['instance_id', 'skill_group_id', 'agent_id'])
        .execute();
      await db.schema.createIndex('skill_group_members_agent').on('skill_group_members').columns(['instance_id', 'agent_id']).execute();
    },
  },
};
