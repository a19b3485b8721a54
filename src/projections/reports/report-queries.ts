// Reading the reports (RP-1 live overview, RP-2 historical reports): plain functions over the report
// projection's 15-minute UTC buckets, used by the GraphQL resolvers and the CSV exports alike.
// Definitions of every figure: ./DEFINITIONS.md. Callers pass a request already checked by
// resolveReportRequest (time zone, dates, range and row limits, threshold); the viewer's scope (an agent
// sees only their own rows) is the caller's: pass agentIds = [the agent].
import type { ReadModel } from '../projection.ts';

/** Thresholds (seconds) the projection keeps "left the queue within X" counts for: service level X is one of them. */
export const serviceLevelThresholds = [5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 240, 300, 600] as const;
export type ServiceLevelThreshold = (typeof serviceLevelThresholds)[number];

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
  throw new Error('reports: not implemented yet');
}

/**
 * Checks a client's input against the instance's settings and the limits; ValidationError (BAD_USER_INPUT
 * with the field) for an unknown time zone, a malformed or reversed date, a range over maxRangeDays, more
 * intervals than maxRows, a threshold not in serviceLevelThresholds.
 */
export async function resolveReportRequest(db: ReadModel, instanceId: string, input: ReportInput, limits: ReportLimits): Promise<ReportRequest> {
  throw new Error('reports: not implemented yet');
}

/** Per interval × channel × direction, ordered by (intervalStart, channel, direction). */
export async function instanceReport(db: ReadModel, request: ReportRequest, page: ReportPage): Promise<ReportConnection<ContactReportRow>> {
  throw new Error('reports: not implemented yet');
}

/** Per interval × channel × direction × skill group, ordered by (intervalStart, channel, direction, skillGroupId). */
export async function skillGroupReport(db: ReadModel, request: ReportRequest, page: ReportPage): Promise<ReportConnection<ContactReportRow>> {
  throw new Error('reports: not implemented yet');
}

/** Per interval × agent (agents with any time or contact in the interval), ordered by (intervalStart, agentId). */
export async function agentReport(db: ReadModel, request: ReportRequest, page: ReportPage): Promise<ReportConnection<AgentReportRow>> {
  throw new Error('reports: not implemented yet');
}

/** Today so far in the instance's time zone (inbound contacts), as of `now`. */
export async function reportOverview(db: ReadModel, instanceId: string, options: OverviewOptions, limits: ReportLimits, now?: Date): Promise<ReportOverview> {
  throw new Error('reports: not implemented yet');
}
