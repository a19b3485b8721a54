// CSV exports of the reports (issue 15, RP-1 and RP-2), read with the same query functions and checks as the
// GraphQL reports (src/projections/reports/report-queries.ts: resolveReportRequest checks the time zone,
// dates, range and row limits and the threshold), page by page through the reports' cursors.
//
//   /exports/instance-report.csv     instanceReport: per interval × channel × direction
//   /exports/skill-group-report.csv  skillGroupReport: … × skill group
//   /exports/agent-report.csv        agentReport: per interval × agent (an agent gets only their own rows)
//     from, to (local dates YYYY-MM-DD, inclusive), interval (HOUR DAY WEEK MONTH TOTAL), timeZone (default
//     the instance's), serviceLevelSeconds, channel, direction, skillGroupIds, agentIds (comma-separated ids)
//   /exports/overview.csv            reportOverview: today so far, per slice × interval
//     interval (MINUTES_15 MINUTES_30 MINUTES_60, default 60), channel, skillGroupId, serviceLevelSeconds
//
// One row per report row; rates as fractions (0.95), durations in seconds; a rate is empty when its
// denominator is 0. Each row states its interval as instants in the report's zone with their offset and
// as local wall time. Agents may export only agent-report (their own rows).
import { z } from 'zod';
import { ForbiddenError, ValidationError } from '../../domain/errors.ts';
import type { ReadModel } from '../../projections/projection.ts';
import {
  agentReport,
  instanceReport,
  reportOverview,
  resolveReportRequest,
  skillGroupReport,
  type AgentReportRow,
  type ContactMetrics,
  type ContactReportRow,
  type ReportConnection,
  type ReportInput,
  type ReportLimits,
  type ReportRequest,
} from '../../projections/reports/report-queries.ts';
import { isSupervisor, type InstancePrincipal } from '../auth.ts';
import type { ApiDeps } from '../context.ts';
import { id, parseInput } from '../input.ts';
import { timeIn, type CsvColumn, type CsvValue } from './csv-export.ts';
import type { CsvExport, ExportContext, OpenedExport } from './export-definition.ts';
import { RecordNames } from './record-exports.ts';

/** The limits the GraphQL reports use (KEFU_REPORT_MAX_RANGE_DAYS, KEFU_REPORT_MAX_ROWS), or these defaults. */
export const defaultReportLimits: ReportLimits = { maxRangeDays: 400, maxRows: 10_000 };

export function reportLimitsOf(deps: ApiDeps): ReportLimits {
  return (deps as ApiDeps & { reportLimits?: ReportLimits }).reportLimits ?? defaultReportLimits;
}

/** Report rows per query: the report functions take up to 5000. */
const reportPageSize = 1000;

const idList = (field: string) =>
  z
    .string()
    .max(40_000, 'too many ids')
    .transform((s, ctx) => {
      const ids = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
      for (const one of ids) {
        if (!id.safeParse(one).success) {
          ctx.addIssue({ code: 'custom', message: `${one.slice(0, 40)} is not a valid id (give ids separated by commas)`, path: [] });
          return z.NEVER;
        }
      }
      if (ids.length > 1000) {
        ctx.addIssue({ code: 'custom', message: `at most 1000 ${field}` });
        return z.NEVER;
      }
      return ids;
    });

const wholeSeconds = z
  .string()
  .regex(/^\d{1,6}$/, 'a whole number of seconds')
  .transform(Number);

/** A report's query parameters as the GraphQL ReportInput holds them; resolveReportRequest checks the rest. */
const reportQuery = z
  .object({
    from: z.string({ message: 'required: the first local date, YYYY-MM-DD' }).max(10, 'not a date (YYYY-MM-DD)'),
    to: z.string({ message: 'required: the last local date, YYYY-MM-DD' }).max(10, 'not a date (YYYY-MM-DD)'),
    interval: z.enum(['HOUR', 'DAY', 'WEEK', 'MONTH', 'TOTAL'], { message: 'one of HOUR, DAY, WEEK, MONTH, TOTAL' }),
    timeZone: z.string().max(64, 'not an IANA time zone (e.g. Asia/Shanghai)').optional(),
    serviceLevelSeconds: wholeSeconds.optional(),
    channel: z.enum(['PHONE', 'ONLINE', 'AV'], { message: 'one of PHONE, ONLINE, AV' }).optional(),
    direction: z.enum(['IN', 'OUT'], { message: 'one of IN, OUT' }).optional(),
    skillGroupIds: idList('skill groups').optional(),
    agentIds: idList('agents').optional(),
    access_token: z.string().optional(),
  })
  .strict();

const overviewQuery = z
  .object({
    interval: z.enum(['MINUTES_15', 'MINUTES_30', 'MINUTES_60'], { message: 'one of MINUTES_15, MINUTES_30, MINUTES_60' }).default('MINUTES_60'),
    channel: z.enum(['PHONE', 'ONLINE', 'AV'], { message: 'one of PHONE, ONLINE, AV' }).optional(),
    skillGroupId: id.optional(),
    serviceLevelSeconds: wholeSeconds.optional(),
    access_token: z.string().optional(),
  })
  .strict();

/** Query parameters checked by `schema`: each given once, none unknown (BAD_USER_INPUT naming the parameter). */
function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, unknown>): z.infer<S> {
  for (const [key, value] of Object.entries(query)) if (typeof value !== 'string') throw new ValidationError(key, 'give it once');
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw new ValidationError(issue.keys[0]!, 'not a parameter of this export');
  return parseInput(schema, query, '');
}

function requireReportViewer(p: InstancePrincipal, name: string): void {
  if (p.kind === 'agent' && !isSupervisor(p)) throw new ForbiddenError(`Agents may export only their own agent report; ${name} is for supervisors, admins and API keys`);
}

/** Every row of a report, page after page through its cursors (the first page also gives the connection's zone). */
async function reportPages<Row>(read: (after: string | null) => Promise<ReportConnection<Row>>): Promise<{ first: ReportConnection<Row>; pages: AsyncIterable<Row[]> }> {
  const first = await read(null);
  async function* pages() {
    let page = first;
    for (;;) {
      if (page.edges.length > 0) yield page.edges.map((e) => e.node);
      if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return;
      page = await read(page.pageInfo.endCursor);
    }
  }
  return { first, pages: pages() };
}

const round = (v: number | null, digits: number): CsvValue => (v === null ? null : Number(v.toFixed(digits)));
const secondsCell = (v: number | null) => round(v, 3);
const rateCell = (v: number | null) => round(v, 6);

const contactMetricColumns: [keyof ContactMetrics, 'count' | 'rate' | 'seconds'][] = [
  ['created', 'count'],
  ['ivrEntered', 'count'],
  ['queued', 'count'],
  ['offered', 'count'],
  ['handled', 'count'],
  ['abandonedInIvr', 'count'],
  ['abandonedInQueue', 'count'],
  ['abandonedRinging', 'count'],
  ['abandoned', 'count'],
  ['rejected', 'count'],
  ['transferred', 'count'],
  ['answerRate', 'rate'],
  ['abandonRate', 'rate'],
  ['serviceLevelSeconds', 'count'],
  ['serviceLevelMet', 'count'],
  ['queueExits', 'count'],
  ['serviceLevel', 'rate'],
  ['averageSpeedOfAnswerSeconds', 'seconds'],
  ['maxSpeedOfAnswerSeconds', 'seconds'],
  ['averageAbandonSeconds', 'seconds'],
  ['averageRingSeconds', 'seconds'],
  ['talkSeconds', 'seconds'],
  ['holdSeconds', 'seconds'],
  ['afterCallWorkSeconds', 'seconds'],
  ['averageTalkSeconds', 'seconds'],
  ['averageHoldSeconds', 'seconds'],
  ['averageAfterCallWorkSeconds', 'seconds'],
  ['averageHandleSeconds', 'seconds'],
  ['firstResponses', 'count'],
  ['averageFirstResponseSeconds', 'seconds'],
];

function metricsColumns<R>(metricsOf: (row: R) => ContactMetrics): CsvColumn<R>[] {
  return contactMetricColumns.map(([field, kind]) => ({
    header: field,
    value: (row: R) => {
      const v = metricsOf(row)[field];
      return kind === 'rate' ? rateCell(v) : kind === 'seconds' ? secondsCell(v) : v;
    },
  }));
}

type Time = (at: Date | string | null) => string | null;

function intervalColumns<R extends { intervalStart: Date; intervalEnd: Date; localStart: string }>(time: Time, timeZone: string): CsvColumn<R>[] {
  return [
    { header: 'intervalStart', value: (r) => time(r.intervalStart) },
    { header: 'intervalEnd', value: (r) => time(r.intervalEnd) },
    { header: 'localStart', value: (r) => r.localStart },
    { header: 'timeZone', value: () => timeZone },
  ];
}

async function reportInput(ctx: ExportContext): Promise<ReportRequest> {
  const q = parseQuery(reportQuery, ctx.query);
  const input: ReportInput = {
    from: q.from,
    to: q.to,
    interval: q.interval,
    timeZone: q.timeZone ?? null,
    serviceLevelSeconds: q.serviceLevelSeconds ?? null,
    channel: q.channel ?? null,
    direction: q.direction ?? null,
    skillGroupIds: q.skillGroupIds ?? null,
    agentIds: q.agentIds ?? null,
  };
  return resolveReportRequest(ctx.db, ctx.principal.instanceId, input, ctx.reportLimits);
}

const fileName = (name: string, r: ReportRequest) => `${name}_${r.from}_${r.to}_${r.interval.toLowerCase()}`;

function contactReportExport(name: string, read: typeof instanceReport, byGroup: boolean): CsvExport {
  return {
    name,
    async open(ctx) {
      requireReportViewer(ctx.principal, name);
      const request = await reportInput(ctx);
      const { first, pages } = await reportPages((after) => read(ctx.db, request, { first: reportPageSize, after }));
      const names = new RecordNames(ctx.db, ctx.principal.instanceId);
      const columns: CsvColumn<ContactReportRow>[] = [
        ...intervalColumns<ContactReportRow>(timeIn(first.timeZone), first.timeZone),
        { header: 'channel', value: (r) => r.channel },
        { header: 'direction', value: (r) => r.direction },
        ...(byGroup
          ? [
              { header: 'skillGroupId', value: (r: ContactReportRow) => r.skillGroupId },
              { header: 'skillGroup', value: (r: ContactReportRow) => names.group(r.skillGroupId) },
            ]
          : []),
        ...metricsColumns<ContactReportRow>((r) => r.metrics),
      ];
      const opened: OpenedExport<ContactReportRow> = {
        pages,
        columns,
        prepare: byGroup ? (rows) => names.load([], rows.map((r) => r.skillGroupId)) : undefined,
        timeZone: first.timeZone,
        filename: fileName(name, request),
      };
      return opened as unknown as OpenedExport<never>;
    },
  };
}

const channels = ['PHONE', 'ONLINE', 'AV'] as const;
const channelFields = ['offered', 'answered', 'missed', 'declined', 'answerRate', 'talkSeconds', 'holdSeconds', 'afterCallWorkSeconds', 'averageHandleSeconds', 'outbound'] as const;

/** The instance's break reasons as configured now: one column each (reasons no longer configured go under breakOtherSeconds). */
async function breakReasonsOf(db: ReadModel, instanceId: string): Promise<string[]> {
  const row = await db.selectFrom('instances').select('break_reasons').where('id', '=', instanceId).executeTakeFirst();
  return (row?.break_reasons as string[] | undefined) ?? [];
}

export const agentReportExport: CsvExport = {
  name: 'agent-report',
  async open(ctx) {
    const p = ctx.principal;
    const request = await reportInput(ctx);
    // An agent sees only themselves, whatever agentIds says.
    if (p.kind === 'agent' && !isSupervisor(p)) request.agentIds = [p.agentId];
    const { first, pages } = await reportPages((after) => agentReport(ctx.db, request, { first: reportPageSize, after }));
    const names = new RecordNames(ctx.db, p.instanceId);
    const reasons = await breakReasonsOf(ctx.db, p.instanceId);
    const breakSeconds = (r: AgentReportRow, reason: string | null) => r.metrics.breaks.filter((b) => (b.reason ?? '') === (reason ?? '')).reduce((s, b) => s + b.seconds, 0);
    const columns: CsvColumn<AgentReportRow>[] = [
      ...intervalColumns<AgentReportRow>(timeIn(first.timeZone), first.timeZone),
      { header: 'agentId', value: (r) => r.agentId },
      { header: 'agent', value: (r) => names.agent(r.agentId) },
      { header: 'onlineSeconds', value: (r) => secondsCell(r.metrics.onlineSeconds) },
      { header: 'idleSeconds', value: (r) => secondsCell(r.metrics.idleSeconds) },
      { header: 'ringingSeconds', value: (r) => secondsCell(r.metrics.ringingSeconds) },
      { header: 'onContactSeconds', value: (r) => secondsCell(r.metrics.onContactSeconds) },
      { header: 'afterCallWorkSeconds', value: (r) => secondsCell(r.metrics.afterCallWorkSeconds) },
      { header: 'breakSeconds', value: (r) => secondsCell(r.metrics.breakSeconds) },
      ...reasons.map((reason) => ({ header: `break: ${reason}`, value: (r: AgentReportRow) => secondsCell(breakSeconds(r, reason)) })),
      { header: 'breakNoReasonSeconds', value: (r) => secondsCell(breakSeconds(r, null)) },
      {
        header: 'breakOtherSeconds',
        value: (r) => secondsCell(r.metrics.breaks.filter((b) => b.reason !== null && b.reason !== '' && !reasons.includes(b.reason)).reduce((s, b) => s + b.seconds, 0)),
      },
      { header: 'occupancy', value: (r) => rateCell(r.metrics.occupancy) },
      { header: 'offered', value: (r) => r.metrics.offered },
      { header: 'answered', value: (r) => r.metrics.answered },
      { header: 'answerRate', value: (r) => rateCell(r.metrics.answerRate) },
      ...channels.flatMap((channel) =>
        channelFields.map((field) => ({
          header: `${channel.toLowerCase()}${field[0]!.toUpperCase()}${field.slice(1)}`,
          value: (r: AgentReportRow) => {
            const c = r.metrics.channels.find((x) => x.channel === channel);
            if (!c) return field === 'answerRate' || field === 'averageHandleSeconds' ? null : 0;
            const v = c[field];
            return field === 'answerRate' ? rateCell(v) : field.endsWith('Seconds') ? secondsCell(v) : v;
          },
        })),
      ),
    ];
    const opened: OpenedExport<AgentReportRow> = {
      pages,
      columns,
      prepare: (rows) => names.load(rows.map((r) => r.agentId), []),
      timeZone: first.timeZone,
      filename: fileName('agent-report', request),
    };
    return opened as unknown as OpenedExport<never>;
  },
};

interface OverviewCsvRow {
  channel: string;
  skillGroupId: string | null;
  intervalStart: Date;
  intervalEnd: Date;
  localStart: string;
  metrics: ContactMetrics;
}

export const overviewExport: CsvExport = {
  name: 'overview',
  async open(ctx) {
    requireReportViewer(ctx.principal, 'overview');
    const q = parseQuery(overviewQuery, ctx.query);
    const overview = await reportOverview(ctx.db, ctx.principal.instanceId, { interval: q.interval, channel: q.channel ?? null, skillGroupId: q.skillGroupId ?? null, serviceLevelSeconds: q.serviceLevelSeconds ?? null }, ctx.reportLimits);
    const names = new RecordNames(ctx.db, ctx.principal.instanceId);
    // Today is at most 96 intervals per slice: one page.
    const rows: OverviewCsvRow[] = overview.slices.flatMap((s) => s.intervals.map((i) => ({ channel: s.channel, skillGroupId: s.skillGroupId, ...i })));
    async function* pages() {
      if (rows.length > 0) yield rows;
    }
    const opened: OpenedExport<OverviewCsvRow> = {
      pages: pages(),
      columns: [
        ...intervalColumns<OverviewCsvRow>(timeIn(overview.timeZone), overview.timeZone),
        { header: 'channel', value: (r) => r.channel },
        { header: 'skillGroupId', value: (r) => r.skillGroupId },
        { header: 'skillGroup', value: (r) => (r.skillGroupId === null ? '(all)' : names.group(r.skillGroupId)) },
        ...metricsColumns<OverviewCsvRow>((r) => r.metrics),
      ],
      prepare: (page) => names.load([], page.map((r) => r.skillGroupId)),
      timeZone: overview.timeZone,
      filename: `overview_${overview.date}_${q.interval.toLowerCase()}`,
    };
    return opened as unknown as OpenedExport<never>;
  },
};

export const reportExports: CsvExport[] = [
  contactReportExport('instance-report', instanceReport, false),
  contactReportExport('skill-group-report', skillGroupReport, true),
  agentReportExport,
  overviewExport,
];
