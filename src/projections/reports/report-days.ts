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
/** The zone of the row `alias` (never `s`: the subquery's own alias). */
const zoneOf = (alias: string) => sql`coalesce((SELECT s.time_zone FROM report_settings s WHERE s.instance_id = ${sql.ref(`${alias}.instance_id`)}), 'UTC')`;
const addAll = (table: string, columns: readonly string[]) => sql.join(columns.map((c) => sql`${sql.ref(c)} = ${sql.ref(`${table}.${c}`)} + ${sql.ref(`excluded.${c}`)}`));
const refs = (columns: readonly string[]) => sql.join(columns.map((c) => sql.ref(c)));
const sums = (columns: readonly string[], alias: string) => sql.join(columns.map((c) => sql`sum(${sql.ref(`${alias}.${c}`)})`));
const bucketInterval = sql`${sql.lit(`${bucketMs / 1000} seconds`)}::interval`;
/** Whole milliseconds from one timestamptz to a later one. */
const msBetween = (from: string, to: string) => sql`(round(extract(epoch FROM (${sql.raw(to)} - ${sql.raw(from)})) * 1000))::bigint`;

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

/**
 * The day parts of span rows (each span lies within one UTC day, on bucket boundaries): (instance_id, day,
 * agent_id, counter, reason, ms), ms being 15 minutes for each of the span's buckets whose local day is
 * `day`. Worked out from the span's ends instead of one row per bucket (an agent idle all day was 96 rows):
 * when the zone's offset is the same at the span's first and last bucket, the span lies in one local day or
 * is split once at the first bucket of the next day (checked: that bucket's day is the next, the one before
 * it the first); anything else (a zone change inside the span) is counted bucket by bucket, as before.
 */
const spanDays = (spans: RawBuilder<unknown>) => sql`
  WITH x AS MATERIALIZED (
    SELECT sp.instance_id, sp.agent_id, sp.counter, sp.reason, sp.span_from, sp.span_to, z.zone,
      (sp.span_from AT TIME ZONE z.zone) AS lf, ((sp.span_to - ${bucketInterval}) AT TIME ZONE z.zone) AS ll
    FROM ${spans} sp CROSS JOIN LATERAL (SELECT ${zoneOf('sp')} AS zone) z
  ), y AS MATERIALIZED (
    SELECT x.*, x.lf::date AS d1, x.ll::date AS d2,
      (x.lf - (x.span_from AT TIME ZONE 'UTC')) = (x.ll - ((x.span_to - ${bucketInterval}) AT TIME ZONE 'UTC')) AS steady,
      to_timestamp(ceil((extract(epoch FROM x.span_from) + extract(epoch FROM (x.ll::date::timestamp - x.lf))) / ${sql.lit(bucketMs / 1000)}) * ${sql.lit(bucketMs / 1000)}) AS m
    FROM x
  ), w AS MATERIALIZED (
    SELECT y.*, (y.steady AND y.d1 = y.d2) AS one_day,
      (y.steady AND y.d2 = y.d1 + 1 AND y.m > y.span_from AND y.m < y.span_to
        AND (y.m AT TIME ZONE y.zone)::date = y.d2 AND ((y.m - ${bucketInterval}) AT TIME ZONE y.zone)::date = y.d1) AS two_days
    FROM y
  )
  SELECT w.instance_id, w.d1 AS day, w.agent_id, w.counter, w.reason, ${msBetween('w.span_from', 'w.span_to')} AS ms FROM w WHERE w.one_day
  UNION ALL
  SELECT w.instance_id, w.d1, w.agent_id, w.counter, w.reason, ${msBetween('w.span_from', 'w.m')} FROM w WHERE w.two_days
  UNION ALL
  SELECT w.instance_id, w.d2, w.agent_id, w.counter, w.reason, ${msBetween('w.m', 'w.span_to')} FROM w WHERE w.two_days
  UNION ALL
  SELECT w.instance_id, (b.bucket AT TIME ZONE w.zone)::date, w.agent_id, w.counter, w.reason, ${sql.lit(bucketMs)}::bigint
  FROM w, generate_series(w.span_from, w.span_to - ${bucketInterval}, ${bucketInterval}) b(bucket)
  WHERE NOT w.one_day AND NOT w.two_days`;

/** report_agent_buckets rows (agents) and report_agent_spans rows (spans) into report_agent_days. */
export async function addAgentDays(db: Db, agents: RawBuilder<unknown>, spans: RawBuilder<unknown>): Promise<void> {
  await sql`
    INSERT INTO report_agent_days (instance_id, day, agent_id, ${refs(agentCounters)})
    SELECT a.instance_id, a.day, a.agent_id, ${sums(agentCounters, 'a')}
    FROM (
      SELECT x.instance_id, (x.bucket AT TIME ZONE ${zoneOf('x')})::date AS day, x.agent_id, ${sql.join(agentCounters.map((c) => sql`${sql.ref(`x.${c}`)}::bigint AS ${sql.ref(c)}`))} FROM ${agents} x
      UNION ALL
      SELECT y.instance_id, y.day, y.agent_id, ${sql.join(
        agentCounters.map((c) => (c === 'online_ms' ? sql`y.ms AS online_ms` : sql`CASE WHEN y.counter = ${sql.lit(c)} THEN y.ms ELSE 0 END::bigint AS ${sql.ref(c)}`)),
      )}
      FROM (${spanDays(spans)}) y
    ) a
    GROUP BY 1, 2, 3
    ON CONFLICT (instance_id, day, agent_id) DO UPDATE SET ${addAll('report_agent_days', agentCounters)}`.execute(db);
}

/** report_agent_break_buckets rows (breaks) and the break spans of report_agent_spans rows (spans) into report_agent_break_days. */
export async function addBreakDays(db: Db, breaks: RawBuilder<unknown>, spans: RawBuilder<unknown>): Promise<void> {
  await sql`
    INSERT INTO report_agent_break_days (instance_id, day, agent_id, reason, break_ms)
    SELECT a.instance_id, a.day, a.agent_id, a.reason, sum(a.break_ms)
    FROM (
      SELECT x.instance_id, (x.bucket AT TIME ZONE ${zoneOf('x')})::date AS day, x.agent_id, x.reason, x.break_ms::bigint AS break_ms FROM ${breaks} x
      UNION ALL
      SELECT y.instance_id, y.day, y.agent_id, y.reason, y.ms FROM (${spanDays(sql`(SELECT * FROM ${spans} b WHERE b.counter = 'break_ms')`)}) y
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
