import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const callRecordsMigrations: Record<string, Migration> = {
  '2026_12_02_120_call_records': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('call_records')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('call_id', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('caller', 'text', (c) => c.notNull())
        .addColumn('callee', 'text', (c) => c.notNull())
        .addColumn('trunk_id', 'text')
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('flow_id', 'text')
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('flow_started_at', 'timestamptz')
        .addColumn('queued_at', 'timestamptz')
        .addColumn('ring_at', 'timestamptz')
        .addColumn('accepted_at', 'timestamptz')
        .addColumn('ended_at', 'timestamptz')
        .addColumn('ivr_seconds', 'integer')
        .addColumn('queue_seconds', 'integer')
        .addColumn('ring_seconds', 'integer')
        .addColumn('talk_seconds', 'integer')
        .addColumn('end_status', 'text')
        .addColumn('ended_by', 'text')
        .addColumn('skill_group_id', 'text')
        .addColumn('current_skill_group_id', 'text')
        .addColumn('served_skill_group_id', 'text')
        .addColumn('agent_id', 'text')
        .addColumn('agent_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .addColumn('keys', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('legs', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('recording_id', 'text')
        .addColumn('recording_status', 'text')
        .addColumn('recording_duration_ms', 'integer')
        // integer: up to 2 GiB, which a 16-bit 8 kHz stereo WAV reaches after some 18 hours.
        .addColumn('recording_bytes', 'integer')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('call_records_pk', ['instance_id', 'contact_id'])
        .execute();
      await db.schema.createIndex('call_records_page').on('call_records').columns(['instance_id', 'started_at', 'contact_id']).execute();
      // "An agent sees their own calls": agent_ids @> ARRAY[agent].
      await sql`CREATE INDEX call_records_agents ON call_records USING gin (agent_ids)`.execute(db);

      // Every recording of a call (a call may be recorded more than once, e.g. after a transfer).
      await db.schema
        .createTable('call_recordings')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('completed_at', 'timestamptz')
        .addColumn('duration_ms', 'integer')
        .addColumn('bytes', 'integer')
        .addPrimaryKeyConstraint('call_recordings_pk', ['instance_id', 'id'])
        .execute();
      await db.schema.createIndex('call_recordings_contact').on('call_recordings').columns(['instance_id', 'contact_id']).execute();
    },
  },
};
