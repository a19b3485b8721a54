import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const webhooksMigrations: Record<string, Migration> = {
  '2026_12_04_900_webhooks': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhooks')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('event_kinds', 'jsonb', (c) => c.notNull())
        .addColumn('secret_salt', 'text', (c) => c.notNull())
        .addColumn('paused_reason', 'text')
        .addColumn('paused_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .addPrimaryKeyConstraint('webhooks_pk', ['instance_id', 'id'])
        .execute();
      // The outbox and delivery log: written by the webhooks projection (with its checkpoint, so each event is
      // queued once per endpoint), worked by the dispatcher in seq order per endpoint. A rebuild of the
      // projection keeps it: its rows' ids are derived from (webhook, event, kind), so none is queued twice.
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigserial', (c) => c.notNull())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('webhook_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text')
        .addColumn('event_position', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('last_status_code', 'integer')
        .addColumn('replay_of', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('last_attempt_at', 'timestamptz')
        .addColumn('next_attempt_at', 'timestamptz')
        .addColumn('first_failed_at', 'timestamptz')
        .addColumn('delivered_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('webhook_deliveries_queue').on('webhook_deliveries').columns(['webhook_id', 'status', 'seq']).execute();
      await db.schema.createIndex('webhook_deliveries_log').on('webhook_deliveries').columns(['instance_id', 'webhook_id', 'created_at', 'id']).execute();
    },
  },
};
