import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { addAgentChannelDays, refillDays } from './report-days.ts';
import { agentContactCounters, agentCounters, contactCounters } from './reports.tables.ts';

export const reportsMigrations: Record<string, Migration> = {
  '2026_12_30_000_reports': {
    async up(db: Kysely<unknown>) {
      let contacts = db.schema
        .createTable('report_contact_buckets')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('bucket', 'timestamptz', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('skill_group_id', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('answer_wait_max_ms', 'bigint', (c) => c.notNull().defaultTo(0));
      for (const counter of contactCounters) contacts = contacts.addColumn(counter, 'bigint', (c) => c.notNull().defaultTo(0));
      await contacts.addPrimaryKeyConstraint('report_contact_buckets_pk', ['instance_id', 'bucket', 'channel', 'direction', 'skill_group_id', 'agent_id']).execute();

      let agents = db.schema
        .createTable('report_agent_buckets')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('bucket', 'timestamptz', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull());
      for (const counter of agentCounters) agents = agents.addColumn(counter, 'bigint', (c) => c.notNull().defaultTo(0));
      await agents.addPrimaryKeyConstraint('report_agent_buckets_pk', ['instance_id', 'bucket', 'agent_id']).execute();

      await db.schema
        .createTable('report_agent_break_buckets')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('bucket', 'timestamptz', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('break_ms', 'bigint', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('report_agent_break_buckets_pk', ['instance_id', 'bucket', 'agent_id', 'reason'])
        .execute();

      await db.schema
        .createTable('report_contacts')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('stage', 'text', (c) => c.notNull())
        .addColumn('skill_group_id', 'text')
        .addColumn('served_skill_group_id', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('queued_at', 'timestamptz')
        .addColumn('offered_at', 'timestamptz')
        .addColumn('ringing_agent_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('in_transfer', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('agent_id', 'text')
        .addColumn('connected_at', 'timestamptz')
        .addColumn('held_at', 'timestamptz')
        .addColumn('first_response', 'boolean', (c) => c.notNull().defaultTo(false))
        .addPrimaryKeyConstraint('report_contacts_pk', ['instance_id', 'contact_id'])
        .execute();

      await db.schema
        .createTable('report_agents')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('presence', 'text', (c) => c.notNull())
        .addColumn('break_reason', 'text')
        .addColumn('since', 'timestamptz')
        .addColumn('contacts', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('wrap_up_contact_id', 'text')
        .addColumn('wrap_up_since', 'timestamptz')
        .addPrimaryKeyConstraint('report_agents_pk', ['instance_id', 'agent_id'])
        .execute();

      await db.schema
        .createTable('report_settings')
        .addColumn('instance_id', 'text', (c) => c.notNull().primaryKey())
        .addColumn('time_zone', 'text', (c) => c.notNull())
        .addColumn('service_level_seconds', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
  // The same contact figures without the agent dimension, which the instance, skill group and overview
  // reports read: a few rows a bucket instead of one per agent too.
  '2026_12_30_001_report_group_buckets': {
    async up(db: Kysely<unknown>) {
      let groups = db.schema
        .createTable('report_group_buckets')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('bucket', 'timestamptz', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('skill_group_id', 'text', (c) => c.notNull())
        .addColumn('answer_wait_max_ms', 'bigint', (c) => c.notNull().defaultTo(0));
      for (const counter of contactCounters) groups = groups.addColumn(counter, 'bigint', (c) => c.notNull().defaultTo(0));
      await groups.addPrimaryKeyConstraint('report_group_buckets_pk', ['instance_id', 'bucket', 'channel', 'direction', 'skill_group_id']).execute();
      // The agent report reads one agent's (or a few agents') contact figures.
      await db.schema.createIndex('report_contact_buckets_agent').on('report_contact_buckets').columns(['instance_id', 'agent_id', 'bucket']).execute();
    },
  },
  // An agent's time in one state over whole 15-minute buckets, as one row (from, to) instead of a row per
  // bucket: a long idle or break is one row; the queries split it into buckets.
  '2026_12_30_002_report_agent_spans': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('report_agent_spans')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('span_from', 'timestamptz', (c) => c.notNull())
        .addColumn('span_to', 'timestamptz', (c) => c.notNull())
        .addColumn('counter', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('report_agent_spans_pk', ['instance_id', 'agent_id', 'span_from'])
        .execute();
      await db.schema.createIndex('report_agent_spans_from').on('report_agent_spans').columns(['instance_id', 'span_from']).execute();
    },
  },
  // Contact figures per local day of the instance's zone: the day, week, month and total reports in that
  // zone read a row per day instead of 96 (report-queries.ts, contactReport).
  '2027_01_06_300_report_group_days': {
    async up(db: Kysely<unknown>) {
      let days = db.schema
        .createTable('report_group_days')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('day', 'date', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('skill_group_id', 'text', (c) => c.notNull())
        .addColumn('answer_wait_max_ms', 'bigint', (c) => c.notNull().defaultTo(0));
      for (const counter of contactCounters) days = days.addColumn(counter, 'bigint', (c) => c.notNull().defaultTo(0));
      await days.addPrimaryKeyConstraint('report_group_days_pk', ['instance_id', 'day', 'channel', 'direction', 'skill_group_id']).execute();
      await refillDays(db, null, { groups: true, agents: false });
    },
  },
  // An agent's figures per local day of the instance's zone: a month per agent and day reads a row per agent
  // and day (report-queries.ts, agentReport) instead of their buckets and spans.
  '2027_01_06_301_report_agent_days': {
    async up(db: Kysely<unknown>) {
      let contacts = db.schema
        .createTable('report_agent_contact_days')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('day', 'date', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('skill_group_id', 'text', (c) => c.notNull());
      for (const counter of contactCounters) contacts = contacts.addColumn(counter, 'bigint', (c) => c.notNull().defaultTo(0));
      await contacts.addPrimaryKeyConstraint('report_agent_contact_days_pk', ['instance_id', 'day', 'agent_id', 'channel', 'direction', 'skill_group_id']).execute();
      let agents = db.schema
        .createTable('report_agent_days')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('day', 'date', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull());
      for (const counter of agentCounters) agents = agents.addColumn(counter, 'bigint', (c) => c.notNull().defaultTo(0));
      await agents.addPrimaryKeyConstraint('report_agent_days_pk', ['instance_id', 'day', 'agent_id']).execute();
      await db.schema
        .createTable('report_agent_break_days')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('day', 'date', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('break_ms', 'bigint', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('report_agent_break_days_pk', ['instance_id', 'day', 'agent_id', 'reason'])
        .execute();
      await refillDays(db, null, { groups: false, agents: true, channels: false });
    },
  },
  // Spans end at UTC midnights (spanMaxMs), so a range's spans are found by span_from alone: a span stored
  // before over midnight is cut into one per UTC day (the same whole buckets).
  '2027_01_05_300_report_agent_spans_per_day': {
    async up(db: Kysely<unknown>) {
      await sql`
        WITH long AS (
          DELETE FROM report_agent_spans
          WHERE span_to > date_trunc('day', span_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day'
          RETURNING *
        )
        INSERT INTO report_agent_spans (instance_id, agent_id, span_from, span_to, counter, reason)
        SELECT l.instance_id, l.agent_id, greatest(l.span_from, d), least(l.span_to, d + interval '1 day'), l.counter, l.reason
        FROM long l, generate_series(date_trunc('day', l.span_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', l.span_to - interval '1 microsecond', interval '1 day') d`.execute(db);
    },
  },
  // A zone change's recount of the day rows, as a job of its own (report-days.ts, recountDaysStep): chunks in
  // transactions of their own, resumed from here after a crash.
  '2027_01_07_300_report_day_recounts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('report_day_recounts')
        .addColumn('instance_id', 'text', (c) => c.notNull().primaryKey())
        .addColumn('time_zone', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('counted_to', 'timestamptz')
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
  // The recount's progress for the API (reportRecount): where its counting started (its days are counted
  // from there to the instance's last bucket), and the last finished recount of each instance.
  '2027_01_08_300_report_recount_status': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('report_day_recounts').addColumn('count_from', 'timestamptz').execute();
      await db.schema
        .createTable('report_day_recounts_done')
        .addColumn('instance_id', 'text', (c) => c.notNull().primaryKey())
        .addColumn('time_zone', 'text', (c) => c.notNull())
        .addColumn('days_total', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('finished_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
  // report_contact_buckets keeps the agents' rows only: a contact's own figures (agent '') are the same in
  // report_group_buckets, which the reports read them from; no query read them here.
  '2027_01_08_301_report_contact_buckets_agents_only': {
    async up(db: Kysely<unknown>) {
      await sql`DELETE FROM report_contact_buckets WHERE agent_id = ''`.execute(db);
    },
  },
  // report_agent_contact_days summed per agent, day and channel (the agent report's channel figures): a month
  // of 500 agents read from ~2 narrow rows an agent and day instead of ~5 of 41 counters.
  '2027_01_09_300_report_agent_channel_days': {
    async up(db: Kysely<unknown>) {
      let days = db.schema
        .createTable('report_agent_channel_days')
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('day', 'date', (c) => c.notNull())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull());
      for (const counter of agentContactCounters) days = days.addColumn(counter, 'bigint', (c) => c.notNull().defaultTo(0));
      await days.addPrimaryKeyConstraint('report_agent_channel_days_pk', ['instance_id', 'day', 'agent_id', 'channel']).execute();
      await addAgentChannelDays(db, sql`report_agent_contact_days`);
    },
  },
};
