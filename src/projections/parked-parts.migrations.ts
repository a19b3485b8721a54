import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Issue 9: the parts of projections parked after an event they could not apply (see parked-parts.ts).
export const parkedPartsMigrations: Record<string, Migration> = {
  '2026_12_20_000_projection_parked_parts': {
    async up(db: Kysely<unknown>) {
      // On the checkpoint row too: the batch that moves the checkpoint reads which instances it holds in the
      // same statement, under the row lock a retry also takes, so the two never disagree.
      await db.schema
        .alterTable('kefu_projection_checkpoints')
        .addColumn('parked_instances', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
        .execute();
      await db.schema
        .createTable('kefu_projection_parked_parts')
        .addColumn('projection', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        // Replay of the held events starts after this position (null: the beginning of the log).
        .addColumn('resume_after', 'text')
        .addColumn('event_position', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('stream_id', 'text', (c) => c.notNull())
        .addColumn('error', 'text', (c) => c.notNull())
        .addColumn('parked_at', 'timestamptz', (c) => c.notNull())
        .addColumn('last_retry_at', 'timestamptz')
        .addPrimaryKeyConstraint('kefu_projection_parked_parts_pk', ['projection', 'instance_id'])
        .execute();
    },
  },
};
