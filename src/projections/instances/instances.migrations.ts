import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const instancesMigrations: Record<string, Migration> = {
  '2026_11_25_010_instances': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('instances')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('qualification_status', 'text', (c) => c.notNull())
        .addColumn('company_name', 'text')
        .addColumn('registration_number', 'text')
        .addColumn('documents', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('qualification_submitted_at', 'timestamptz')
        .addColumn('qualification_reviewed_at', 'timestamptz')
        .addColumn('qualification_review_reason', 'text')
        .addColumn('seats', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('seats_used', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('break_reasons', 'jsonb', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('revoked_at', 'timestamptz')
        .execute();
      await db.schema
        .createTable('instance_seat_holders')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('login', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('instance_seat_holders_pk', ['instance_id', 'agent_id'])
        .execute();
      await db.schema.createIndex('api_keys_instance').on('api_keys').columns(['instance_id', 'created_at']).execute();
    },
  },
};
