import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const telephonyMigrations: Record<string, Migration> = {
  '2026_12_02_110_telephony': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('trunks')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('allowed_addresses', 'jsonb', (c) => c.notNull())
        .addColumn('digest_username', 'text')
        .addColumn('digest_ha1', 'text')
        .addColumn('outbound_uri', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .addPrimaryKeyConstraint('trunks_pk', ['instance_id', 'id'])
        .execute();
      // Platform-wide: a number is bound to one instance at most.
      await db.schema
        .createTable('phone_numbers')
        .addColumn('number_key', 'text', (c) => c.primaryKey())
        .addColumn('number', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('flow_id', 'text', (c) => c.notNull())
        .addColumn('bound_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('phone_numbers_instance').on('phone_numbers').columns(['instance_id', 'flow_id']).execute();
      await db.schema
        .createTable('sip_extensions')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('ha1', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('sip_extensions_pk', ['instance_id', 'agent_id'])
        .execute();
      await db.schema.createIndex('sip_extensions_username').on('sip_extensions').column('username').execute();
    },
  },
};
