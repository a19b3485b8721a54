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
import { agentContactCounters, agentCounters, contactCounters } from './reports.tables.ts';

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

/** report_contact_buckets rows of agents (source) into report_agent_contact_days and report_agent_channel_days (unless `channels` is false). */
export async function addAgentContactDays(db: Db, source: RawBuilder<unknown>, channels = true): Promise<void> {
  await sql`
    INSERT INTO report_agent_contact_days (instance_id, day, agent_id, channel, direction, skill_group_id, ${refs(contactCounters)})
    SELECT c.instance_id, (c.bucket AT TIME ZONE ${zoneOf('c')})::date, c.agent_id, c.channel, c.direction, c.skill_group_id, ${sums(contactCounters, 'c')}
    FROM ${source} c
    WHERE c.agent_id <> ''
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (instance_id, day, agent_id, channel, direction, skill_group_id) DO UPDATE SET ${addAll('report_agent_contact_days', contactCounters)}`.execute(db);
  if (channels) await addAgentChannelDays(db, sql`(SELECT c.*, (c.bucket AT TIME ZONE ${zoneOf('c')})::date AS day FROM ${source} c WHERE c.agent_id <> '')`);
}

/** Rows with report_agent_contact_days' columns (day, agent, channel, counters: source) into report_agent_channel_days. */
export async function addAgentChannelDays(db: Db, source: RawBuilder<unknown>): Promise<void> {
  await sql`
    INSERT INTO report_agent_channel_days (instance_id, day, agent_id, channel, ${refs(agentContactCounters)})
    SELECT c.instance_id, c.day, c.agent_id, c.channel, ${sums(agentContactCounters, 'c')}
    FROM ${source} c
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (instance_id, day, agent_id, channel) DO UPDATE SET ${addAll('report_agent_channel_days', agentContactCounters)}`.execute(db);
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

const agentDayTables = ['report_agent_contact_days', 'report_agent_channel_days', 'report_agent_days', 'report_agent_break_days'] as const;

/**
 * Counts the day rows of `instanceIds` (null: every instance) again from the base tables, in each one's zone.
 * `tables.channels` false: not report_agent_channel_days (the migrations before the one that made it).
 */
export async function refillDays(db: Db, instanceIds: string[] | null, tables: { groups: boolean; agents: boolean; channels?: boolean } = { groups: true, agents: true }): Promise<void> {
  const only = (alias: string) => (instanceIds ? sql`WHERE ${sql.ref(`${alias}.instance_id`)} = ANY(${instanceIds}::text[])` : sql``);
  const from = (table: string) => sql`(SELECT * FROM ${sql.table(table)} t ${only('t')})`;
  const channels = tables.channels !== false;
  const names = [...(tables.groups ? ['report_group_days'] : []), ...(tables.agents ? agentDayTables.filter((t) => channels || t !== 'report_agent_channel_days') : [])];
  for (const table of names) await sql`DELETE FROM ${sql.table(table)} t ${only('t')}`.execute(db);
  if (tables.groups) await addGroupDays(db, from('report_group_buckets'));
  if (tables.agents) {
    await addAgentContactDays(db, from('report_contact_buckets'), channels);
    await addAgentDays(db, from('report_agent_buckets'), from('report_agent_spans'));
    await addBreakDays(db, from('report_agent_break_buckets'), from('report_agent_spans'));
  }
}

// ---- the same sums in memory, for a batch's deltas -------------------------------------------------------
//
// The projection sums a batch's deltas per local day itself and writes each day row once (one upsert a
// table), instead of the statements above grouping its rows in PostgreSQL (whose span split, a few lookups
// a span, was most of a catch-up's time). The local day of each 15-minute bucket still comes from
// PostgreSQL (`localDays`: (bucket AT TIME ZONE zone)::date, a UTC day's 96 buckets at a time, kept), so a
// day row holds exactly what the statements above would add to it.

const dayMs = 86_400_000;
const bucketsADay = dayMs / bucketMs;

/** The local day ('YYYY-MM-DD') of each bucket, per zone, per UTC day (by its number since 1970): read once. */
const knownDays = new Map<string, Map<number, string[]>>();
/** Zones × UTC days kept at most (a zone's year is 365): past it, the map starts again. */
const knownDaysMax = 100_000;
let knownDaysCount = 0;

/** A function giving the local day of a bucket (ms) in a zone, for the buckets of the UTC days `days` asks for. */
export async function localDays(db: Db, needs: Map<string, Set<number>>): Promise<LocalDays> {
  for (const [zone, days] of needs) {
    let known = knownDays.get(zone);
    const missing = [...days].filter((d) => !known?.has(d));
    if (missing.length === 0) continue;
    if (knownDaysCount + missing.length > knownDaysMax) {
      knownDays.clear();
      knownDaysCount = 0;
      known = undefined;
    }
    if (!known) knownDays.set(zone, (known = new Map()));
    const r = await sql<{ d: number; days: string[] }>`
      SELECT u.d, array_agg(to_char(((to_timestamp(u.d * 86400) + i * ${bucketInterval}) AT TIME ZONE ${zone})::date, 'YYYY-MM-DD') ORDER BY i) AS days
      FROM unnest(${missing}::bigint[]) u(d), generate_series(0, ${sql.lit(bucketsADay - 1)}) i
      GROUP BY u.d`.execute(db);
    for (const row of r.rows) {
      known.set(Number(row.d), row.days);
      if (row.days.some((day, i) => i > 0 && day < row.days[i - 1]!)) goingBack.add(row.days);
    }
    knownDaysCount += r.rows.length;
  }
  return { day: (zone, bucket) => dayBuckets(zone, bucket)[Math.floor((bucket % dayMs) / bucketMs)]!, steady: (zone, bucket) => !goingBack.has(dayBuckets(zone, bucket)) };
}

/** UTC days (their buckets' local days) in which a local day comes again after the next one (a clock set back over midnight). */
const goingBack = new WeakSet<string[]>();

function dayBuckets(zone: string, bucket: number): string[] {
  const days = knownDays.get(zone)?.get(Math.floor(bucket / dayMs));
  if (!days) throw new Error(`local days of ${zone} not read for ${new Date(bucket).toISOString()}`);
  return days;
}

export interface LocalDays {
  /** The local day of a bucket (ms) in a zone. */
  day(zone: string, bucket: number): string;
  /** Whether the local days of the bucket's UTC day never go back (a span's first and last bucket's days then bound its others'). */
  steady(zone: string, bucket: number): boolean;
}

/** The UTC day numbers a bucket (ms) or [from, to) of buckets needs in `needs`, under `zone`. */
export function needDays(needs: Map<string, Set<number>>, zone: string, from: number, to = from + bucketMs): void {
  let days = needs.get(zone);
  if (!days) needs.set(zone, (days = new Set()));
  for (let d = Math.floor(from / dayMs); d * dayMs < to; d++) days.add(d);
}

/**
 * The milliseconds of [from, to) (whole buckets of one UTC day) per local day in `zone`: one pair when the
 * first and last buckets lie in the same local day and the UTC day's local days never go back, else bucket by bucket.
 */
export function spanDayParts(days: LocalDays, zone: string, from: number, to: number): [string, number][] {
  const first = days.day(zone, from);
  if (days.day(zone, to - bucketMs) === first && days.steady(zone, from)) return [[first, to - from]];
  const out = new Map<string, number>();
  for (let t = from; t < to; t += bucketMs) {
    const day = days.day(zone, t);
    out.set(day, (out.get(day) ?? 0) + bucketMs);
  }
  return [...out];
}

// ---- a zone change's recount, chunk by chunk -----------------------------------------------------------
//
// When an instance's zone changes, its day rows (counted in the old zone) are counted again from the base
// tables in the new one: a job (report_day_recounts) that the runner holding the projection works through a
// chunk at a time, each in a transaction of its own, between the projection's batches (a batch waits for
// one chunk at most, not for the whole recount). A crash leaves the job's row: the next runner resumes it.
// Meanwhile the instance's reports read the 15-minute buckets (report-queries.ts, dayCheck): the new zone's
// figures, exact, only slower.
//
// The projection's batches add their day deltas of such an instance only for buckets the recount has passed
// (counted_to); the recount counts the rest from the base tables. Both hold the job's row lock while they
// decide, so a chunk sees every batch committed before it, and a batch the chunk's counted_to.

/** Day rows deleted per table and transaction in a recount's first phase. */
const recountDeleteRows = 20_000;
/** Days of base rows (UTC, from the first bucket not counted) counted per transaction in its second phase. */
const recountDays = 7;

/** The day tables' rows of `instanceId` (their buckets before `to`): the source of one chunk. */
const baseRows = (table: string, column: string, instanceId: string, from: Date, to: Date) =>
  sql`(SELECT * FROM ${sql.table(table)} t WHERE t.instance_id = ${instanceId} AND ${sql.ref(`t.${column}`)} >= ${from.toISOString()}::timestamptz AND ${sql.ref(`t.${column}`)} < ${to.toISOString()}::timestamptz)`;

/** The first bucket at or after `from` (null: from the start) in the instance's base tables, or null if none. */
async function firstBucket(db: Db, instanceId: string, from: Date | null): Promise<Date | null> {
  const after = (column: string) => (from ? sql`AND ${sql.ref(column)} >= ${from.toISOString()}::timestamptz` : sql``);
  const r = await sql<{ first: Date | string | null }>`
    SELECT least(
      (SELECT min(bucket) FROM report_group_buckets WHERE instance_id = ${instanceId} ${after('bucket')}),
      (SELECT min(bucket) FROM report_agent_buckets WHERE instance_id = ${instanceId} ${after('bucket')}),
      (SELECT min(bucket) FROM report_agent_break_buckets WHERE instance_id = ${instanceId} ${after('bucket')}),
      (SELECT min(span_from) FROM report_agent_spans WHERE instance_id = ${instanceId} ${after('span_from')})
    ) AS first`.execute(db);
  const first = r.rows[0]?.first;
  return first ? new Date(first) : null;
}

/** The last bucket (or span start) of the instance's base tables, or null if none. */
async function lastBucket(db: Db, instanceId: string): Promise<Date | null> {
  const r = await sql<{ last: Date | string | null }>`
    SELECT greatest(
      (SELECT max(bucket) FROM report_group_buckets WHERE instance_id = ${instanceId}),
      (SELECT max(bucket) FROM report_agent_buckets WHERE instance_id = ${instanceId}),
      (SELECT max(bucket) FROM report_agent_break_buckets WHERE instance_id = ${instanceId}),
      (SELECT max(span_from) FROM report_agent_spans WHERE instance_id = ${instanceId})
    ) AS last`.execute(db);
  const last = r.rows[0]?.last;
  return last ? new Date(last) : null;
}

/** The UTC days a recount counting from `countFrom` goes through: from its day to the instance's last bucket's. */
async function recountDaysTotal(db: Db, instanceId: string, countFrom: Date | null): Promise<number> {
  if (!countFrom) return 0;
  const last = await lastBucket(db, instanceId);
  return last ? Math.max(0, Math.floor(last.getTime() / dayMs) - Math.floor(countFrom.getTime() / dayMs) + 1) : 0;
}

/** A zone change's recount of an instance's day rows (reportRecount): under way or the last one finished. */
export interface ReportRecountStatus {
  /** CLEARING: the old zone's day rows are being deleted; COUNTING: the base rows counted again; FINISHED. */
  state: 'CLEARING' | 'COUNTING' | 'FINISHED';
  timeZone: string;
  /** UTC days of base rows counted into the new zone's day rows, of daysTotal (the first bucket's day to the last's). */
  daysDone: number;
  daysTotal: number;
  startedAt: Date;
  finishedAt: Date | null;
}

/** The instance's recount under way, else its last finished one, else null (none since the projection was built). */
export async function recountStatus(db: Db, instanceId: string): Promise<ReportRecountStatus | null> {
  const job = (
    await sql<{ time_zone: string; phase: string; counted_to: Date | string | null; count_from: Date | string | null; started_at: Date | string }>`
      SELECT time_zone, phase, counted_to, count_from, started_at FROM report_day_recounts WHERE instance_id = ${instanceId}`.execute(db)
  ).rows[0];
  if (job) {
    const countFrom = job.count_from ? new Date(job.count_from) : await firstBucket(db, instanceId, null);
    const daysTotal = await recountDaysTotal(db, instanceId, countFrom);
    const done = job.phase === 'count' && job.counted_to && countFrom ? Math.floor(new Date(job.counted_to).getTime() / dayMs) - Math.floor(countFrom.getTime() / dayMs) : 0;
    return { state: job.phase === 'count' ? 'COUNTING' : 'CLEARING', timeZone: job.time_zone, daysDone: Math.min(daysTotal, Math.max(0, done)), daysTotal, startedAt: new Date(job.started_at), finishedAt: null };
  }
  const last = (
    await sql<{ time_zone: string; days_total: number; started_at: Date | string; finished_at: Date | string }>`
      SELECT time_zone, days_total, started_at, finished_at FROM report_day_recounts_done WHERE instance_id = ${instanceId}`.execute(db)
  ).rows[0];
  if (!last) return null;
  return { state: 'FINISHED', timeZone: last.time_zone, daysDone: last.days_total, daysTotal: last.days_total, startedAt: new Date(last.started_at), finishedAt: new Date(last.finished_at) };
}

/** Starts (or starts again) the recount of `instanceIds`' day rows in their zones (set in report_settings). */
export async function startRecounts(db: Db, zones: Map<string, string>, at: Date): Promise<void> {
  const rows = [...zones].map(([instanceId, zone]) => sql`(${instanceId}, ${zone}, 'delete', null::timestamptz, ${at.toISOString()}::timestamptz, ${at.toISOString()}::timestamptz)`);
  if (rows.length === 0) return;
  await sql`
    INSERT INTO report_day_recounts (instance_id, time_zone, phase, counted_to, started_at, updated_at) VALUES ${sql.join(rows)}
    ON CONFLICT (instance_id) DO UPDATE SET time_zone = excluded.time_zone, phase = 'delete', counted_to = null, count_from = null, started_at = excluded.started_at, updated_at = excluded.updated_at`.execute(db);
}

/** The recounts of `instanceIds` under way, their rows locked until the caller's transaction ends. */
export async function lockRecounts(db: Db, instanceIds: string[]): Promise<Map<string, { phase: string; countedTo: Date | null }>> {
  if (instanceIds.length === 0) return new Map();
  const r = await sql<{ instance_id: string; phase: string; counted_to: Date | string | null }>`
    SELECT instance_id, phase, counted_to FROM report_day_recounts WHERE instance_id = ANY(${instanceIds}::text[]) ORDER BY instance_id FOR UPDATE`.execute(db);
  return new Map(r.rows.map((row) => [row.instance_id, { phase: row.phase, countedTo: row.counted_to ? new Date(row.counted_to) : null }]));
}

/**
 * One chunk of the oldest recount under way, in a transaction of its own: false when there is none. First
 * the instance's old day rows are deleted, a few thousand a table at a time; then its base rows are counted
 * into the day tables a week of buckets at a time, skipping weeks without any; the job ends after the last.
 */
export async function recountDaysStep(db: Kysely<never>): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const t = trx as unknown as Db;
    const job = (
      await sql<{ instance_id: string; time_zone: string; phase: string; counted_to: Date | string | null; count_from: Date | string | null; started_at: Date | string }>`
        SELECT instance_id, time_zone, phase, counted_to, count_from, started_at FROM report_day_recounts ORDER BY started_at, instance_id LIMIT 1 FOR UPDATE`.execute(t)
    ).rows[0];
    if (!job) return false;
    const id = job.instance_id;
    const move = async (phase: string, countedTo: Date | null) => {
      if (countedTo) {
        await sql`UPDATE report_day_recounts SET phase = ${phase}, counted_to = ${countedTo.toISOString()}::timestamptz, count_from = coalesce(count_from, ${countedTo.toISOString()}::timestamptz), updated_at = now() WHERE instance_id = ${id}`.execute(t);
        return;
      }
      // Done: the job's row goes (the reports read the day rows again); what it did is kept for reportRecount.
      const countFrom = job.count_from ? new Date(job.count_from) : await firstBucket(t, id, null);
      await sql`DELETE FROM report_day_recounts WHERE instance_id = ${id}`.execute(t);
      await sql`
        INSERT INTO report_day_recounts_done (instance_id, time_zone, days_total, started_at, finished_at)
        VALUES (${id}, ${job.time_zone}, ${await recountDaysTotal(t, id, countFrom)}, ${new Date(job.started_at).toISOString()}::timestamptz, now())
        ON CONFLICT (instance_id) DO UPDATE SET time_zone = excluded.time_zone, days_total = excluded.days_total, started_at = excluded.started_at, finished_at = excluded.finished_at`.execute(t);
    };
    if (job.phase === 'delete') {
      let left = false;
      for (const table of ['report_group_days', ...agentDayTables]) {
        const r = await sql<{ n: number }>`
          WITH d AS (DELETE FROM ${sql.table(table)} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${sql.table(table)} WHERE instance_id = ${id} LIMIT ${recountDeleteRows})) RETURNING 1)
          SELECT count(*)::int AS n FROM d`.execute(t);
        if (Number(r.rows[0]!.n) >= recountDeleteRows) left = true;
      }
      if (!left) await move('count', await firstBucket(t, id, null));
      return true;
    }
    const from = new Date(job.counted_to!);
    const to = new Date(from.getTime() + recountDays * dayMs);
    await addGroupDays(t, baseRows('report_group_buckets', 'bucket', id, from, to));
    await addAgentContactDays(t, baseRows('report_contact_buckets', 'bucket', id, from, to));
    await addAgentDays(t, baseRows('report_agent_buckets', 'bucket', id, from, to), baseRows('report_agent_spans', 'span_from', id, from, to));
    await addBreakDays(t, baseRows('report_agent_break_buckets', 'bucket', id, from, to), baseRows('report_agent_spans', 'span_from', id, from, to));
    await move('count', await firstBucket(t, id, to));
    return true;
  });
}
