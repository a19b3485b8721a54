import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const blacklistMigrations: Record<string, Migration> = {
  '2026_11_25_070_blacklist': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('blacklist_entries')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('identity', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'timestamptz')
        .addColumn('by_agent_id', 'text')
        .addColumn('contact_id', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('removed_by', 'text')
        .addColumn('removed_at', 'timestamptz')
        .addPrimaryKeyConstraint('blacklist_entries_pk', ['instance_id', 'id'])
        .execute();
      // The check every new contact makes, and the admins' list (newest first).
      await db.schema.createIndex('blacklist_entries_identity').on('blacklist_entries').columns(['instance_id', 'channel', 'identity']).execute();
      await db.schema.createIndex('blacklist_entries_page').on('blacklist_entries').columns(['instance_id', 'created_at', 'id']).execute();
    },
  },
};
