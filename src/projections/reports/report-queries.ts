// Reading the reports (RP-1 live overview, RP-2 historical reports): plain functions over the report
// projection's 15-minute UTC buckets, used by the GraphQL resolvers and the CSV exports alike.
// Definitions of every figure: README.md, "Report definitions". Callers pass a request already checked by
// resolveReportRequest (time zone, dates, range and row limits, threshold); the viewer's scope (an agent
// sees only their own rows) is the caller's: pass agentIds = [the agent].
import { sql, type RawBuilder } from 'kysely';
import { ValidationError } from '../../domain/errors.ts';
import { checkServiceLevelSeconds, checkTimeZone, defaultReportSettings, serviceLevelThresholds } from '../../domain/instance/report-settings.ts';
import type { ReadModel } from '../projection.ts';
import { agentContactCounters, agentCounters, contactCounters, type AgentCounter, type ContactCounter } from './reports.tables.ts';
import { bucketMs, spanMaxMs } from './reports.projection.ts';

export { serviceLevelThresholds, type ServiceLevelThreshold } from '../../domain/instance/report-settings.ts';

export type ReportChannel = 'PHONE' | 'ONLINE' | 'AV';
export type ReportDirection = 'IN' | 'OUT';
export type ReportInterval = 'HOUR' | 'DAY' | 'WEEK' | 'MONTH' | 'TOTAL';
export type OverviewInterval = 'MINUTES_15' | 'MINUTES_30' | 'MINUTES_60';

/** Server-wide limits (config: KEFU_REPORT_MAX_RANGE_DAYS, KEFU_REPORT_MAX_ROWS). */
export interface ReportLimits {
  maxRangeDays: number;
  maxRows: number;
}

export interface ReportSettings {
  timeZone: string;
  serviceLevelSeconds: number;
  serviceLevelThresholds: number[];
  maxRangeDays: number;
  maxRows: number;
}

/** What a client asks (GraphQL ReportInput, or the CSV export's query string): unchecked. */
export interface ReportInput {
  from: string;
  to: string;
  interval: ReportInterval;
  timeZone?: string | null;
  serviceLevelSeconds?: number | null;
  channel?: ReportChannel | null;
  direction?: ReportDirection | null;
  skillGroupIds?: string[] | null;
  agentIds?: string[] | null;
}

/** A checked request: the range as instants [rangeStart, rangeEnd), local midnights in timeZone. */
export interface ReportRequest {
  instanceId: string;
  timeZone: string;
  interval: ReportInterval;
  /** Local dates YYYY-MM-DD, inclusive. */
  from: string;
  to: string;
  rangeStart: Date;
  rangeEnd: Date;
  serviceLevelSeconds: number;
  channel: ReportChannel | null;
  direction: ReportDirection | null;
  skillGroupIds: string[] | null;
  agentIds: string[] | null;
}

/** Where a page starts: null for the first page; else the `cursor` of the previous page's last edge. */
export interface ReportPage {
  first: number;
  after: string | null;
}

export interface ContactMetrics {
  created: number;
  ivrEntered: number;
  queued: number;
  offered: number;
  handled: number;
  abandonedInIvr: number;
  abandonedInQueue: number;
  abandonedRinging: number;
  abandoned: number;
  rejected: number;
  transferred: number;
  answerRate: number | null;
  abandonRate: number | null;
  serviceLevelSeconds: number;
  serviceLevelMet: number;
  queueExits: number;
  serviceLevel: number | null;
  averageSpeedOfAnswerSeconds: number | null;
  maxSpeedOfAnswerSeconds: number | null;
  averageAbandonSeconds: number | null;
  averageRingSeconds: number | null;
  talkSeconds: number;
  holdSeconds: number;
  afterCallWorkSeconds: number;
  averageTalkSeconds: number | null;
  averageHoldSeconds: number | null;
  averageAfterCallWorkSeconds: number | null;
  averageHandleSeconds: number | null;
  firstResponses: number;
  averageFirstResponseSeconds: number | null;
}

export interface ContactReportRow {
  intervalStart: Date;
  intervalEnd: Date;
  /** Local wall time of intervalStart in the report's zone, YYYY-MM-DDTHH:mm. */
  localStart: string;
  channel: ReportChannel;
  direction: ReportDirection;
  /** skillGroupReport: the group (null: contacts that reached no group); instanceReport: always null. */
  skillGroupId: string | null;
  metrics: ContactMetrics;
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface ReportConnection<Row> {
  timeZone: string;
  interval: ReportInterval;
  rangeStart: Date;
  rangeEnd: Date;
  serviceLevelSeconds: number;
  edges: { cursor: string; node: Row }[];
  pageInfo: PageInfo;
}

export interface BreakTime {
  reason: string | null;
  seconds: number;
}

export interface AgentChannelMetrics {
  channel: ReportChannel;
  offered: number;
  answered: number;
  missed: number;
  declined: number;
  answerRate: number | null;
  talkSeconds: number;
  holdSeconds: number;
  afterCallWorkSeconds: number;
  averageHandleSeconds: number | null;
  outbound: number;
}

export interface AgentMetrics {
  onlineSeconds: number;
  idleSeconds: number;
  ringingSeconds: number;
  onContactSeconds: number;
  afterCallWorkSeconds: number;
  breakSeconds: number;
  breaks: BreakTime[];
  occupancy: number | null;
  offered: number;
  answered: number;
  answerRate: number | null;
  channels: AgentChannelMetrics[];
}

export interface AgentReportRow {
  intervalStart: Date;
  intervalEnd: Date;
  localStart: string;
  agentId: string;
  metrics: AgentMetrics;
}

export interface OverviewOptions {
  interval: OverviewInterval;
  channel?: ReportChannel | null;
  skillGroupId?: string | null;
  /** Default: the instance's. */
  serviceLevelSeconds?: number | null;
}

export interface OverviewIntervalRow {
  intervalStart: Date;
  intervalEnd: Date;
  localStart: string;
  metrics: ContactMetrics;
}

export interface OverviewSlice {
  channel: ReportChannel;
  /** null: the whole channel. */
  skillGroupId: string | null;
  totals: ContactMetrics;
  intervals: OverviewIntervalRow[];
}

export interface ReportOverview {
  date: string;
  timeZone: string;
  interval: OverviewInterval;
  serviceLevelSeconds: number;
  asOf: Date;
  slices: OverviewSlice[];
}


/** The instance's settings (time zone UTC and service level 20 s until configured) with the server's limits. */
export async function reportSettings(db: ReadModel, instanceId: string, limits: ReportLimits): Promise<ReportSettings> {
  const row = await db.selectFrom('report_settings').selectAll().where('instance_id', '=', instanceId).executeTakeFirst();
  return {
    timeZone: row?.time_zone ?? defaultReportSettings.timeZone,
    serviceLevelSeconds: row?.service_level_seconds ?? defaultReportSettings.serviceLevelSeconds,
    serviceLevelThresholds: [...serviceLevelThresholds],
    maxRangeDays: limits.maxRangeDays,
    maxRows: limits.maxRows,
  };
}

// ---- time zones ----------------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The offset (ms) of `timeZone` from UTC at the instant `at`. */
export function zoneOffsetMs(at: number, timeZone: string): number {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(at)).map((x) => [x.type, x.value]));
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return wall - Math.floor(at / 1000) * 1000;
}

/** The instant of local midnight starting `date` (YYYY-MM-DD) in `timeZone`. */
export function localMidnight(date: string, timeZone: string): Date {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d);
  let t = wall - zoneOffsetMs(wall, timeZone);
  t = wall - zoneOffsetMs(t, timeZone);
  return new Date(t);
}

/** Local wall time of `at` in `timeZone`, YYYY-MM-DDTHH:mm. */
export function localWallTime(at: number, timeZone: string): string {
  return new Date(at + zoneOffsetMs(at, timeZone)).toISOString().slice(0, 16);
}

const localDatePattern = /^(\d{4})-(\d{2})-(\d{2})$/;

function checkLocalDate(value: string, field: string): string {
  const m = localDatePattern.exec(value);
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== value || Number(m[1]) < 1970 || Number(m[1]) > 9999) {
    throw new ValidationError(field, 'not a date (YYYY-MM-DD)');
  }
  return value;
}

const dayMs = 86_400_000;
const nextDate = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) + dayMs).toISOString().slice(0, 10);

/** How many intervals of `interval` cover [from, to] (local dates). */
function intervalCount(interval: ReportInterval, from: string, to: string, rangeStart: Date, rangeEnd: Date): number {
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / dayMs + 1;
  switch (interval) {
    case 'HOUR':
      return Math.ceil((rangeEnd.getTime() - rangeStart.getTime()) / 3_600_000) + 1;
    case 'DAY':
      return days;
    case 'WEEK':
      return Math.ceil(days / 7) + 1;
    case 'MONTH':
      return (Number(to.slice(0, 4)) - Number(from.slice(0, 4))) * 12 + Number(to.slice(5, 7)) - Number(from.slice(5, 7)) + 1;
    case 'TOTAL':
      return 1;
  }
}

/**
 * Checks a client's input against the instance's settings and the limits; ValidationError (BAD_USER_INPUT
 * with the field) for an unknown time zone, a malformed or reversed date, a range over maxRangeDays, more
 * intervals than maxRows, a threshold not in serviceLevelThresholds.
 */
export async function resolveReportRequest(db: ReadModel, instanceId: string, input: ReportInput, limits: ReportLimits): Promise<ReportRequest> {
  const settings = await reportSettings(db, instanceId, limits);
  const timeZone = input.timeZone ? checkTimeZone(input.timeZone, 'timeZone') : settings.timeZone;
  const from = checkLocalDate(input.from, 'from');
  const to = checkLocalDate(input.to, 'to');
  if (to < from) throw new ValidationError('to', 'before from');
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / dayMs + 1;
  if (days > limits.maxRangeDays) throw new ValidationError('to', `the range is ${days} days; at most ${limits.maxRangeDays} (KEFU_REPORT_MAX_RANGE_DAYS)`);
  const rangeStart = localMidnight(from, timeZone);
  const rangeEnd = localMidnight(nextDate(to), timeZone);
  const intervals = intervalCount(input.interval, from, to, rangeStart, rangeEnd);
  if (intervals > limits.maxRows) {
    throw new ValidationError('interval', `${intervals} intervals; at most ${limits.maxRows} (KEFU_REPORT_MAX_ROWS): choose a longer interval or a shorter range`);
  }
  const serviceLevelSeconds = checkServiceLevelSeconds(input.serviceLevelSeconds ?? settings.serviceLevelSeconds, 'serviceLevelSeconds');
  return {
    instanceId,
    timeZone,
    interval: input.interval,
    from,
    to,
    rangeStart,
    rangeEnd,
    serviceLevelSeconds,
    channel: input.channel ?? null,
    direction: input.direction ?? null,
    skillGroupIds: input.skillGroupIds && input.skillGroupIds.length > 0 ? [...new Set(input.skillGroupIds)] : null,
    agentIds: input.agentIds && input.agentIds.length > 0 ? [...new Set(input.agentIds)] : null,
  };
}

// ---- metrics from sums ---------------------------------------------------------------------------------

type ContactSums = Record<ContactCounter | 'answer_wait_max_ms', number>;

const ratio = (n: number, d: number) => (d > 0 ? n / d : null);
const seconds = (msSum: number) => msSum / 1000;
const averageSeconds = (msSum: number, count: number) => (count > 0 ? msSum / count / 1000 : null);

/** Every counter at 0: copied for each sum (a copy is a few times cheaper than setting 41 keys one by one). */
const zeroContactSums = Object.freeze(Object.fromEntries([...contactCounters, 'answer_wait_max_ms'].map((c) => [c, 0])) as ContactSums);

export function emptyContactSums(): ContactSums {
  return { ...zeroContactSums };
}

function addSums(into: ContactSums, row: Partial<Record<string, unknown>>): ContactSums {
  for (const c of contactCounters) into[c] += Number(row[c] ?? 0);
  into.answer_wait_max_ms = Math.max(into.answer_wait_max_ms, Number(row.answer_wait_max_ms ?? 0));
  return into;
}

/** The figures of ContactMetrics from summed counters (README.md, "Report definitions"). */
export function contactMetrics(t: ContactSums, serviceLevelSeconds: number): ContactMetrics {
  const abandoned = t.queue_abandoned + t.ringing_abandoned;
  const met = t[`sl_${serviceLevelSeconds}` as ContactCounter] ?? 0;
  return {
    created: t.created,
    ivrEntered: t.ivr_entered,
    queued: t.queued,
    offered: t.offered,
    handled: t.handled,
    abandonedInIvr: t.ivr_abandoned,
    abandonedInQueue: t.queue_abandoned,
    abandonedRinging: t.ringing_abandoned,
    abandoned,
    rejected: t.rejected,
    transferred: t.transferred,
    answerRate: ratio(t.handled, t.queued),
    abandonRate: ratio(abandoned, t.queued),
    serviceLevelSeconds,
    serviceLevelMet: met,
    queueExits: t.queue_exits,
    serviceLevel: ratio(met, t.queue_exits),
    averageSpeedOfAnswerSeconds: averageSeconds(t.answer_wait_ms, t.answer_wait_count),
    maxSpeedOfAnswerSeconds: t.answer_wait_count > 0 ? seconds(t.answer_wait_max_ms) : null,
    averageAbandonSeconds: averageSeconds(t.abandon_wait_ms, abandoned),
    averageRingSeconds: averageSeconds(t.ring_ms, t.ring_count),
    talkSeconds: seconds(t.talk_ms),
    holdSeconds: seconds(t.hold_ms),
    afterCallWorkSeconds: seconds(t.acw_ms),
    averageTalkSeconds: averageSeconds(t.talk_ms, t.handled),
    averageHoldSeconds: averageSeconds(t.hold_ms, t.handled),
    averageAfterCallWorkSeconds: averageSeconds(t.acw_ms, t.handled),
    averageHandleSeconds: averageSeconds(t.talk_ms + t.acw_ms, t.handled),
    firstResponses: t.first_responses,
    averageFirstResponseSeconds: averageSeconds(t.first_response_ms, t.first_responses),
  };
}

/**
 * An agent's channel figures from a channel tuple at `o` in `c`: [channel, ...agentContactCounters' eight
 * sums] (agent_offered, agent_answered, agent_missed, agent_declined, talk_ms, hold_ms, acw_ms, agent_outbound).
 */
function agentChannelMetrics(c: (string | number)[], o = 0): AgentChannelMetrics {
  const offered = c[o + 1] as number;
  const answered = c[o + 2] as number;
  const talkMs = c[o + 5] as number;
  const acwMs = c[o + 7] as number;
  return {
    channel: c[o] as ReportChannel,
    offered,
    answered,
    missed: c[o + 3] as number,
    declined: c[o + 4] as number,
    answerRate: ratio(answered, offered),
    talkSeconds: seconds(talkMs),
    holdSeconds: seconds(c[o + 6] as number),
    afterCallWorkSeconds: seconds(acwMs),
    averageHandleSeconds: averageSeconds(talkMs + acwMs, answered),
    outbound: c[o + 8] as number,
  };
}

/** An agent's figures from its row (agentRows' tuple: the six time counters at 3..8) with its breaks and channels. */
function agentMetrics(d: AgentRowData, breaks: BreakTime[], channels: AgentChannelMetrics[]): AgentMetrics {
  const [, , , onlineMs, idleMs, ringingMs, onContactMs, acwMs, breakMs] = d;
  const busy = onContactMs + acwMs;
  let offered = 0;
  let answered = 0;
  for (const c of channels) {
    offered += c.offered;
    answered += c.answered;
  }
  return {
    onlineSeconds: seconds(onlineMs),
    idleSeconds: seconds(idleMs),
    ringingSeconds: seconds(ringingMs),
    onContactSeconds: seconds(onContactMs),
    afterCallWorkSeconds: seconds(acwMs),
    breakSeconds: seconds(breakMs),
    breaks,
    occupancy: ratio(busy, busy + ringingMs + idleMs),
    offered,
    answered,
    answerRate: ratio(answered, offered),
    channels,
  };
}

// ---- intervals in SQL ----------------------------------------------------------------------------------

const truncUnit: Record<'DAY' | 'WEEK' | 'MONTH', string> = { DAY: 'day', WEEK: 'week', MONTH: 'month' };

/**
 * The start and end (instants) of the interval holding a 15-minute bucket, in the request's zone. Hours are
 * found from the bucket's local minute (every real offset is a multiple of 15 minutes), so the two 01:00
 * hours of a DST fall-back night stay two hours.
 */
function intervalOf(r: ReportRequest, bucket: RawBuilder<unknown>): { start: RawBuilder<Date>; end: RawBuilder<Date> } {
  const rangeStart = sql`${r.rangeStart.toISOString()}::timestamptz`;
  const rangeEnd = sql`${r.rangeEnd.toISOString()}::timestamptz`;
  if (r.interval === 'TOTAL') return { start: sql<Date>`${rangeStart}`, end: sql<Date>`${rangeEnd}` };
  if (r.interval === 'HOUR') {
    const start = sql<Date>`(${bucket} - make_interval(mins => extract(minute from (${bucket} AT TIME ZONE ${r.timeZone}))::int))`;
    return { start: sql<Date>`greatest(${start}, ${rangeStart})`, end: sql<Date>`least(${start} + interval '1 hour', ${rangeEnd})` };
  }
  return intervalOfLocal({ ...r, interval: r.interval }, sql`${bucket} AT TIME ZONE ${r.timeZone}`);
}

/** intervalOf for days, weeks, months and the total, from a local time (timestamp without zone) in the request's zone. */
function intervalOfLocal(r: ReportRequest & { interval: 'DAY' | 'WEEK' | 'MONTH' | 'TOTAL' }, localTime: RawBuilder<unknown>): { start: RawBuilder<Date>; end: RawBuilder<Date> } {
  const rangeStart = sql`${r.rangeStart.toISOString()}::timestamptz`;
  const rangeEnd = sql`${r.rangeEnd.toISOString()}::timestamptz`;
  if (r.interval === 'TOTAL') return { start: sql<Date>`${rangeStart}`, end: sql<Date>`${rangeEnd}` };
  const unit = sql.lit(truncUnit[r.interval]);
  const local = sql`date_trunc(${unit}, ${localTime})`;
  return {
    start: sql<Date>`greatest((${local}) AT TIME ZONE ${r.timeZone}, ${rangeStart})`,
    end: sql<Date>`least((${local} + ${sql.lit(`1 ${truncUnit[r.interval]}`)}::interval) AT TIME ZONE ${r.timeZone}, ${rangeEnd})`,
  };
}

/**
 * One row (ok): whether the request may read the day totals (report-days.ts): days, weeks, months or the
 * total, in the instance's zone (the zone the day rows are counted in), where the days [from, to] hold
 * exactly the buckets of [rangeStart, rangeEnd) (checked on every bucket within two days of either end, where
 * a zone's clock change could put a bucket on the other side). Each bucket's interval is a function of its
 * local date, so the day rows then give the buckets' figures. Read in the statement that reads the rows, so
 * the check and the read see the same rows.
 */
function dayCheck(r: ReportRequest): RawBuilder<unknown> {
  if (r.interval === 'HOUR') return sql`SELECT false AS ok`;
  const rangeStart = sql`${r.rangeStart.toISOString()}::timestamptz`;
  const rangeEnd = sql`${r.rangeEnd.toISOString()}::timestamptz`;
  const near = (at: RawBuilder<unknown>) =>
    sql`SELECT generate_series(to_timestamp(floor(extract(epoch from ${at}) / 900) * 900) - interval '2 days', ${at} + interval '2 days', interval '15 minutes') AS bucket`;
  return sql`
    SELECT coalesce((SELECT s.time_zone FROM report_settings s WHERE s.instance_id = ${r.instanceId}), 'UTC') = ${r.timeZone}
      AND NOT EXISTS (SELECT 1 FROM report_day_recounts rc WHERE rc.instance_id = ${r.instanceId})
      AND NOT EXISTS (
        SELECT 1 FROM (${near(rangeStart)} UNION ALL ${near(rangeEnd)}) e
        WHERE ((e.bucket AT TIME ZONE ${r.timeZone})::date BETWEEN ${r.from}::date AND ${r.to}::date) <> (e.bucket >= ${rangeStart} AND e.bucket < ${rangeEnd})
      ) AS ok`;
}

/**
 * The start and end of the interval of a day row (`alias`.day): the range's days' intervals, computed once a
 * day (as two arrays, each an uncorrelated subquery PostgreSQL computes once) and read per row by the day's
 * index in the range, instead of a join with the days (which hashed every day row: only ~30 distinct days).
 * Only where dayCheck passes and the row's day is in [from, to].
 */
function intervalOfDay(r: ReportRequest, alias: string): { start: RawBuilder<Date>; end: RawBuilder<Date>; join: RawBuilder<unknown> } {
  const local = r.interval === 'HOUR' ? null : intervalOfLocal({ ...r, interval: r.interval }, sql`g.day`);
  const bounds = (at: RawBuilder<unknown> | undefined) =>
    sql`(SELECT array_agg(${at ?? sql`null::timestamptz`} ORDER BY g.day) FROM generate_series(${r.from}::timestamp, ${r.to}::timestamp, interval '1 day') g(day))`;
  const index = sql`(${sql.ref(`${alias}.day`)} - ${r.from}::date + 1)`;
  return { start: sql<Date>`(${bounds(local?.start)})[${index}]`, end: sql<Date>`(${bounds(local?.end)})[${index}]`, join: sql`` };
}

// Summed as float8 (exact for whole numbers below 2^53): sum(bigint) adds numerics, which is slower.
const sumsOf = (columns: readonly string[], table = '') =>
  sql.join(columns.map((c) => sql`coalesce(sum(${sql.ref(table ? `${table}.${c}` : c)}::float8), 0) AS ${sql.ref(c)}`));

// ---- cursors -------------------------------------------------------------------------------------------

function encodeReportCursor(values: string[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/** The key a report cursor stands for ([interval start ISO, ...names]); BAD_USER_INPUT on `after` otherwise. */
function decodeReportCursor(cursor: string, length: number): string[] {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // below
  }
  const ok =
    Array.isArray(decoded) &&
    decoded.length === length &&
    decoded.every((v) => typeof v === 'string' && v.length <= 100) &&
    !Number.isNaN(Date.parse(decoded[0] as string)) &&
    /^\d{4}-\d{2}-\d{2}T/.test(decoded[0] as string);
  if (!ok) throw new ValidationError('after', 'not a cursor of this report');
  return decoded as string[];
}

function checkFirst(first: number): number {
  if (!Number.isInteger(first) || first < 1 || first > 5000) throw new ValidationError('first', 'from 1 to 5000');
  return first;
}

function connection<Row>(r: ReportRequest, rows: Row[], first: number, keyOf: (row: Row) => string[]): ReportConnection<Row> {
  return pageOf(r, rows.slice(0, first).map((node) => ({ cursor: encodeReportCursor(keyOf(node)), node })), rows.length > first);
}

/** A report page: the request's frame around its edges. */
function pageOf<Row>(r: ReportRequest, edges: ReportConnection<Row>['edges'], hasNextPage: boolean): ReportConnection<Row> {
  return {
    timeZone: r.timeZone,
    interval: r.interval,
    rangeStart: r.rangeStart,
    rangeEnd: r.rangeEnd,
    serviceLevelSeconds: r.serviceLevelSeconds,
    edges,
    pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
  };
}

// ---- contact reports -----------------------------------------------------------------------------------

interface ContactGroupRow extends Partial<Record<string, unknown>> {
  interval_start: Date | string;
  interval_end: Date | string;
  channel: string;
  direction: string;
  skill_group_id: string;
}

async function contactReport(db: ReadModel, r: ReportRequest, page: ReportPage, byGroup: boolean): Promise<ReportConnection<ContactReportRow>> {
  const first = checkFirst(page.first);
  const keyLength = byGroup ? 4 : 3;
  const after = page.after ? decodeReportCursor(page.after, keyLength) : null;
  const { start, end } = intervalOf(r, sql`b.bucket`);
  const filters: RawBuilder<unknown>[] = [
    sql`b.instance_id = ${r.instanceId}`,
    sql`b.bucket >= ${r.rangeStart.toISOString()}::timestamptz`,
    sql`b.bucket < ${r.rangeEnd.toISOString()}::timestamptz`,
  ];
  if (r.channel) filters.push(sql`b.channel = ${r.channel}`);
  if (r.direction) filters.push(sql`b.direction = ${r.direction}`);
  if (r.skillGroupIds) filters.push(sql`b.skill_group_id IN (${sql.join(r.skillGroupIds)})`);
  const group = byGroup ? sql`b.skill_group_id` : sql`''`;
  const counters = sql.join(contactCounters.map((c) => sql.ref(`b.${c}`)));
  const fromBuckets = (only: RawBuilder<unknown>) => sql`
        SELECT ${start} AS interval_start, ${end} AS interval_end, b.channel, b.direction, ${group} AS skill_group_id, b.answer_wait_max_ms, ${counters}
        FROM report_group_buckets b
        WHERE ${only} AND ${sql.join(filters, sql` AND `)}`;
  // Days, weeks, months and totals in the instance's own zone read report_group_days (a row per local day)
  // where that gives the same figures (dayCheck); otherwise, and for hours, the 15-minute buckets.
  let source: RawBuilder<unknown> = fromBuckets(sql`true`);
  if (r.interval !== 'HOUR') {
    const days = intervalOfDay(r, 'b');
    // filters[0..2]: instance and buckets of the range; the rest (channel, direction, groups) apply to days alike.
    const dayFilters = filters.slice(3);
    source = sql`
      WITH day_check AS MATERIALIZED (${dayCheck(r)})
      SELECT ${days.start} AS interval_start, ${days.end} AS interval_end, b.channel, b.direction, ${group} AS skill_group_id, b.answer_wait_max_ms, ${counters}
      FROM report_group_days b ${days.join}
      WHERE (SELECT ok FROM day_check) AND b.instance_id = ${r.instanceId} AND b.day >= ${r.from}::date AND b.day <= ${r.to}::date
        ${sql.join(dayFilters.map((f) => sql` AND ${f}`), sql``)}
      UNION ALL ${fromBuckets(sql`NOT (SELECT ok FROM day_check)`)}`;
  }
  const keys = byGroup ? sql`g.interval_start, g.channel, g.direction, g.skill_group_id` : sql`g.interval_start, g.channel, g.direction`;
  const afterFilter = after
    ? byGroup
      ? sql`WHERE (${keys}) > (${after[0]}::timestamptz, ${after[1]}, ${after[2]}, ${after[3]})`
      : sql`WHERE (${keys}) > (${after[0]}::timestamptz, ${after[1]}, ${after[2]})`
    : sql``;
  const { rows } = await sql<ContactGroupRow>`
    SELECT * FROM (
      SELECT x.interval_start, max(x.interval_end) AS interval_end, x.channel, x.direction, x.skill_group_id,
        ${sumsOf(contactCounters, 'x')}, coalesce(max(x.answer_wait_max_ms), 0)::float8 AS answer_wait_max_ms
      FROM (${source}) x
      GROUP BY x.interval_start, x.channel, x.direction, x.skill_group_id
    ) g
    ${afterFilter}
    ORDER BY ${keys}
    LIMIT ${first + 1}`.execute(db);
  // Rows of several channels (and groups) share an interval start: each start's wall time (an Intl call) once.
  const wallTimes = new Map<number, string>();
  const nodes = rows.map((row): ContactReportRow => {
    const intervalStart = new Date(row.interval_start);
    let localStart = wallTimes.get(intervalStart.getTime());
    if (localStart === undefined) wallTimes.set(intervalStart.getTime(), (localStart = localWallTime(intervalStart.getTime(), r.timeZone)));
    return {
      intervalStart,
      intervalEnd: new Date(row.interval_end),
      localStart,
      channel: row.channel as ReportChannel,
      direction: row.direction as ReportDirection,
      skillGroupId: byGroup && row.skill_group_id !== '' ? row.skill_group_id : null,
      metrics: contactMetrics(addSums(emptyContactSums(), row), r.serviceLevelSeconds),
    };
  });
  return connection(r, nodes, first, (n) => {
    const key = [n.intervalStart.toISOString(), n.channel, n.direction];
    return byGroup ? [...key, n.skillGroupId ?? ''] : key;
  });
}

/** Per interval × channel × direction, ordered by (intervalStart, channel, direction). */
export async function instanceReport(db: ReadModel, request: ReportRequest, page: ReportPage): Promise<ReportConnection<ContactReportRow>> {
  return contactReport(db, request, page, false);
}

/** Per interval × channel × direction × skill group, ordered by (intervalStart, channel, direction, skillGroupId). */
export async function skillGroupReport(db: ReadModel, request: ReportRequest, page: ReportPage): Promise<ReportConnection<ContactReportRow>> {
  return contactReport(db, request, page, true);
}

// ---- agent report --------------------------------------------------------------------------------------

/**
 * The report's intervals as runs of consecutive 15-minute buckets of the range: [run_from, run_to) with the
 * interval (start, end) its buckets belong to (intervalOf, so hours and DST nights are the same as for the
 * bucket rows). An interval is one run, or more where a zone's clock goes back into it; each bucket is in one
 * run. Time stored as one row over many buckets (spans, the open state) is counted per run by its overlap,
 * exactly what splitting it into buckets and summing them per interval gives, without a row per bucket.
 */
function intervalRuns(r: ReportRequest) {
  const { start, end } = intervalOf(r, sql`b.bucket`);
  const rangeStart = sql`${r.rangeStart.toISOString()}::timestamptz`;
  const rangeEnd = sql`${r.rangeEnd.toISOString()}::timestamptz`;
  return sql`
    SELECT i.interval_start, max(i.interval_end) AS interval_end, min(i.bucket) AS run_from, max(i.bucket) + interval '15 minutes' AS run_to
    FROM (
      SELECT b.bucket, b.interval_start, b.interval_end,
        b.bucket - (row_number() OVER (PARTITION BY b.interval_start ORDER BY b.bucket)) * interval '15 minutes' AS island
      FROM (
        SELECT b.bucket, ${start} AS interval_start, ${end} AS interval_end
        FROM generate_series(to_timestamp(ceil(extract(epoch from ${rangeStart}) / 900) * 900), ${rangeEnd} - interval '1 microsecond', interval '15 minutes') b(bucket)
      ) b
    ) i
    GROUP BY i.interval_start, i.island`;
}

/**
 * How many runs a span (at most a UTC day, spanMaxMs) or the open state can touch. Hours: a day of 15-minute
 * buckets can be 96 runs at most (plus one). Days, weeks and months: a run ends where the local date changes
 * (forward at a midnight, or back where a clock goes back across one); within 24 hours of UTC, with clocks
 * moving by 2 hours at most, that is at most 4 times: 5 runs; 8 leaves room. (The open state, which can be
 * longer than a day, is joined with every run instead.)
 */
function runsPerDay(r: ReportRequest): number {
  return r.interval === 'HOUR' ? 97 : 8;
}

/** intervalRuns as one row of arrays ordered by run_from (froms, tos, starts, ends). */
function intervalRunsArray(r: ReportRequest) {
  return sql`
    SELECT array_agg(run_from ORDER BY run_from) AS froms, array_agg(run_to ORDER BY run_from) AS tos,
      array_agg(interval_start ORDER BY run_from) AS starts, array_agg(interval_end ORDER BY run_from) AS ends
    FROM (${intervalRuns(r)}) runs`;
}

/**
 * Agent time per interval × agent: report_agent_buckets (parts of buckets), report_agent_spans (whole
 * buckets) and each agent's current state from its last change up to `now` (report_agents.since), the last
 * two by their overlap with the interval runs: a report of today counts the agent idle now. `counter` limits
 * the spans and the open state to one counter (the break query). Where dayCheck passes (days, weeks, months
 * in the instance's zone), report_agent_days and report_agent_break_days stand for the buckets and spans.
 * Statements using it define the CTEs runs_array (runs) and day_check (dayCheck).
 */
/** The counter an agent's open state (report_agents `a`) runs on now: on a contact, after-call work, ringing, break, idle. */
const openStateCounter = sql`CASE
    WHEN EXISTS (SELECT 1 FROM jsonb_each_text(a.contacts) c WHERE c.value = 'connected') THEN 'on_contact_ms'
    WHEN a.wrap_up_contact_id IS NOT NULL THEN 'acw_ms'
    WHEN a.contacts <> '{}'::jsonb THEN 'ringing_ms'
    WHEN a.presence = 'BREAK' THEN 'break_ms'
    WHEN a.presence = 'AVAILABLE' THEN 'idle_ms'
  END`;

function agentTimeSource(r: ReportRequest, now: Date, counter: AgentCounter | null = null) {
  const status = openStateCounter;
  const { start, end } = intervalOf(r, sql`b.bucket`);
  const nowAt = sql`${now.toISOString()}::timestamptz`;
  const rangeStart = sql`${r.rangeStart.toISOString()}::timestamptz`;
  const rangeEnd = sql`${r.rangeEnd.toISOString()}::timestamptz`;
  // The runs as arrays ordered by run_from: width_bucket finds a row's first and last run by binary search,
  // and a constant series 0..most-1 steps between them (most: how many runs a day can touch, below). OFFSET 0
  // keeps the planner from computing width_bucket again for every step.
  const most = runsPerDay(r);
  const overlap = (from: RawBuilder<unknown>, to: RawBuilder<unknown>) => sql`(extract(epoch from (least(${to}, u.tos[x.i]) - greatest(${from}, u.froms[x.i]))) * 1000)::float8`;
  const inRuns = (rows: RawBuilder<unknown>, from: string, to: string) => sql`
    SELECT y.*, y.first_run + k AS i
    FROM (
      SELECT z.*, greatest(1, width_bucket(${sql.ref(`z.${from}`)}, u.froms)) AS first_run, width_bucket(${sql.ref(`z.${to}`)} - interval '1 microsecond', u.froms) AS last_run
      FROM (${rows}) z, runs_array u
      OFFSET 0
    ) y, generate_series(0, ${sql.lit(most - 1)}) k
    WHERE y.first_run + k <= y.last_run`;
  // Rows of (interval, agent, reason, status, ms) as the rows of counters the time query sums.
  const spread = (rows: RawBuilder<unknown>) => sql`
    SELECT x.interval_start, x.interval_end, x.agent_id, x.reason, x.ms AS online_ms,
      ${sql.join(agentCounters.filter((c) => c !== 'online_ms').map((c) => sql`CASE WHEN x.status = ${c} THEN x.ms ELSE 0 END AS ${sql.ref(c)}`))}
    FROM (${rows}) x WHERE x.ms > 0`;
  // The open states (one per agent at most, of any length) against every run.
  const open = spread(sql`
    SELECT v.interval_start, v.interval_end, o.agent_id, o.reason, o.status,
      (extract(epoch from (least(${nowAt}, v.run_to) - greatest(o.since, v.run_from))) * 1000)::float8 AS ms
    FROM (
      SELECT a.agent_id, a.since, coalesce(a.break_reason, '') AS reason, ${status} AS status
      FROM report_agents a WHERE a.instance_id = ${r.instanceId} AND a.since IS NOT NULL AND a.since < ${nowAt} AND a.since < ${rangeEnd}
    ) o
    JOIN (SELECT v.* FROM runs_array u, unnest(u.froms, u.tos, u.starts, u.ends) AS v(run_from, run_to, interval_start, interval_end)) v
      ON v.run_to > o.since AND v.run_from < ${nowAt}
    WHERE o.status IS NOT NULL ${counter ? sql`AND o.status = ${counter}` : sql``}`);
  // Spans are cut at UTC midnights (spanMaxMs): the ones overlapping the range start at most a day before it.
  const spans = spread(sql`
    SELECT u.starts[x.i] AS interval_start, u.ends[x.i] AS interval_end, x.agent_id, x.reason, x.counter AS status, ${overlap(sql`x.span_from`, sql`x.span_to`)} AS ms
    FROM runs_array u, (${inRuns(
      sql`
      SELECT s.agent_id, s.span_from, s.span_to, s.counter, s.reason FROM report_agent_spans s
      WHERE NOT (SELECT ok FROM day_check) AND s.instance_id = ${r.instanceId} AND s.span_from >= ${rangeStart} - ${sql.lit(`${spanMaxMs / 1000} seconds`)}::interval AND s.span_from < ${rangeEnd}
        AND s.span_to > ${rangeStart} ${counter ? sql`AND s.counter = ${counter}` : sql``}`,
      'span_from',
      'span_to',
    )}) x`);
  const closed = sql`
    SELECT ${start} AS interval_start, ${end} AS interval_end, b.agent_id, '' AS reason, ${sql.join(agentCounters.map((c) => sql`b.${sql.ref(c)}::float8 AS ${sql.ref(c)}`))}
    FROM report_agent_buckets b WHERE NOT (SELECT ok FROM day_check) AND b.instance_id = ${r.instanceId} AND b.bucket >= ${rangeStart} AND b.bucket < ${rangeEnd}`;
  const closedBreaks = sql`
    SELECT ${start} AS interval_start, ${end} AS interval_end, b.agent_id, b.reason, b.break_ms::float8 AS break_ms
    FROM report_agent_break_buckets b WHERE NOT (SELECT ok FROM day_check) AND b.instance_id = ${r.instanceId} AND b.bucket >= ${rangeStart} AND b.bucket < ${rangeEnd}`;
  // The same as closed, spans and closedBreaks from the day totals, where day_check passes.
  const day = intervalOfDay(r, 'd');
  const inDays = sql`(SELECT ok FROM day_check) AND d.instance_id = ${r.instanceId} AND d.day >= ${r.from}::date AND d.day <= ${r.to}::date`;
  const closedDays = sql`
    SELECT ${day.start} AS interval_start, ${day.end} AS interval_end, d.agent_id, '' AS reason, ${sql.join(agentCounters.map((c) => sql`d.${sql.ref(c)}::float8 AS ${sql.ref(c)}`))}
    FROM report_agent_days d ${day.join} WHERE ${inDays}`;
  const closedBreakDays = sql`
    SELECT ${day.start} AS interval_start, ${day.end} AS interval_end, d.agent_id, d.reason, d.break_ms::float8 AS break_ms
    FROM report_agent_break_days d ${day.join} WHERE ${inDays}`;
  return { runs: intervalRunsArray(r), dayCheck: dayCheck(r), open, spans, closed, closedBreaks, closedDays, closedBreakDays };
}

/**
 * A row of the agent report as PostgreSQL gives it (agentRows): interval start and end (epoch ms), agent,
 * the six time counters (agentCounters' order), the channels' counters ([channel, ...agentContactCounters'
 * order], PHONE, ONLINE, AV) and the breaks ([reason, ms]). agentDayRows gives each channel's figures
 * already made (agentChannelMetrics) instead of its tuple.
 */
type AgentRowData = [number, number, string, number, number, number, number, number, number, (string | number)[][] | AgentChannelMetrics[], [string, number][]];

/**
 * Per interval × agent (agents with any time or contact in the interval), ordered by (intervalStart, agentId).
 * A DAY report is read a few days at a time from the page's first day (as many days as the page needs, at
 * the instance's agent count; twice as many each time it falls short) when the zone's offset is the same
 * at every midnight of the range, so its days' bounds are the same read alone as within the whole range: a
 * month of 500 agents is 15,000 rows, and a page of them no longer computes all of them to keep a third.
 */
export async function agentReport(db: ReadModel, request: ReportRequest, page: ReportPage, now: Date = new Date()): Promise<ReportConnection<AgentReportRow>> {
  const r = request;
  const first = checkFirst(page.first);
  const after = page.after ? decodeReportCursor(page.after, 2) : null;
  const dates: string[] = [];
  for (let d = r.from; d <= r.to; d = nextDate(d)) dates.push(d);
  const offset = zoneOffsetMs(r.rangeStart.getTime(), r.timeZone);
  const steady = r.interval === 'DAY' && dates.length > 1 && [...dates.slice(1), nextDate(r.to)].every((d) => zoneOffsetMs(localMidnight(d, r.timeZone).getTime(), r.timeZone) === offset);
  if (!steady) return agentConnection(r, await agentRows(db, r, after, now, first + 1), first);
  const afterDate = after ? localWallTime(Date.parse(after[0]!), r.timeZone).slice(0, 10) : r.from;
  let from = afterDate > r.from ? afterDate : r.from;
  if (from > r.to) return agentConnection(r, [], first);
  const agents = r.agentIds?.length ?? Number((await db.selectFrom('report_agents').select((eb) => eb.fn.countAll<string>().as('n')).where('instance_id', '=', r.instanceId).executeTakeFirst())?.n ?? 0);
  let days = Math.max(1, Math.ceil((first + 1) / Math.max(1, agents)));
  const rows: AgentRowData[] = [];
  // Without a direction or skill-group filter, the days' rows as they are stored (agentDayRows).
  const plain = !r.direction && !r.skillGroupIds;
  for (;;) {
    let to = from;
    for (let i = 1; i < days && to < r.to; i++) to = nextDate(to);
    const part = { ...r, from, to, rangeStart: localMidnight(from, r.timeZone), rangeEnd: localMidnight(nextDate(to), r.timeZone) };
    const limit = first + 1 - rows.length;
    const plainRows = plain ? await agentDayRows(db, part, after, now, limit) : null;
    rows.push(...(plainRows ?? (await agentRows(db, part, after, now, limit))));
    if (rows.length > first || to >= r.to) break;
    from = nextDate(to);
    days *= 2;
  }
  return agentConnection(r, rows, first);
}

/**
 * The agent report's first `limit` rows of `r` after `after`, in order: one statement, which sums the time,
 * contact and break figures per interval × agent, joins them and gives the page as one JSON array (one parse
 * in Kefu instead of thousands of rows of numbers). Without a direction or skill-group filter, the contact
 * figures of the day rows come from report_agent_channel_days (summed per channel already).
 */
async function agentRows(db: ReadModel, r: ReportRequest, after: string[] | null, now: Date, limit: number): Promise<AgentRowData[]> {
  // Days, weeks, months and totals first from the day rows alone (and the open states): a statement a third
  // the size to plan and run; where the day rows do not serve (dayCheck), the one that reads the buckets too.
  if (r.interval !== 'HOUR') {
    const days = await agentRowsOf(db, r, after, now, limit, true);
    if (days.ok) return days.rows;
  }
  return (await agentRowsOf(db, r, after, now, limit, false)).rows;
}

/** agentRows' statement: `daysOnly`, without the 15-minute buckets and spans (ok: whether dayCheck passed, in the same statement). */
async function agentRowsOf(db: ReadModel, r: ReportRequest, after: string[] | null, now: Date, limit: number, daysOnly: boolean): Promise<{ ok: boolean; rows: AgentRowData[] }> {
  const { start, end } = intervalOf(r, sql`t.bucket`);
  const inRange = sql`t.bucket >= ${r.rangeStart.toISOString()}::timestamptz AND t.bucket < ${r.rangeEnd.toISOString()}::timestamptz`;
  const agentFilter = r.agentIds ? sql`AND t.agent_id IN (${sql.join(r.agentIds)})` : sql``;
  const channelFilter = r.channel ? sql`AND c.channel = ${r.channel}` : sql``;
  const directionFilter = r.direction ? sql`AND c.direction = ${r.direction}` : sql``;
  const groupFilter = r.skillGroupIds ? sql`AND c.skill_group_id IN (${sql.join(r.skillGroupIds)})` : sql``;
  // With a channel, direction or group filter, only agents with contacts there are listed.
  const contactFiltered = !!(r.channel || r.direction || r.skillGroupIds);

  // Time (bucket parts, spans and the open state), and contact figures by channel, each per interval × agent.
  // PostgreSQL's JIT is off on Kefu's connections (sql-client.ts): its estimate of the span rows is far above
  // the real count, and compiling these statements would cost seconds for a query of a few milliseconds.
  const time = agentTimeSource(r, now);
  const breakTime = agentTimeSource(r, now, 'break_ms');
  const day = intervalOfDay(r, 'c');
  // Only the counters an agent's channel figures use (agentChannelMetrics): a month of 500 agents is
  // thousands of rows, and reading every counter of them was most of the statement's time.
  const counters = (alias: string) => sql.join(agentContactCounters.map((c) => sql.ref(`${alias}.${c}`)));
  const contactDays =
    r.direction || r.skillGroupIds
      ? sql`
        SELECT ${day.start} AS interval_start, ${day.end} AS interval_end, c.agent_id, c.channel, ${counters('c')}
        FROM report_agent_contact_days c ${day.join}
        WHERE (SELECT ok FROM day_check) AND c.instance_id = ${r.instanceId} AND c.day >= ${r.from}::date AND c.day <= ${r.to}::date ${channelFilter} ${directionFilter} ${groupFilter}`
      : sql`
        SELECT ${day.start} AS interval_start, ${day.end} AS interval_end, c.agent_id, c.channel, ${counters('c')}
        FROM report_agent_channel_days c ${day.join}
        WHERE (SELECT ok FROM day_check) AND c.instance_id = ${r.instanceId} AND c.day >= ${r.from}::date AND c.day <= ${r.to}::date ${channelFilter}`;
  // An interval × agent is listed when it has time or (with a contact filter: only) contact rows; breaks alone add none.
  const listed = contactFiltered ? sql`bool_or(x.kind = 'c')` : sql`bool_or(x.kind <> 'b')`;
  const afterAt = after ? new Date(Date.parse(after[0]!)).toISOString() : null;
  const afterFilter = after ? sql`WHERE x.interval_start > ${afterAt}::timestamptz OR (x.interval_start = ${afterAt}::timestamptz AND x.agent_id COLLATE "C" > ${after[1]!})` : sql``;
  const ms = (at: RawBuilder<unknown>) => sql`(extract(epoch FROM ${at}) * 1000)::float8`;
  const noTime = sql.join(agentCounters.map(() => sql`null::float8`));
  // The channel counters as c_<counter> in the stream below (acw_ms is a time counter too).
  const noContacts = sql.join(agentContactCounters.map((c) => sql`null::float8 AS ${sql.ref(`c_${c}`)}`));
  // Time rows, channel rows (summed per channel) and break rows (per reason) as one stream of rows of a kind
  // (t, c, b), grouped once per interval × agent: no join of the three (a merge join of the breaks on the
  // interval alone compared each row with every break row of its day: 391,000 comparisons a page at 1M).
  const { rows } = await sql<{ page: AgentRowData[] | string | null; ok: boolean }>`
    WITH runs_array AS MATERIALIZED (${time.runs}), day_check AS MATERIALIZED (${time.dayCheck}),
    x AS (
      SELECT 't' AS kind, t.interval_start, t.interval_end, t.agent_id, ${sql.join(agentCounters.map((c) => sql`t.${sql.ref(c)}::float8 AS ${sql.ref(c)}`))}, null AS channel, ${noContacts}, null AS reason, null::float8 AS reason_ms
      FROM (${daysOnly ? sql`${time.closedDays} UNION ALL ${time.open}` : sql`${time.closed} UNION ALL ${time.spans} UNION ALL ${time.closedDays} UNION ALL ${time.open}`}) t
      WHERE true ${agentFilter}
      UNION ALL
      SELECT 'c', t.interval_start, max(t.interval_end), t.agent_id, ${noTime}, t.channel, ${sql.join(agentContactCounters.map((c) => sql`coalesce(sum(${sql.ref(`t.${c}`)}::float8), 0)`))}, null, null
      FROM (${
        daysOnly
          ? contactDays
          : sql`
        SELECT ${start} AS interval_start, ${end} AS interval_end, t.agent_id, t.channel, ${counters('t')}
        FROM (SELECT c.* FROM report_contact_buckets c WHERE NOT (SELECT ok FROM day_check) AND c.instance_id = ${r.instanceId} AND c.agent_id <> '' ${channelFilter} ${directionFilter} ${groupFilter}) t
        WHERE ${inRange}
        UNION ALL ${contactDays}`
      }) t
      WHERE true ${agentFilter}
      GROUP BY t.interval_start, t.agent_id, t.channel
      UNION ALL
      SELECT 'b', t.interval_start, null, t.agent_id, ${noTime}, null, ${noContacts}, t.reason, sum(t.break_ms)::float8
      FROM (${breakTime.closedBreakDays}
            UNION ALL SELECT o.interval_start, o.interval_end, o.agent_id, o.reason, o.break_ms FROM (${breakTime.open}) o
            ${daysOnly ? sql`` : sql`UNION ALL ${breakTime.closedBreaks} UNION ALL SELECT p.interval_start, p.interval_end, p.agent_id, p.reason, p.break_ms FROM (${breakTime.spans}) p`}) t
      WHERE true ${agentFilter}
      GROUP BY t.interval_start, t.agent_id, t.reason
    ),
    page AS (
      SELECT x.interval_start, x.agent_id, max(x.interval_end) AS interval_end,
        ${sql.join(agentCounters.map((c) => sql`coalesce(sum(x.${sql.ref(c)}) FILTER (WHERE x.kind = 't'), 0) AS ${sql.ref(c)}`))},
        coalesce(json_agg(json_build_array(x.channel, ${sql.join(agentContactCounters.map((c) => sql.ref(`x.c_${c}`)))}) ORDER BY CASE x.channel WHEN 'PHONE' THEN 0 WHEN 'ONLINE' THEN 1 ELSE 2 END)
          FILTER (WHERE x.kind = 'c' AND x.channel IN ('PHONE', 'ONLINE', 'AV')), '[]'::json) AS channels,
        coalesce(json_agg(json_build_array(x.reason, x.reason_ms)) FILTER (WHERE x.kind = 'b'), '[]'::json) AS breaks
      FROM x ${afterFilter}
      GROUP BY x.interval_start, x.agent_id
      HAVING ${listed}
      ORDER BY x.interval_start, x.agent_id COLLATE "C"
      LIMIT ${limit}
    )
    SELECT json_agg(json_build_array(${ms(sql`p.interval_start`)}, ${ms(sql`coalesce(p.interval_end, p.interval_start)`)}, p.agent_id,
      ${sql.join(agentCounters.map((c) => sql`p.${sql.ref(c)}`))}, p.channels, p.breaks)
      ORDER BY p.interval_start, p.agent_id COLLATE "C") AS page, (SELECT ok FROM day_check) AS ok
    FROM page p`.execute(db);
  const page = rows[0]?.page ?? null;
  return { ok: rows[0]?.ok === true, rows: page === null ? [] : typeof page === 'string' ? (JSON.parse(page) as AgentRowData[]) : page };
}

/** `a` before `b` (< 0), equal (0) or after, as PostgreSQL's COLLATE "C" orders them (UTF-8 bytes, that is code points). */
function compareC(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  // UTF-16 units order surrogates (code points above U+FFFF) below U+E000..U+FFFF; code points put them above.
  const fix = (c: number) => (c >= 0xe000 ? c - 0x800 : c >= 0xd800 ? c + 0x2000 : c);
  return fix(a.charCodeAt(i)) - fix(b.charCodeAt(i));
}

/**
 * agentRows for a DAY report without a direction or skill-group filter whose days each are one interval (the
 * zone's offset the same at every midnight: agentReport's steady case): the day rows of report_agent_days,
 * report_agent_channel_days and report_agent_break_days as they are stored (their primary keys' range scans,
 * unsorted, each row a few values of one flat JSON array) and the open states per day, put together per day ×
 * agent in Kefu. agentRows' statement grouped the same rows per day × agent and built each row's JSON in
 * PostgreSQL: most of its time (100k contacts: PostgreSQL CPU ~60 -> ~25 ms a page of 5,000). The rows are
 * not sorted in PostgreSQL (sorting them by day and agent was a third of its CPU for the page, 150k
 * contacts): each day's agents are put in COLLATE "C" order here from one sort of the distinct agents.
 * null where the day rows do not serve (dayCheck, or a day bound off the 15-minute grid): the caller reads
 * agentRows.
 */
async function agentDayRows(db: ReadModel, r: ReportRequest, after: string[] | null, now: Date, limit: number): Promise<AgentRowData[] | null> {
  const rangeStart = sql`${r.rangeStart.toISOString()}::timestamptz`;
  const rangeEnd = sql`${r.rangeEnd.toISOString()}::timestamptz`;
  const nowAt = sql`${now.toISOString()}::timestamptz`;
  const from = sql`${r.from}::date`;
  const inDays = (alias: string) =>
    sql`(SELECT ok FROM day_check) AND ${sql.ref(`${alias}.instance_id`)} = ${r.instanceId} AND ${sql.ref(`${alias}.day`)} >= ${from} AND ${sql.ref(`${alias}.day`)} <= ${r.to}::date ${
      r.agentIds ? sql`AND ${sql.ref(`${alias}.agent_id`)} IN (${sql.join(r.agentIds)})` : sql``
    }`;
  const ms = (at: RawBuilder<unknown>) => sql`(extract(epoch FROM ${at}) * 1000)::float8`;
  const status = openStateCounter;
  // The three tables' rows as the values of one JSON array (its text, joined here: no JSON value per row):
  // each row its day's index, agent and kind, then its figures (t: the six times, agentCounters' order; c:
  // the channel and the eight counters, agentContactCounters' order; b: the reason and its ms). An agent of
  // the instance's report_agents is sent as its number in `agents` (the list sent once), any other as its id:
  // not a string per row in Kefu.
  const figures = (alias: string, columns: readonly string[]) => sql.join(columns.map((c) => sql`${sql.ref(`${alias}.${c}`)}::float8`));
  const agentOf = sql`coalesce(g.n::text, to_json(d.agent_id)::text)`;
  const stream = sql`
    SELECT concat_ws(',', d.day - ${from}, ${agentOf}, '"t"', ${figures('d', agentCounters)}) AS j
    FROM report_agent_days d LEFT JOIN agents g ON g.agent_id = d.agent_id WHERE ${inDays('d')}
    UNION ALL
    SELECT concat_ws(',', d.day - ${from}, ${agentOf}, '"c"', to_json(d.channel), ${figures('d', agentContactCounters)})
    FROM report_agent_channel_days d LEFT JOIN agents g ON g.agent_id = d.agent_id WHERE ${inDays('d')} ${r.channel ? sql`AND d.channel = ${r.channel}` : sql``}
    UNION ALL
    SELECT concat_ws(',', d.day - ${from}, ${agentOf}, '"b"', to_json(d.reason), d.break_ms::float8)
    FROM report_agent_break_days d LEFT JOIN agents g ON g.agent_id = d.agent_id WHERE ${inDays('d')}`;
  const { rows } = await sql<{ ok: boolean; days: unknown; agents: unknown; x: string | null; o: unknown }>`
    WITH day_check AS MATERIALIZED (${dayCheck(r)}),
    agents AS MATERIALIZED (SELECT a.agent_id, (row_number() OVER () - 1)::int AS n FROM report_agents a WHERE (SELECT ok FROM day_check) AND a.instance_id = ${r.instanceId}),
    days AS MATERIALIZED (
      SELECT (g.day::date - ${from}) AS i, greatest(g.day AT TIME ZONE ${r.timeZone}, ${rangeStart}) AS day_from,
        least((g.day + interval '1 day') AT TIME ZONE ${r.timeZone}, ${rangeEnd}) AS day_to
      FROM generate_series(${r.from}::timestamp, ${r.to}::timestamp, interval '1 day') g(day)
    )
    SELECT (SELECT ok FROM day_check) AS ok,
      (SELECT json_agg(json_build_array(v.i, ${ms(sql`v.day_from`)}, ${ms(sql`v.day_to`)}) ORDER BY v.i) FROM days v) AS days,
      (SELECT json_agg(g.agent_id ORDER BY g.n) FROM agents g) AS agents,
      (SELECT string_agg(u.j, ',') FROM (${stream}) u) AS x,
      (SELECT json_agg(json_build_array(v.i, o.agent_id, o.reason, o.status,
          (extract(epoch FROM (least(${nowAt}, v.day_to) - greatest(o.since, v.day_from))) * 1000)::float8))
        FROM (
          SELECT a.agent_id, a.since, coalesce(a.break_reason, '') AS reason, ${status} AS status
          FROM report_agents a WHERE (SELECT ok FROM day_check) AND a.instance_id = ${r.instanceId} AND a.since IS NOT NULL AND a.since < ${nowAt} AND a.since < ${rangeEnd}
            ${r.agentIds ? sql`AND a.agent_id IN (${sql.join(r.agentIds)})` : sql``}
        ) o
        JOIN days v ON v.day_to > o.since AND v.day_from < ${nowAt}
        WHERE o.status IS NOT NULL AND (extract(epoch FROM (least(${nowAt}, v.day_to) - greatest(o.since, v.day_from))) * 1000)::float8 > 0) AS o`.execute(db);
  const row = rows[0];
  if (row?.ok !== true) return null;
  const json = <T>(v: unknown): T[] => (v === null || v === undefined ? [] : typeof v === 'string' ? (JSON.parse(v) as T[]) : (v as T[]));
  const days = json<[number, number, number]>(row.days);
  // The open state is counted by its overlap with the day's 15-minute buckets: the day's bounds must be on them.
  if (days.some(([, s, e]) => s % 900_000 !== 0 || e % 900_000 !== 0)) return null;
  // Each day × agent's row, found by the day's index and the agent's slot (its place among the agents seen);
  // `timed`: whether it has time (a report_agent_days row or an open state). Breaks and channels start as one
  // shared empty array, replaced by the row's own at its first.
  const none: never[] = [];
  const slots = new Map<string, number>();
  const agentIds: string[] = [];
  const grid: (AgentRowData | undefined)[][] = days.map(() => []);
  const timed: boolean[][] = days.map(() => []);
  const entry = (i: number, agentId: string): [AgentRowData, number] => {
    let slot = slots.get(agentId);
    if (slot === undefined) {
      slots.set(agentId, (slot = agentIds.length));
      agentIds.push(agentId);
    }
    const day = days[i]!;
    const e = (grid[i]![slot] ??= [day[1], day[2], agentIds[slot]!, 0, 0, 0, 0, 0, 0, none, none]);
    return [e, slot];
  };
  const x = row.x === null ? [] : (JSON.parse(`[${row.x}]`) as (string | number)[]);
  const agentList = json<string>(row.agents);
  for (let k = 0; k < x.length; ) {
    const agent = x[k + 1]!;
    const [e, slot] = entry(x[k] as number, typeof agent === 'number' ? agentList[agent]! : agent);
    const kind = x[k + 2];
    if (kind === 't') {
      for (let c = 0; c < 6; c++) e[3 + c] = x[k + 3 + c] as number;
      timed[x[k] as number]![slot] = true;
      k += 9;
    } else if (kind === 'c') {
      if (e[9] === none) e[9] = [];
      (e[9] as AgentChannelMetrics[]).push(agentChannelMetrics(x, k + 3));
      k += 12;
    } else {
      if (e[10] === none) e[10] = [];
      e[10].push([x[k + 3] as string, x[k + 4] as number]);
      k += 5;
    }
  }
  // The open states (an agent's current state up to now, per day it overlaps): into the day's row, or one of its own.
  for (const [i, agentId, reason, status, openMs] of json<[number, string, string, string, number]>(row.o)) {
    const [e, slot] = entry(i, agentId);
    timed[i]![slot] = true;
    e[3] += openMs;
    const counter = agentCounters.indexOf(status as AgentCounter);
    if (counter >= 0) (e[3 + counter] as number) += openMs;
    if (status === 'break_ms') {
      if (e[10] === none) e[10] = [];
      const b = e[10].find(([y]) => y === reason);
      if (b) b[1] += openMs;
      else e[10].push([reason, openMs]);
    }
  }
  // Each day's rows in its agents' COLLATE "C" order (one sort of the agents); listed: a row with time or
  // contacts (with a channel filter: contacts), after the cursor.
  const order = agentIds.map((_, slot) => slot).sort((a, b) => compareC(agentIds[a]!, agentIds[b]!));
  const afterAt = after ? Date.parse(after[0]!) : null;
  const contactFiltered = !!r.channel;
  const channelOrder = (c: string | number) => (c === 'PHONE' ? 0 : c === 'ONLINE' ? 1 : c === 'AV' ? 2 : 3);
  const page: AgentRowData[] = [];
  for (let i = 0; i < days.length && page.length < limit; i++) {
    const day = days[i]!;
    const dayRows = grid[i]!;
    if (dayRows.length === 0) continue;
    if (afterAt !== null && day[1] < afterAt) continue;
    for (const slot of order) {
      if (page.length >= limit) break;
      const e = dayRows[slot];
      if (e === undefined) continue;
      if (contactFiltered ? e[9].length === 0 : !timed[i]![slot] && e[9].length === 0) continue;
      if (afterAt !== null && day[1] === afterAt && compareC(e[2], after![1]!) <= 0) continue;
      let channels = e[9] as AgentChannelMetrics[];
      if (channels.some((c) => channelOrder(c.channel) === 3)) channels = e[9] = channels.filter((c) => channelOrder(c.channel) < 3);
      if (channels.length > 1) channels.sort((y, z) => channelOrder(y.channel) - channelOrder(z.channel));
      page.push(e);
    }
  }
  return page;
}

/**
 * base64url of `text` when its UTF-8 is a whole number of 3-byte groups, so that the encoding of a string
 * starting with it is this followed by the rest's own encoding; null otherwise.
 */
function base64urlHead(text: string): string | null {
  const bytes = Buffer.from(text);
  return bytes.length % 3 === 0 ? bytes.toString('base64url') : null;
}

/**
 * The page of the agent report's rows `all` (in order, after the cursor). A page is thousands of rows over a
 * few dozen intervals and at most a few hundred agents: each interval's dates, wall time and cursor head
 * (`["<start ISO>"`, base64url) and each agent's cursor tail (`,"<agent>"]`) are made once, and a row's
 * cursor is the two joined (the encoding of the whole key, encodeReportCursor's, where the head is a whole
 * number of 3-byte groups: always for a 24-character ISO date; otherwise each row's key is encoded alone).
 */
function agentConnection(r: ReportRequest, all: AgentRowData[], first: number): ReportConnection<AgentReportRow> {
  interface IntervalOf {
    start: Date;
    end: Date;
    localStart: string;
    iso: string;
    head: string | null;
  }
  const intervals = new Map<number, IntervalOf>();
  const tails = new Map<string, string>();
  const intervalOf = (start: number, end: number): IntervalOf => {
    let i = intervals.get(start);
    if (i === undefined || i.end.getTime() !== end) {
      const iso = new Date(start).toISOString();
      i = { start: new Date(start), end: new Date(end), localStart: i?.localStart ?? localWallTime(start, r.timeZone), iso, head: base64urlHead(`[${JSON.stringify(iso)}`) };
      intervals.set(start, i);
    }
    return i;
  };
  const n = Math.min(all.length, first);
  const edges: { cursor: string; node: AgentReportRow }[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const d = all[k]!;
    const [start, end, agentId, , , , , , , channelRows, breakRows] = d;
    const interval = intervalOf(start, end);
    if (breakRows.length > 1) breakRows.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    const breaks: BreakTime[] = new Array(breakRows.length);
    for (let j = 0; j < breakRows.length; j++) breaks[j] = { reason: breakRows[j]![0] === '' ? null : breakRows[j]![0], seconds: breakRows[j]![1] / 1000 };
    // agentDayRows' channels come made (a row's own array, or the shared empty one: a new one here).
    let channels: AgentChannelMetrics[];
    if (channelRows.length === 0) channels = [];
    else if (!Array.isArray(channelRows[0])) channels = channelRows as AgentChannelMetrics[];
    else {
      channels = new Array(channelRows.length);
      for (let j = 0; j < channelRows.length; j++) channels[j] = agentChannelMetrics((channelRows as (string | number)[][])[j]!);
    }
    let cursor: string;
    if (interval.head !== null) {
      let tail = tails.get(agentId);
      if (tail === undefined) tails.set(agentId, (tail = Buffer.from(`,${JSON.stringify(agentId)}]`).toString('base64url')));
      cursor = interval.head + tail;
    } else cursor = encodeReportCursor([interval.iso, agentId]);
    edges[k] = { cursor, node: { intervalStart: interval.start, intervalEnd: interval.end, localStart: interval.localStart, agentId, metrics: agentMetrics(d, breaks, channels) } };
  }
  return pageOf(r, edges, all.length > first);
}

// ---- live overview -------------------------------------------------------------------------------------

const overviewMinutes: Record<OverviewInterval, number> = { MINUTES_15: 15, MINUTES_30: 30, MINUTES_60: 60 };

/** The start of the overview interval holding a bucket: the bucket less its local minutes past an interval start. */
function overviewIntervalStart(bucket: number, minutes: number, timeZone: string): number {
  const localMinute = Math.floor((bucket + zoneOffsetMs(bucket, timeZone)) / 60_000) % 60;
  return bucket - (((localMinute % minutes) + minutes) % minutes) * 60_000;
}

/** Today so far in the instance's time zone (inbound contacts), as of `now`. */
export async function reportOverview(db: ReadModel, instanceId: string, options: OverviewOptions, limits: ReportLimits, now: Date = new Date()): Promise<ReportOverview> {
  const settings = await reportSettings(db, instanceId, limits);
  const timeZone = settings.timeZone;
  const serviceLevelSeconds = checkServiceLevelSeconds(options.serviceLevelSeconds ?? settings.serviceLevelSeconds, 'serviceLevelSeconds');
  const minutes = overviewMinutes[options.interval];
  const date = localWallTime(now.getTime(), timeZone).slice(0, 10);
  const dayStart = localMidnight(date, timeZone).getTime();
  const dayEnd = localMidnight(nextDate(date), timeZone).getTime();

  let q = db
    .selectFrom('report_group_buckets')
    .select(['bucket', 'channel', 'skill_group_id'])
    .select(() => [...contactCounters.map((c) => sql<number>`coalesce(sum(${sql.ref(c)}), 0)::float8`.as(c)), sql<number>`coalesce(max(answer_wait_max_ms), 0)::float8`.as('answer_wait_max_ms')])
    .where('instance_id', '=', instanceId)
    .where('direction', '=', 'IN')
    .where('bucket', '>=', new Date(dayStart))
    .where('bucket', '<', new Date(Math.min(dayEnd, now.getTime() + 1)));
  if (options.channel) q = q.where('channel', '=', options.channel);
  if (options.skillGroupId) q = q.where('skill_group_id', '=', options.skillGroupId);
  const rows = await q.groupBy(['bucket', 'channel', 'skill_group_id']).execute();

  // Every interval from local midnight to the one holding now.
  const starts: number[] = [];
  for (let b = dayStart; b < dayEnd && b <= now.getTime(); b += bucketMs) {
    const s = overviewIntervalStart(b, minutes, timeZone);
    if (starts.at(-1) !== s) starts.push(Math.max(s, dayStart));
  }
  const ends = starts.map((s, i) => starts[i + 1] ?? Math.min(s + minutes * 60_000, dayEnd));

  interface SliceAcc {
    channel: ReportChannel;
    skillGroupId: string | null;
    totals: ContactSums;
    intervals: Map<number, ContactSums>;
  }
  const slices = new Map<string, SliceAcc>();
  const sliceOf = (channel: ReportChannel, skillGroupId: string | null): SliceAcc => {
    const key = `${channel}|${skillGroupId ?? ''}`;
    let s = slices.get(key);
    if (!s) {
      s = { channel, skillGroupId, totals: emptyContactSums(), intervals: new Map() };
      slices.set(key, s);
    }
    return s;
  };
  const channels: ReportChannel[] = options.channel ? [options.channel] : ['PHONE', 'ONLINE', 'AV'];
  if (!options.skillGroupId) for (const c of channels) sliceOf(c, null);
  else {
    const group = await db.selectFrom('skill_groups').select(['channel']).where('instance_id', '=', instanceId).where('id', '=', options.skillGroupId).executeTakeFirst();
    if (group && channels.includes(group.channel as ReportChannel)) sliceOf(group.channel as ReportChannel, options.skillGroupId);
  }
  for (const row of rows) {
    const bucket = new Date(row.bucket).getTime();
    const start = Math.max(overviewIntervalStart(bucket, minutes, timeZone), dayStart);
    const targets = [sliceOf(row.channel as ReportChannel, row.skill_group_id === '' ? null : row.skill_group_id)];
    if (!options.skillGroupId && row.skill_group_id !== '') targets.push(sliceOf(row.channel as ReportChannel, null));
    for (const s of targets) {
      addSums(s.totals, row);
      s.intervals.set(start, addSums(s.intervals.get(start) ?? emptyContactSums(), row));
    }
  }
  const channelOrder: ReportChannel[] = ['PHONE', 'ONLINE', 'AV'];
  const ordered = [...slices.values()].sort(
    (a, b) => channelOrder.indexOf(a.channel) - channelOrder.indexOf(b.channel) || (a.skillGroupId ?? '').localeCompare(b.skillGroupId ?? ''),
  );
  return {
    date,
    timeZone,
    interval: options.interval,
    serviceLevelSeconds,
    asOf: now,
    slices: ordered.map((s) => ({
      channel: s.channel,
      skillGroupId: s.skillGroupId,
      totals: contactMetrics(s.totals, serviceLevelSeconds),
      intervals: starts.map((start, i) => ({
        intervalStart: new Date(start),
        intervalEnd: new Date(ends[i]!),
        localStart: localWallTime(start, timeZone),
        metrics: contactMetrics(s.intervals.get(start) ?? emptyContactSums(), serviceLevelSeconds),
      })),
    })),
  };
}
