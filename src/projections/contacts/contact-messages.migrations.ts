import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const contactMessagesMigrations: Record<string, Migration> = {
  '2026_11_25_042_contact_messages': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('contact_messages')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('sender', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text')
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('sent_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('contact_messages_pk', ['instance_id', 'contact_id', 'id'])
        .execute();
      await db.schema.alterTable('skill_groups').addColumn('chat_idle_end_seconds', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
};
