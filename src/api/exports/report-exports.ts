// CSV exports of the reports (issue 15, RP-1 and RP-2), read with the same query functions and checks as the
// GraphQL reports (src/projections/reports/report-queries.ts: resolveReportRequest checks the time zone,
// dates, range and row limits and the threshold), page by page through the reports' cursors.
//
//   /exports/instance-report.csv     instanceReport: per interval × channel × direction
//   /exports/skill-group-report.csv  skillGroupReport: … × skill group
//   /exports/agent-report.csv        agentReport: per interval × agent (an agent gets only their own rows)
//     from, to (local dates YYYY-MM-DD, inclusive), interval (HOUR DAY WEEK MONTH TOTAL), timeZone (default
//     the instance's), serviceLevelSeconds, channel, direction, skillGroupIds, agentIds (ids separated by
//     commas): GraphQL ReportInput's fields, read with its own definition (reportInputSchema)
//   /exports/overview.csv            reportOverview: today so far, per slice × interval
//     interval (MINUTES_15 MINUTES_30 MINUTES_60, default 60), channel, skillGroupId, serviceLevelSeconds
//
// One row per report row; rates as fractions (0.95), durations in seconds; a rate is empty when its
// denominator is 0. Each row states its interval as instants in the report's zone with their offset and
// as local wall time. Agents may export only agent-report (their own rows).
import { ForbiddenError } from '../../domain/errors.ts';
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
import type { InstancePrincipal } from '../auth.ts';
import type { ApiDeps } from '../context.ts';
import { defaultReportLimits, onlyAgent, overviewArgs, reportInputSchema, requireReportReader } from '../resolvers/reports.ts';
import { timeIn, type CsvColumn, type CsvValue } from './csv-export.ts';
import { filterFromQuery, type CsvExport, type ExportContext, type OpenedExport } from './export-definition.ts';
import { RecordNames } from './record-exports.ts';

/** The limits the GraphQL reports use: KEFU_REPORT_MAX_RANGE_DAYS, KEFU_REPORT_MAX_ROWS. */
export function reportLimitsOf(deps: ApiDeps): ReportLimits {
  return deps.reportLimits ?? defaultReportLimits;
}

/** Report rows per query: the report functions take up to 5000. */
const reportPageSize = 1000;

function requireReportViewer(p: InstancePrincipal, name: string): void {
  try {
    requireReportReader(p);
  } catch (err) {
    if (err instanceof ForbiddenError) throw new ForbiddenError(`${err.message}: ${name} is not exported to agents`);
    throw err;
  }
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

/** The report's parameters, read with reportInput's own definition and checked by resolveReportRequest. */
async function reportInput(ctx: ExportContext): Promise<ReportRequest> {
  const input = filterFromQuery(reportInputSchema, ctx.query) as ReportInput;
  // An agent sees only themselves, whatever agentIds says.
  const own = onlyAgent(ctx.principal);
  if (own) input.agentIds = [own];
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
    const q = filterFromQuery(overviewArgs, ctx.query);
    const interval = q.interval ?? 'MINUTES_60';
    const overview = await reportOverview(ctx.db, ctx.principal.instanceId, { interval, channel: q.channel ?? null, skillGroupId: q.skillGroupId ?? null, serviceLevelSeconds: q.serviceLevelSeconds ?? null }, ctx.reportLimits);
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
      filename: `overview_${overview.date}_${interval.toLowerCase()}`,
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
