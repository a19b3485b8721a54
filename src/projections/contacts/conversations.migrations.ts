// Conversations (issue 11): each chat message gets its gap-free seq, the client's message id, a kind, a file or
// a system notice; a contact gets its web source, its last seq, both sides' read state and every agent who
// held it. Existing messages are numbered in the order they were sent.
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const conversationsMigrations: Record<string, Migration> = {
  '2026_12_04_200_conversations': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('contact_messages')
        .addColumn('seq', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('client_message_id', 'text')
        .addColumn('kind', 'text', (c) => c.notNull().defaultTo('TEXT'))
        .addColumn('attachment', 'jsonb')
        .addColumn('system', 'jsonb')
        .execute();
      await sql`
        UPDATE contact_messages m SET seq = n.seq
        FROM (SELECT instance_id, contact_id, id, row_number() OVER (PARTITION BY instance_id, contact_id ORDER BY sent_at, id) AS seq FROM contact_messages) n
        WHERE m.instance_id = n.instance_id AND m.contact_id = n.contact_id AND m.id = n.id`.execute(db);
      await db.schema.createIndex('contact_messages_seq').on('contact_messages').columns(['instance_id', 'contact_id', 'seq']).unique().execute();
      await db.schema.createIndex('contact_messages_client_id').on('contact_messages').columns(['instance_id', 'contact_id', 'client_message_id']).execute();
      await db.schema
        .alterTable('contacts')
        .addColumn('source', 'jsonb')
        .addColumn('web_channel_id', 'text')
        .addColumn('web_customer_id', 'text')
        .addColumn('web_verified', 'boolean')
        .addColumn('last_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('customer_last_read_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('agent_last_read_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('served_agent_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .execute();
      await sql`
        UPDATE contacts c SET last_seq = m.n
        FROM (SELECT instance_id, contact_id, count(*)::int AS n FROM contact_messages GROUP BY instance_id, contact_id) m
        WHERE c.instance_id = m.instance_id AND c.id = m.contact_id`.execute(db);
      await sql`UPDATE contacts SET served_agent_ids = jsonb_build_array(agent_id) WHERE agent_id IS NOT NULL`.execute(db);
      // A customer's own chats, newest first (myConversations).
      await db.schema
        .createIndex('contacts_web_customer')
        .on('contacts')
        .columns(['instance_id', 'web_customer_id', 'web_verified', 'created_at', 'id'])
        .where(sql.ref('web_customer_id'), 'is not', null)
        .execute();
    },
  },
};
