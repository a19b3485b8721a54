// Chat flows (issue 12): a flow's message keeps the buttons shown under it (menus, skill group choices) and
// an image the flow names by URL; a contact says whether its customer left a message.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const chatFlowMessagesMigrations: Record<string, Migration> = {
  '2026_12_04_900_chat_flow_messages': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('contact_messages').addColumn('options', 'jsonb').addColumn('image', 'jsonb').execute();
    },
  },
  // A chat whose customer left a message (a chat flow's leaveMessage): it waits for the group without a limit.
  '2026_12_04_901_contacts_left_message': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('contacts').addColumn('left_message', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
    },
  },
};
