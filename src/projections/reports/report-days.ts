// Day totals of the reports (issue 15): the 15-minute bucket figures summed per local day in the instance's
// time zone (report_settings, UTC until configured), so a year per day reads 365 rows a series and a month
// per agent 30 rows an agent. The day of a bucket is PostgreSQL's (bucket AT TIME ZONE zone)::date, the
// same the report queries compute (report-queries.ts, intervalOf), so a day row holds exactly the buckets a
// day report puts in that day. A span (an agent's time over whole buckets) counts 15 minutes in the day of
// each of its buckets.
//
// Each statement adds rows of a source with the columns of its base table (the table itself, or a batch's
// rows as json_populate_recordset) to the day table: the projection adds each batch's deltas, and counts an
// instance's days again from the base tables when its zone changes (and the migrations fill them).
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { agentCounters, contactCounters } from './reports.tables.ts';

type Db = Kysely<unknown>;
/** reports.projection.ts's bucketMs (not imported: that module imports this one). */
const bucketMs = 15 * 60 * 1000;
const zoneOf = (alias: string) => sql`coalesce((SELECT s.time_zone FROM report_settings s WHERE s.instance_id = ${sql.ref(`${alias}.instance_id`)}), 'UTC')`;
const addAll = (table: string, columns: readonly string[]) => sql.join(columns.map((c) => sql`${sql.ref(c)} = ${sql.ref(`${table}.${c}`)} + ${sql.ref(`excluded.${c}`)}`));
const refs = (columns: readonly string[]) => sql.join(columns.map((c) => sql.ref(c)));
const sums = (columns: readonly string[], alias: string) => sql.join(columns.map((c) => sql`sum(${sql.ref(`${alias}.${c}`)})`));

/** report_group_buckets rows (source) into report_group_days. */
export async function addGroupDays(db: Db, source: RawBuilder<unknown>): Promise<void> {
  await sql`
    INSERT INTO report_group_days (instance_id, day, channel, direction, skill_group_id, answer_wait_max_ms, ${refs(contactCounters)})
    SELECT g.instance_id, (g.bucket AT TIME ZONE ${zoneOf('g')})::date, g.channel, g.direction, g.skill_group_id, max(g.answer_wait_max_ms), ${sums(contactCounters, 'g')}
    FROM ${source} g
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (instance_id, day, channel, direction, skill_group_id) DO UPDATE SET
      ${addAll('report_group_days', contactCounters)}, answer_wait_max_ms = greatest(report_group_days.answer_wait_max_ms, excluded.answer_wait_max_ms)`.execute(db);
}

/** report_contact_buckets rows of agents (source) into report_agent_contact_days. */
export async function addAgentContactDays(db: Db, source: RawBuilder<unknown>): Promise<void> {
  await sql`
    INSERT INTO report_agent_contact_days (instance_id, day, agent_id, channel, direction, skill_group_id, ${refs(contactCounters)})
    SELECT c.instance_id, (c.bucket AT TIME ZONE ${zoneOf('c')})::date, c.agent_id, c.channel, c.direction, c.skill_group_id, ${sums(contactCounters, 'c')}
    FROM ${source} c
    WHERE c.agent_id <> ''
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (instance_id, day, agent_id, channel, direction, skill_group_id) DO UPDATE SET ${addAll('report_agent_contact_days', contactCounters)}`.execute(db);
}

/** The 15-minute buckets of span rows: (instance_id, bucket, agent_id, counter, reason). */
const spanBuckets = (spans: RawBuilder<unknown>) => sql`
  SELECT x.instance_id, b.bucket, x.agent_id, x.counter, x.reason
  FROM ${spans} x, generate_series(x.span_from, x.span_to - ${sql.lit(`${bucketMs / 1000} seconds`)}::interval, ${sql.lit(`${bucketMs / 1000} seconds`)}::interval) b(bucket)`;

/** report_agent_buckets rows (agents) and report_agent_spans rows (spans) into report_agent_days. */
export async function addAgentDays(db: Db, agents: RawBuilder<unknown>, spans: RawBuilder<unknown>): Promise<void> {
  await sql`
    INSERT INTO report_agent_days (instance_id, day, agent_id, ${refs(agentCounters)})
    SELECT a.instance_id, (a.bucket AT TIME ZONE ${zoneOf('a')})::date, a.agent_id, ${sums(agentCounters, 'a')}
    FROM (
      SELECT x.instance_id, x.bucket, x.agent_id, ${sql.join(agentCounters.map((c) => sql`${sql.ref(`x.${c}`)}::bigint AS ${sql.ref(c)}`))} FROM ${agents} x
      UNION ALL
      SELECT y.instance_id, y.bucket, y.agent_id, ${sql.join(
        agentCounters.map((c) => (c === 'online_ms' ? sql`${sql.lit(bucketMs)}::bigint AS online_ms` : sql`CASE WHEN y.counter = ${sql.lit(c)} THEN ${sql.lit(bucketMs)} ELSE 0 END::bigint AS ${sql.ref(c)}`)),
      )}
      FROM (${spanBuckets(spans)}) y
    ) a
    GROUP BY 1, 2, 3
    ON CONFLICT (instance_id, day, agent_id) DO UPDATE SET ${addAll('report_agent_days', agentCounters)}`.execute(db);
}

/** report_agent_break_buckets rows (breaks) and the break spans of report_agent_spans rows (spans) into report_agent_break_days. */
export async function addBreakDays(db: Db, breaks: RawBuilder<unknown>, spans: RawBuilder<unknown>): Promise<void> {
  await sql`
    INSERT INTO report_agent_break_days (instance_id, day, agent_id, reason, break_ms)
    SELECT a.instance_id, (a.bucket AT TIME ZONE ${zoneOf('a')})::date, a.agent_id, a.reason, sum(a.break_ms)
    FROM (
      SELECT x.instance_id, x.bucket, x.agent_id, x.reason, x.break_ms::bigint AS break_ms FROM ${breaks} x
      UNION ALL
      SELECT y.instance_id, y.bucket, y.agent_id, y.reason, ${sql.lit(bucketMs)}::bigint FROM (${spanBuckets(spans)}) y WHERE y.counter = 'break_ms'
    ) a
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (instance_id, day, agent_id, reason) DO UPDATE SET break_ms = report_agent_break_days.break_ms + excluded.break_ms`.execute(db);
}

const agentDayTables = ['report_agent_contact_days', 'report_agent_days', 'report_agent_break_days'] as const;

/** Counts the day rows of `instanceIds` (null: every instance) again from the base tables, in each one's zone. */
export async function refillDays(db: Db, instanceIds: string[] | null, tables: { groups: boolean; agents: boolean } = { groups: true, agents: true }): Promise<void> {
  const only = (alias: string) => (instanceIds ? sql`WHERE ${sql.ref(`${alias}.instance_id`)} = ANY(${instanceIds}::text[])` : sql``);
  const from = (table: string) => sql`(SELECT * FROM ${sql.table(table)} t ${only('t')})`;
  const names = [...(tables.groups ? ['report_group_days'] : []), ...(tables.agents ? agentDayTables : [])];
  for (const table of names) await sql`DELETE FROM ${sql.table(table)} t ${only('t')}`.execute(db);
  if (tables.groups) await addGroupDays(db, from('report_group_buckets'));
  if (tables.agents) {
    await addAgentContactDays(db, from('report_contact_buckets'));
    await addAgentDays(db, from('report_agent_buckets'), from('report_agent_spans'));
    await addBreakDays(db, from('report_agent_break_buckets'), from('report_agent_spans'));
  }
}
