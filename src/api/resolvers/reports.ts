// Reports (issue 15): the live overview of today (RP-1) as a query and a subscription, the historical
// contact and agent reports (RP-2), and the instance's report settings. The figures are the report
// projection's (src/projections/reports); this file checks the caller and the input and calls the query
// functions the CSV exports use too. Agents see only their own numbers (agentReport for themselves);
// supervisors, admins and API keys their instance's.
import { z } from 'zod';
import { ForbiddenError, ValidationError } from '../../domain/errors.ts';
import { instanceDecider } from '../../domain/instance/instance.decide.ts';
import { streams } from '../../domain/streams.ts';
import { recountStatus } from '../../projections/reports/report-days.ts';
import { reportsTopic } from '../../projections/reports/reports.projection.ts';
import {
  agentReport,
  instanceReport,
  reportOverview,
  reportSettings,
  resolveReportRequest,
  skillGroupReport,
  type ReportInput,
  type ReportLimits,
  type ReportRequest,
} from '../../projections/reports/report-queries.ts';
import { isSupervisor, requireAdmin, requireInstance, type InstancePrincipal } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { liveSubscription } from '../live-fanout.ts';
import { id, parseInput } from '../input.ts';
import type { LiveView } from '../snapshot-then-changes.ts';
import { subscribeTopicFromSnapshot } from '../subscribe-topic.ts';
import { toAgent } from './agents.ts';
import { toSkillGroup } from './skill-groups.ts';

/** KEFU_REPORT_MAX_RANGE_DAYS and KEFU_REPORT_MAX_ROWS when the API is built without them. */
export const defaultReportLimits: ReportLimits = { maxRangeDays: 366, maxRows: 2000 };

const limitsOf = (ctx: KefuContext): ReportLimits => ctx.deps.reportLimits ?? defaultReportLimits;

const channel = z.enum(['PHONE', 'ONLINE', 'AV']);
const direction = z.enum(['IN', 'OUT']);
const overviewInterval = z.enum(['MINUTES_15', 'MINUTES_30', 'MINUTES_60']);
const seconds = z.number().int('must be a whole number');

/** What reportInput may hold: the one definition for the queries (and the CSV exports' query strings). */
export const reportInputSchema = z.object({
  from: z.string().max(10, 'YYYY-MM-DD'),
  to: z.string().max(10, 'YYYY-MM-DD'),
  interval: z.enum(['HOUR', 'DAY', 'WEEK', 'MONTH', 'TOTAL']),
  timeZone: z.string().max(64, 'at most 64 characters').nullish(),
  serviceLevelSeconds: seconds.nullish(),
  channel: channel.nullish(),
  direction: direction.nullish(),
  skillGroupIds: z.array(id).max(200, 'at most 200').nullish(),
  agentIds: z.array(id).max(1000, 'at most 1000').nullish(),
});

/** The overview's arguments: the one definition for the query, the subscription and the CSV export. */
export const overviewArgs = z.object({
  interval: overviewInterval.nullish(),
  channel: channel.nullish(),
  skillGroupId: id.nullish(),
  serviceLevelSeconds: seconds.nullish(),
});

const pageArgs = z.object({ first: z.number().int('must be a whole number').min(1, 'from 1 to 5000').max(5000, 'from 1 to 5000').nullish(), after: z.string().max(400).nullish() });

/** The contact reports and the overview: supervisors, admins and API keys. */
export function requireReportReader(p: InstancePrincipal): void {
  if (!isSupervisor(p) && p.kind !== 'apiKey') throw new ForbiddenError('Only supervisors, admins and integrations read contact reports; agents read their own agentReport');
}

/** The viewer's own agent id when they may see only their own numbers. */
export function onlyAgent(p: InstancePrincipal): string | null {
  return p.kind === 'agent' && !isSupervisor(p) ? p.agentId : null;
}

/** A ValidationError of the report input named as the client wrote it (input.<field>). */
function asInputError<T>(work: Promise<T>, prefix: string): Promise<T> {
  return work.catch((err: unknown) => {
    if (err instanceof ValidationError && !err.field.startsWith(`${prefix}.`)) throw new ValidationError(`${prefix}.${err.field}`, err.problem);
    throw err;
  });
}

async function requestOf(ctx: KefuContext, p: InstancePrincipal, args: { input: unknown }): Promise<ReportRequest> {
  const input = parseInput(reportInputSchema, args.input) as ReportInput;
  const own = onlyAgent(p);
  if (own) input.agentIds = [own];
  return asInputError(resolveReportRequest(ctx.deps.db, p.instanceId, input, limitsOf(ctx)), 'input');
}

function pageOf(args: unknown) {
  const { first, after } = parseInput(pageArgs, { first: (args as { first?: unknown }).first, after: (args as { after?: unknown }).after }, '');
  return { first: first ?? 500, after: after ?? null };
}

async function overview(ctx: KefuContext, p: InstancePrincipal, args: unknown) {
  const a = parseInput(overviewArgs, args, '');
  return reportOverview(
    ctx.deps.db,
    p.instanceId,
    { interval: a.interval ?? 'MINUTES_60', channel: a.channel ?? null, skillGroupId: a.skillGroupId ?? null, serviceLevelSeconds: a.serviceLevelSeconds ?? null },
    limitsOf(ctx),
    ctx.deps.clock(),
  );
}

/** The overview is computed afresh for each change message (the message says only that something changed). */
const recomputedView = (): LiveView<unknown> => ({ read: async () => [{ snapshot: true }], admit: () => true });

async function skillGroupNamed(ctx: KefuContext, instanceId: string, skillGroupId: string | null) {
  if (!skillGroupId) return null;
  const row = await ctx.deps.db.selectFrom('skill_groups').selectAll().where('instance_id', '=', instanceId).where('id', '=', skillGroupId).executeTakeFirst();
  return row ? toSkillGroup(row) : null;
}

export const reportResolvers = {
  Query: {
    async reportSettings(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      return reportSettings(ctx.deps.db, p.instanceId, limitsOf(ctx));
    },
    async reportRecount(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      requireReportReader(p);
      return recountStatus(ctx.deps.db as never, p.instanceId);
    },
    async reportOverview(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      requireReportReader(p);
      return { ...(await overview(ctx, p, args)), instanceId: p.instanceId };
    },
    async instanceReport(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      requireReportReader(p);
      const page = pageOf(args);
      return withInstance(await instanceReport(ctx.deps.db, await requestOf(ctx, p, args), page), p.instanceId);
    },
    async skillGroupReport(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      requireReportReader(p);
      const page = pageOf(args);
      return withInstance(await skillGroupReport(ctx.deps.db, await requestOf(ctx, p, args), page), p.instanceId);
    },
    async agentReport(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const page = pageOf(args);
      return withInstance(await agentReport(ctx.deps.db, await requestOf(ctx, p, args), page, ctx.deps.clock()), p.instanceId);
    },
  },
  Mutation: {
    async configureReports(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(z.object({ timeZone: z.string().max(64, 'at most 64 characters').nullish(), serviceLevelSeconds: seconds.nullish() }), args.input);
      const result = await inInput(
        ctx.deps.commands.handle(streams.instance(p.instanceId), instanceDecider, {
          type: 'ConfigureReports',
          data: {
            ...(input.timeZone != null ? { timeZone: input.timeZone } : {}),
            ...(input.serviceLevelSeconds != null ? { serviceLevelSeconds: input.serviceLevelSeconds } : {}),
          },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      await settle(ctx, result.position, ['reports'], p.instanceId);
      return reportSettings(ctx.deps.db, p.instanceId, limitsOf(ctx));
    },
  },
  Subscription: {
    reportOverviewChanged: {
      subscribe: liveSubscription(
        (_: unknown, args: unknown, ctx: KefuContext) =>
          subscribeTopicFromSnapshot(
            ctx,
            (p) => {
              requireReportReader(p);
              parseInput(overviewArgs, args, '');
              return reportsTopic(p.instanceId);
            },
            recomputedView,
          ),
        () => true,
      ),
      async resolve(_: unknown, args: unknown, ctx: KefuContext) {
        const p = ctx.principal as InstancePrincipal;
        return { ...(await overview(ctx, p, args)), instanceId: p.instanceId };
      },
    },
  },
  OverviewSlice: {
    skillGroup: (s: { skillGroupId: string | null; instanceId: string }, _: unknown, ctx: KefuContext) => skillGroupNamed(ctx, s.instanceId, s.skillGroupId),
  },
  ReportOverview: {
    slices: (o: { slices: object[]; instanceId: string }) => o.slices.map((s) => ({ ...s, instanceId: o.instanceId })),
  },
  ContactReportRow: {
    skillGroup: (r: { skillGroupId: string | null; instanceId: string }, _: unknown, ctx: KefuContext) => skillGroupNamed(ctx, r.instanceId, r.skillGroupId),
  },
  AgentReportRow: {
    async agent(r: { agentId: string; instanceId: string }, _: unknown, ctx: KefuContext) {
      const row = await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', r.instanceId).where('id', '=', r.agentId).where('deleted_at', 'is', null).executeTakeFirst();
      return row ? toAgent(row) : null;
    },
  },
};

/** Rows carry their instance for the skillGroup and agent fields. */
function withInstance<C extends { edges: { cursor: string; node: object }[] }>(c: C, instanceId: string): C {
  return { ...c, edges: c.edges.map((e) => ({ ...e, node: { ...e.node, instanceId } })) };
}
