import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const contactsMigrations: Record<string, Migration> = {
  '2026_11_25_040_contacts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('contacts')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('customer', 'jsonb', (c) => c.notNull())
        .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('skill_group_id', 'text')
        .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('queued_at', 'timestamptz')
        .addColumn('offer', 'jsonb')
        .addColumn('agent_id', 'text')
        .addColumn('key_trail', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('transfer', 'jsonb')
        .addColumn('end_reason', 'text')
        .addColumn('ended_by', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('ended_at', 'timestamptz')
        .addPrimaryKeyConstraint('contacts_pk', ['instance_id', 'id'])
        .execute();
      await db.schema.createIndex('contacts_page').on('contacts').columns(['instance_id', 'created_at', 'id']).execute();
      await db.schema.createIndex('contacts_agent').on('contacts').columns(['instance_id', 'agent_id']).execute();
    },
  },
};
