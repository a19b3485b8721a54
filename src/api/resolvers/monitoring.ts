// Live views of queues: every skill group's agents online and free, queue length and longest wait (RP-3),
// and a waiting contact's place in its queue with an estimated wait.
import { sql } from 'kysely';
import { z } from 'zod';
import { ForbiddenError, NotFoundError } from '../../domain/errors.ts';
import { queuesTopic, type ContactRow } from '../../projections/contacts/contacts.projection.ts';
import { isSupervisor, requireInstance, type InstancePrincipal } from '../auth.ts';
import type { KefuContext } from '../context.ts';
import { subscribeTopicFromSnapshot } from '../subscribe-topic.ts';
import { liveSubscription } from '../live-fanout.ts';
import type { LiveView } from '../snapshot-then-changes.ts';
import { id, parseInput } from '../input.ts';
import { toSkillGroup } from './skill-groups.ts';


function requireMonitor(p: InstancePrincipal): void {
  if (!isSupervisor(p) && p.kind !== 'apiKey') throw new ForbiddenError('Only supervisors, admins and integrations see queue monitors');
}

export async function skillGroupStatuses(ctx: KefuContext, instanceId: string, skillGroupId: string | null) {
  const now = ctx.deps.clock();
  let groupsQuery = ctx.deps.db.selectFrom('skill_groups').selectAll().where('instance_id', '=', instanceId).where('deleted_at', 'is', null);
  if (skillGroupId) groupsQuery = groupsQuery.where('id', '=', skillGroupId);
  const groups = await groupsQuery.orderBy('name').orderBy('id').execute();
  if (groups.length === 0) return [];
  const ids = groups.map((g) => g.id);
  const members = await ctx.deps.db
    .selectFrom('skill_group_members as m')
    .innerJoin('agents as a', (j) => j.onRef('a.id', '=', 'm.agent_id').onRef('a.instance_id', '=', 'm.instance_id'))
    .select(['m.skill_group_id', 'a.presence', 'a.held_phone', 'a.held_online', 'a.held_av', 'a.wrap_up_until'])
    .where('m.instance_id', '=', instanceId)
    .where('m.skill_group_id', 'in', ids)
    .where('a.deleted_at', 'is', null)
    .execute();
  const queues = await ctx.deps.db
    .selectFrom('contacts')
    .select(['skill_group_id', (eb) => eb.fn.countAll<string>().as('n'), (eb) => eb.fn.min('queued_at').as('oldest')])
    .where('instance_id', '=', instanceId)
    .where('skill_group_id', 'in', ids)
    .where('status', '=', 'QUEUED')
    .groupBy('skill_group_id')
    .execute();
  return groups.map((g) => {
    const mine = members.filter((m) => m.skill_group_id === g.id);
    const free = mine.filter((m) => {
      if (m.presence !== 'AVAILABLE' || (m.wrap_up_until && new Date(m.wrap_up_until) > now)) return false;
      return g.channel === 'ONLINE' ? m.held_online < g.max_concurrency : m.held_phone + m.held_av === 0;
    });
    const queue = queues.find((q) => q.skill_group_id === g.id);
    const oldest = queue?.oldest ? new Date(queue.oldest as Date | string) : null;
    return {
      skillGroup: toSkillGroup(g),
      agentsOnline: mine.filter((m) => m.presence === 'AVAILABLE' || m.presence === 'BREAK').length,
      agentsFree: free.length,
      queueLength: Number(queue?.n ?? 0),
      longestWaitSeconds: oldest ? Math.max(0, Math.floor((now.getTime() - oldest.getTime()) / 1000)) : 0,
    };
  });
}

/** The average time agents of a group took with a contact over the last day; 60 s with no history yet. */
async function averageHandleSeconds(ctx: KefuContext, instanceId: string, skillGroupId: string): Promise<number> {
  const since = new Date(ctx.deps.clock().getTime() - 86_400_000);
  const r = await ctx.deps.db
    .selectFrom('contacts')
    .select(sql<number | null>`avg(extract(epoch from (ended_at - connected_at)))`.as('seconds'))
    .where('instance_id', '=', instanceId)
    .where('skill_group_id', '=', skillGroupId)
    .where('connected_at', 'is not', null)
    .where('ended_at', '>=', since)
    .executeTakeFirst();
  const seconds = Number(r?.seconds ?? 0);
  return seconds > 0 ? seconds : 60;
}

/** The 1-based place of a waiting contact in its queue (priority, then queued_at, then id), or null when not waiting. */
export async function queuePlace(ctx: KefuContext, row: ContactRow): Promise<number | null> {
  if (row.status !== 'QUEUED' || !row.skill_group_id || !row.queued_at) return null;
  const ahead = await ctx.deps.db
    .selectFrom('contacts')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('instance_id', '=', row.instance_id)
    .where('skill_group_id', '=', row.skill_group_id)
    .where('status', '=', 'QUEUED')
    .where((eb) =>
      eb.or([
        eb('priority', '>', row.priority),
        eb.and([eb('priority', '=', row.priority), eb('queued_at', '<', row.queued_at!)]),
        eb.and([eb('priority', '=', row.priority), eb('queued_at', '=', row.queued_at!), eb('id', '<', row.id)]),
      ]),
    )
    .executeTakeFirstOrThrow();
  return Number(ahead.n) + 1;
}

export async function queuePosition(ctx: KefuContext, p: InstancePrincipal, contactId: string) {
  const row = await ctx.deps.db.selectFrom('contacts').selectAll().where('instance_id', '=', p.instanceId).where('id', '=', contactId).executeTakeFirst();
  if (!row) throw new NotFoundError('Contact', contactId);
  const position = await queuePlace(ctx, row);
  if (position === null || !row.skill_group_id) {
    return { contactId, position: null, estimatedWaitSeconds: null, status: row.status };
  }
  const [status] = await skillGroupStatuses(ctx, p.instanceId, row.skill_group_id);
  const handle = await averageHandleSeconds(ctx, p.instanceId, row.skill_group_id);
  const serving = Math.max(1, status?.agentsOnline ?? 0);
  return { contactId, position, estimatedWaitSeconds: Math.round(Math.ceil(position / serving) * handle), status: row.status };
}

/**
 * The monitors are computed afresh from the read models for each message (the message only says that
 * something changed), so their current state is one message at the start; a change racing it computes the
 * same view again, which is what the subscriber has anyway.
 */
const recomputedView = (): LiveView<unknown> => ({ read: async () => [{ snapshot: true }], admit: () => true });

export const monitoringResolvers = {
  Query: {
    async skillGroupMonitor(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      requireMonitor(p);
      const { skillGroupId } = parseInput(z.object({ skillGroupId: id.nullish() }), args, '');
      return skillGroupStatuses(ctx, p.instanceId, skillGroupId ?? null);
    },
    async queuePosition(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      requireMonitor(p);
      const { contactId } = parseInput(z.object({ contactId: id }), args, '');
      return queuePosition(ctx, p, contactId);
    },
  },
  Subscription: {
    skillGroupMonitorChanged: {
      subscribe: liveSubscription(
        (_: unknown, args: { skillGroupId?: string | null }, ctx: KefuContext) =>
          subscribeTopicFromSnapshot(
            ctx,
            (p) => {
              requireMonitor(p);
              parseInput(z.object({ skillGroupId: id.nullish() }), args, '');
              return queuesTopic(p.instanceId);
            },
            recomputedView,
          ),
        () => true,
      ),
      resolve: (_: unknown, args: { skillGroupId?: string | null }, ctx: KefuContext) =>
        skillGroupStatuses(ctx, (ctx.principal as InstancePrincipal).instanceId, args.skillGroupId ?? null),
    },
    queuePositionChanged: {
      subscribe: liveSubscription(
        (_: unknown, args: { contactId: string }, ctx: KefuContext) =>
          subscribeTopicFromSnapshot(
            ctx,
            (p) => {
              requireMonitor(p);
              parseInput(z.object({ contactId: id }), args, '');
              return queuesTopic(p.instanceId);
            },
            recomputedView,
          ),
        () => true,
      ),
      resolve: (_: unknown, args: { contactId: string }, ctx: KefuContext) => queuePosition(ctx, ctx.principal as InstancePrincipal, args.contactId),
    },
  },
};
