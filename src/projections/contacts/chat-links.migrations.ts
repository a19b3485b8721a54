// Link cards in chats (issue 13): a LINK message keeps its card (chat-link.ts) beside the text.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const chatLinksMigrations: Record<string, Migration> = {
  '2027_01_03_100_contact_message_links': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('contact_messages').addColumn('link', 'jsonb').execute();
    },
  },
};
