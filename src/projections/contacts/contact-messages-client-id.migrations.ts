import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// contact_messages_client_id ((instance_id, contact_id, client_message_id), not unique) cost every chat message
// an entry (a WAL record and ~450 bytes of WAL with it; about 190 bytes of index per message kept) for one read:
// a send that a check refused (the chat ended, over the rate limit) looks for a message already stored under its
// client id, to answer a retry with it (chat.ts, sendChatMessage's `stored`). A retry that the decider accepts
// is recognised from the chat's stream, not here. That rare read finds the chat's messages by
// contact_messages_seq ((instance_id, contact_id, seq): the same first columns) and filters them: a walk over
// one chat's messages, on a path that stores nothing. Nothing else reads by client id.
export const contactMessagesClientIdMigrations: Record<string, Migration> = {
  '2027_01_10_300_contact_messages_client_id_dropped': {
    async up(db: Kysely<unknown>) {
      await sql`DROP INDEX IF EXISTS contact_messages_client_id`.execute(db);
    },
  },
};
