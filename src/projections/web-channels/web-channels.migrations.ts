import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const webChannelsMigrations: Record<string, Migration> = {
  '2026_12_04_100_web_channels': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('web_channels')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('allowed_origins', 'jsonb', (c) => c.notNull())
        .addColumn('skill_group_id', 'text', (c) => c.notNull())
        .addColumn('welcome_text', 'text')
        .addColumn('enabled', 'boolean', (c) => c.notNull())
        .addColumn('identity_secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .addPrimaryKeyConstraint('web_channels_pk', ['instance_id', 'id'])
        .execute();
      // Every customer session starts by finding its channel by the widget's key.
      await db.schema.createIndex('web_channels_public_key').on('web_channels').column('public_key').unique().execute();
    },
  },
  '2026_12_04_200_web_channels_flow': {
    async up(db: Kysely<unknown>) {
      // The CHAT flow a channel runs (OL-13); deleteFlow looks channels up by it.
      await db.schema.alterTable('web_channels').addColumn('flow_id', 'text').execute();
    },
  },
  '2027_01_02_100_web_channels_reception': {
    async up(db: Kysely<unknown>) {
      // Issue 12: the reception prompts changed from the defaults, and the work hours (null: always open).
      await db.schema.alterTable('web_channels').addColumn('reception_prompts', 'jsonb').execute();
      await db.schema.alterTable('web_channels').addColumn('work_hours', 'jsonb').execute();
    },
  },
  '2027_01_04_100_web_channels_av': {
    async up(db: Kysely<unknown>) {
      // Issue 14: the AV buttons and visual menu (AvChannelSettings; null: not configured).
      await db.schema.alterTable('web_channels').addColumn('av_settings', 'jsonb').execute();
    },
  },
};
