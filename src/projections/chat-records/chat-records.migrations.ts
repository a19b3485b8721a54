import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const chatRecordsMigrations: Record<string, Migration> = {
  '2026_12_04_400_chat_records': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('chat_records')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        // The stream revision of the last event applied: an event at or before it is a repeat (idempotence).
        .addColumn('last_revision', 'integer', (c) => c.notNull())
        // WEB (a web channel's widget) or API (an integration's createContact).
        .addColumn('source_kind', 'text', (c) => c.notNull())
        .addColumn('web_channel_id', 'text')
        .addColumn('page_url', 'text')
        .addColumn('customer_kind', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('customer_name', 'text')
        .addColumn('customer_verified', 'boolean')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('queued_at', 'timestamptz')
        .addColumn('offered_at', 'timestamptz')
        .addColumn('accepted_at', 'timestamptz')
        .addColumn('first_agent_reply_at', 'timestamptz')
        .addColumn('ended_at', 'timestamptz')
        .addColumn('skill_group_id', 'text')
        .addColumn('last_skill_group_id', 'text')
        .addColumn('queue_seconds', 'integer')
        .addColumn('first_response_seconds', 'integer')
        .addColumn('total_seconds', 'integer')
        .addColumn('end_status', 'text')
        .addColumn('ended_by', 'text')
        .addColumn('end_reason', 'text')
        .addColumn('agent_id', 'text')
        .addColumn('agent_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .addColumn('transfers', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('customer_messages', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('agent_messages', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('system_messages', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_seq', 'integer', (c) => c.notNull().defaultTo(0))
        // Issue 12 (satisfaction surveys) fills it.
        .addColumn('satisfaction', 'jsonb')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('chat_records_pk', ['instance_id', 'contact_id'])
        .execute();
      await db.schema.createIndex('chat_records_page').on('chat_records').columns(['instance_id', 'created_at', 'contact_id']).execute();
      // "An agent sees the chats they served": agent_ids @> ARRAY[agent].
      await sql`CREATE INDEX chat_records_agents ON chat_records USING gin (agent_ids)`.execute(db);
      await db.schema.createIndex('chat_records_customer').on('chat_records').columns(['instance_id', 'customer_id']).execute();
    },
  },
};
