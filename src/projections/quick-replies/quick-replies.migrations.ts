import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const quickRepliesMigrations: Record<string, Migration> = {
  '2026_12_21_000_quick_replies': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('quick_reply_categories')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        /** INSTANCE, SKILL_GROUPS or AGENTS */
        .addColumn('scope_kind', 'text', (c) => c.notNull())
        .addColumn('skill_group_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('agent_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('quick_reply_categories_pk', ['instance_id', 'id'])
        .execute();
      await db.schema
        .createTable('quick_replies')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        /** A shared category's reply, or (category_id null) an agent's personal one. */
        .addColumn('category_id', 'text')
        .addColumn('agent_id', 'text')
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('shortcut', 'text', (c) => c.notNull())
        /** shortcutKey(shortcut): lower case, no leading slash; searched by prefix. */
        .addColumn('shortcut_key', 'text', (c) => c.notNull())
        .addColumn('content', 'text', (c) => c.notNull())
        .addColumn('image_url', 'text')
        .addColumn('position', 'integer', (c) => c.notNull())
        /** The order an agent's panel shows: personal replies first, then categories in order, then position. */
        .addColumn('sort_key', 'bigint', (c) => c.notNull())
        /** searchTokens(title, shortcut, content) as lexemes: prefix-searched with a GIN index. */
        .addColumn('search_tokens', sql`tsvector`, (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('quick_replies_pk', ['instance_id', 'id'])
        .execute();
      await db.schema.createIndex('quick_replies_order').on('quick_replies').columns(['instance_id', 'sort_key', 'id']).execute();
      await db.schema.createIndex('quick_replies_list').on('quick_replies').columns(['instance_id', 'category_id', 'agent_id', 'position']).execute();
      await sql`CREATE INDEX quick_replies_shortcut ON quick_replies (instance_id, shortcut_key text_pattern_ops)`.execute(db);
      // fastupdate off: with it, an import leaves its rows in the index's pending list, which every search
      // then reads through in full until a vacuum merges it (measured: a prefix that matches nothing took
      // 26-122 ms instead of 0.1 ms after importing 50,000 replies, autovacuum off).
      await sql`CREATE INDEX quick_replies_tokens ON quick_replies USING gin (search_tokens) WITH (fastupdate = off)`.execute(db);
    },
  },
};
