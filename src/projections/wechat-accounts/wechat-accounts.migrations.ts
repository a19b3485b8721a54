import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const wechatAccountsMigrations: Record<string, Migration> = {
  '2026_12_04_300_wechat_accounts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('wechat_accounts')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('app_id', 'text', (c) => c.notNull())
        .addColumn('original_id', 'text')
        .addColumn('message_mode', 'text', (c) => c.notNull())
        .addColumn('data_format', 'text', (c) => c.notNull())
        .addColumn('skill_group_id', 'text', (c) => c.notNull())
        .addColumn('flow_id', 'text')
        .addColumn('send_quota', 'integer', (c) => c.notNull())
        .addColumn('enabled', 'boolean', (c) => c.notNull())
        .addColumn('app_secret', 'text', (c) => c.notNull())
        .addColumn('token', 'text', (c) => c.notNull())
        .addColumn('encoding_aes_key', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .addPrimaryKeyConstraint('wechat_accounts_pk', ['instance_id', 'id'])
        .execute();
      // Process tables (not projections: they are not rebuilt from events).
      await db.schema
        .createTable('wechat_inbound')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('push_key', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text')
        .addColumn('received_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('wechat_inbound_pk', ['instance_id', 'account_id', 'push_key'])
        .execute();
      await db.schema
        .createTable('wechat_outbox')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('open_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
        .addColumn('claimed_until', 'timestamptz')
        .addColumn('error_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('wechat_outbox_pk', ['instance_id', 'contact_id', 'seq'])
        .execute();
      await db.schema.createIndex('wechat_outbox_pending').on('wechat_outbox').columns(['state', 'next_attempt_at']).execute();
      await db.schema
        .createTable('wechat_access_tokens')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('token', 'text')
        .addColumn('expires_at', 'timestamptz')
        .addColumn('lease_until', 'timestamptz')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('wechat_access_tokens_pk', ['instance_id', 'account_id'])
        .execute();
      await db.schema
        .createTable('wechat_checkpoints')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', 'text')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
  '2026_12_04_310_wechat_outbox_payload': {
    async up(db: Kysely<unknown>) {
      // What to send (kind, text, file), copied from the message event: the sender needs no other read.
      await db.schema.alterTable('wechat_outbox').addColumn('payload', 'jsonb').execute();
    },
  },
  // Issue 13: reception prompts and work hours per account (the web channels' settings, same shape).
  '2027_01_03_101_wechat_accounts_reception': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('wechat_accounts').addColumn('welcome_text', 'text').addColumn('reception_prompts', 'jsonb').addColumn('work_hours', 'jsonb').execute();
    },
  },
  // Issue 13 bench: a push finds its customer's open chat on the account by an index, not by reading every
  // contact of the instance (the look-up wechat-inbound.ts makes for each push).
  '2027_01_03_102_contacts_wechat_customer': {
    async up(db: Kysely<unknown>) {
      await sql`CREATE INDEX contacts_wechat_customer ON contacts (instance_id, (source->>'wechatAccountId'), (customer->>'id'), created_at) WHERE source->>'kind' = 'WECHAT'`.execute(db);
    },
  },
  // Issue 13: the mini program cards agents pick from (chat-link.ts MiniProgramCard[]).
  '2027_01_03_103_wechat_accounts_cards': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('wechat_accounts').addColumn('mini_program_cards', 'jsonb').execute();
    },
  },
  // Issue 13: a push is kept (with its key, the dedupe) before WeChat is answered, and its effect made from it
  // after (wechat-intake.ts); pending rows are the ones whose effect is not made yet. Rows from before: done.
  '2027_01_06_100_wechat_inbound_pending': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('wechat_inbound')
        .addColumn('push', 'jsonb')
        .addColumn('pending', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'timestamptz')
        .execute();
      await sql`CREATE INDEX wechat_inbound_pending ON wechat_inbound (next_attempt_at) WHERE pending`.execute(db);
    },
  },
};
