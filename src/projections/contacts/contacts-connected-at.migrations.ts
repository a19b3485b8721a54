import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const contactsConnectedAtMigrations: Record<string, Migration> = {
  '2026_11_25_041_contacts_connected_at': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('contacts').addColumn('connected_at', 'timestamptz').execute();
      await db.schema.createIndex('contacts_queue').on('contacts').columns(['instance_id', 'skill_group_id', 'status']).execute();
    },
  },
};
