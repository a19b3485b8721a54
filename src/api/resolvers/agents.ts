import { randomUUID } from 'node:crypto';
import { sql, type ExpressionBuilder, type Selectable } from 'kysely';
import { z } from 'zod';
import { agentDecider, type AgentCommand } from '../../domain/agent/agent.decide.ts';
import { instanceDecider } from '../../domain/instance/instance.decide.ts';
import { skillGroupDecider } from '../../domain/skill-group/skill-group.decide.ts';
import { ForbiddenError, NotFoundError, UnauthenticatedError, ValidationError } from '../../domain/errors.ts';
import type { Position } from '../../domain/ports/event-store.ts';
import { streams } from '../../domain/streams.ts';
import { instanceBreakReasons } from '../break-reasons.ts';
import { agentStatusTopic, committedAgentRow, toAgentStatusMessage, type AgentStatusMessage } from '../../projections/agents/agents.projection.ts';
import { onlineSecondsToday } from '../../projections/agents/online-time.ts';
import type { ReadModelDb } from '../../projections/read-model-db.ts';
import { isSupervisor, requireAdmin, requireInstance, requireSupervisor, type InstancePrincipal } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { subscribeTopicFromSnapshot } from '../subscribe-topic.ts';
import { liveSubscription } from '../live-fanout.ts';
import { newerThanSnapshot, unlessAlreadySent } from '../snapshot-then-changes.ts';
import { dummySecretHash, hashSecret, verifySecret } from '../credentials.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { id, login, name, parseInput, password, phone, reason, searchText, text } from '../input.ts';
import { loadInstance } from './instances.ts';


type AgentRow = Selectable<ReadModelDb['agents']>;
type AgentLike = Omit<AgentRow, 'password_hash' | 'status_since' | 'online_since' | 'created_at' | 'updated_at' | 'deleted_at' | 'wrap_up_until'> & {
  wrap_up_until: Date | string | null;
  status_since: Date | string;
  online_since: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
};

export function toAgent(row: AgentLike) {
  return {
    id: row.id,
    instanceId: row.instance_id,
    name: row.name,
    login: row.login,
    phone: row.phone,
    role: row.role,
    presence: row.presence,
    breakReason: row.break_reason,
    forcedOfflineReason: row.forced_offline_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toAgentStatus(row: AgentLike, now: Date) {
  const since = new Date(row.status_since);
  return {
    agent: toAgent(row),
    presence: row.presence,
    reason: row.presence === 'FORCED_OFFLINE' ? row.forced_offline_reason : row.break_reason,
    since,
    secondsInState: Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000)),
    workload: { phone: row.held_phone, online: row.held_online, av: row.held_av },
    wrapUpUntil: row.wrap_up_until && new Date(row.wrap_up_until) > now ? row.wrap_up_until : null,
    contactsHandledToday: row.handled_day === now.toISOString().slice(0, 10) ? row.handled_today : 0,
    onlineSecondsToday: onlineSecondsToday(
      {
        onlineSince: row.online_since ? new Date(row.online_since) : null,
        onlineDay: row.online_day,
        secondsAccumulated: row.online_seconds_accumulated,
      },
      now,
    ),
  };
}

export async function loadAgentRow(ctx: KefuContext, instanceId: string, agentId: string): Promise<AgentRow> {
  const row = await ctx.deps.db
    .selectFrom('agents')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('id', '=', agentId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('Agent', agentId);
  return row;
}

async function agentCommand(ctx: KefuContext, instanceId: string, command: AgentCommand): Promise<Position | null> {
  const result = await inInput(ctx.deps.commands.handle(streams.agent(instanceId, command.data.agentId), agentDecider, command));
  return result.position;
}

async function agentAfter(ctx: KefuContext, instanceId: string, agentId: string, position: Position | null) {
  await settle(ctx, position, ['agents']);
  // The agent's tokens are checked against the new row (role) from now on (other processes: within KEFU_AUTH_CACHE_MS).
  ctx.deps.auth.forgetAgent(instanceId, agentId);
  // The row this process's agents projection committed with the change, when it has it: no read back (on PGlite
  // that read ran on the main thread in the middle of the change's fan-out to its subscribers).
  const kept = position ? committedAgentRow(instanceId, agentId, position) : undefined;
  if (kept?.deleted_at) throw new NotFoundError('Agent', agentId);
  const row = kept ?? (await loadAgentRow(ctx, instanceId, agentId));
  // Read after the change: the token check keeps it (the agent's next presence change needs no read before its append).
  ctx.deps.auth.rememberAgent(instanceId, agentId, row);
  return toAgent(row);
}

const roleInput = z.enum(['AGENT', 'SUPERVISOR', 'ADMIN']);
const createAgentInput = z.object({ name, login, password, phone: phone.nullish(), role: roleInput.nullish() });
const updateAgentInput = z.object({
  id,
  name: name.nullish(),
  login: login.nullish(),
  password: password.nullish(),
  phone: phone.nullish(),
  role: roleInput.nullish(),
});
const loginAgentInput = z.object({ instanceId: id, login: text({ max: 64, trim: false }), password: text({ max: 200, trim: false }) });
const setPresenceInput = z.object({ presence: z.enum(['AVAILABLE', 'BREAK', 'OFFLINE']), reason: reason.nullish(), agentId: id.nullish() });
const forceOfflineInput = z.object({ agentId: id, reason });
const restoreInput = z.object({ agentId: id });
const agentsArgs = z.object({
  first: z.number().int().min(0, 'must not be negative').max(200, 'at most 200').nullish(),
  after: z.string().max(500).nullish(),
  filter: z
    .object({
      presence: z.enum(['AVAILABLE', 'BREAK', 'OFFLINE', 'FORCED_OFFLINE']).nullish(),
      role: roleInput.nullish(),
      skillGroupId: id.nullish(),
      search: searchText.nullish(),
    })
    .nullish(),
});

/** A where-clause on `agents`: the agent is a member of the skill group. */
function memberOf(instanceId: string, skillGroupId: string) {
  return (eb: ExpressionBuilder<ReadModelDb, 'agents'>) =>
    eb.exists(
      eb
        .selectFrom('skill_group_members as m')
        .select('m.agent_id')
        .whereRef('m.agent_id', '=', 'agents.id')
        .where('m.instance_id', '=', instanceId)
        .where('m.skill_group_id', '=', skillGroupId),
    );
}

/** The agent a presence command is about: the caller, or another agent for supervisors and admins. */
function presenceTarget(p: InstancePrincipal, agentId: string | null | undefined): string {
  if (agentId && !(p.kind === 'agent' && p.agentId === agentId)) {
    if (!isSupervisor(p)) throw new ForbiddenError("Only a supervisor or admin may set another agent's presence");
    return agentId;
  }
  if (p.kind !== 'agent') throw new ValidationError('input.agentId', 'an API key has no presence of its own; name the agent');
  return p.agentId;
}

export const agentResolvers = {
  Query: {
    async agents(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const args = parseInput(agentsArgs, rawArgs, '');
      const first = args.first ?? 50;
      const f = args.filter ?? {};
      let q = ctx.deps.db.selectFrom('agents').where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null);
      if (f.presence) q = q.where('presence', '=', f.presence);
      if (f.role) q = q.where('role', '=', f.role);
      if (f.search) {
        const pattern = `%${f.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        q = q.where((eb) => eb.or([eb('name', 'ilike', pattern), eb('login', 'ilike', pattern)]));
      }
      if (f.skillGroupId) q = q.where(memberOf(p.instanceId, f.skillGroupId));
      const total = await q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      let page = q.selectAll();
      if (args.after) {
        const [createdAt, afterId] = decodeCursor(args.after);
        page = page.where(sql<boolean>`(created_at, id) > (${createdAt}::timestamptz, ${afterId})`);
      }
      const rows = await page.orderBy('created_at').orderBy('id').limit(first + 1).execute();
      const edges = rows.slice(0, first).map((row) => ({ cursor: encodeCursor(row), node: toAgent(row) }));
      return {
        edges,
        pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null },
        totalCount: Number(total.n),
      };
    },
    async agent(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const { id: agentId } = parseInput(z.object({ id }), args, '');
      return toAgent(await loadAgentRow(ctx, p.instanceId, agentId));
    },
    async agentMonitor(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const { skillGroupId } = parseInput(z.object({ skillGroupId: id.nullish() }), args, '');
      let q = ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null);
      if (!isSupervisor(p)) {
        if (p.kind !== 'agent') throw new ForbiddenError('Only supervisors and admins see the agent monitor');
        q = q.where('id', '=', p.agentId);
      }
      if (skillGroupId) q = q.where(memberOf(p.instanceId, skillGroupId));
      const now = ctx.deps.clock();
      const rows = await q.orderBy('name').orderBy('id').execute();
      return rows.map((row) => toAgentStatus(row, now));
    },
  },
  Mutation: {
    async createAgent(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createAgentInput, args.input);
      const agentId = randomUUID();
      const meta = commandMetadata(ctx, p.instanceId);
      // The instance holds seats and logins, so that neither limit can be beaten by concurrent requests.
      await ctx.deps.commands.handle(streams.instance(p.instanceId), instanceDecider, {
        type: 'AssignAgentSeat',
        data: { agentId, login: input.login },
        metadata: meta,
      });
      let position: Position | null;
      try {
        position = await agentCommand(ctx, p.instanceId, {
          type: 'CreateAgent',
          data: {
            agentId,
            name: input.name,
            login: input.login,
            passwordHash: await hashSecret(input.password),
            phone: input.phone ?? null,
            role: input.role ?? 'AGENT',
          },
          metadata: meta,
        });
      } catch (err) {
        await ctx.deps.commands.handle(streams.instance(p.instanceId), instanceDecider, { type: 'ReleaseAgentSeat', data: { agentId }, metadata: meta });
        throw err;
      }
      return agentAfter(ctx, p.instanceId, agentId, position);
    },
    async updateAgent(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(updateAgentInput, args.input);
      const meta = commandMetadata(ctx, p.instanceId);
      await loadAgentRow(ctx, p.instanceId, input.id);
      if (input.login) {
        await ctx.deps.commands.handle(streams.instance(p.instanceId), instanceDecider, {
          type: 'ChangeAgentLogin',
          data: { agentId: input.id, login: input.login },
          metadata: meta,
        });
      }
      let position = await agentCommand(ctx, p.instanceId, {
        type: 'UpdateAgent',
        data: {
          agentId: input.id,
          ...(input.name != null && { name: input.name }),
          ...(input.login != null && { login: input.login }),
          ...(input.phone !== undefined && { phone: input.phone }),
          ...(input.role != null && { role: input.role }),
        },
        metadata: meta,
      });
      if (input.password) {
        position =
          (await agentCommand(ctx, p.instanceId, {
            type: 'ChangeAgentPassword',
            data: { agentId: input.id, passwordHash: await hashSecret(input.password) },
            metadata: meta,
          })) ?? position;
      }
      return agentAfter(ctx, p.instanceId, input.id, position);
    },
    async deleteAgent(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { id: agentId } = parseInput(z.object({ id }), args.input);
      const meta = commandMetadata(ctx, p.instanceId);
      const position = await agentCommand(ctx, p.instanceId, { type: 'DeleteAgent', data: { agentId }, metadata: meta });
      await ctx.deps.commands.handle(streams.instance(p.instanceId), instanceDecider, { type: 'ReleaseAgentSeat', data: { agentId }, metadata: meta });
      const memberships = await ctx.deps.db
        .selectFrom('skill_group_members')
        .select('skill_group_id')
        .where('instance_id', '=', p.instanceId)
        .where('agent_id', '=', agentId)
        .execute();
      let last = position;
      for (const m of memberships) {
        const r = await ctx.deps.commands.handle(streams.skillGroup(p.instanceId, m.skill_group_id), skillGroupDecider, {
          type: 'RemoveSkillGroupMember',
          data: { skillGroupId: m.skill_group_id, agentId },
          metadata: meta,
        });
        last = r.position ?? last;
      }
      await settle(ctx, last);
      ctx.deps.auth.forgetAgent(p.instanceId, agentId);
      return { id: agentId };
    },
    async loginAgent(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const input = parseInput(loginAgentInput, args.input);
      const loginKey = `login:${input.instanceId}:${input.login.toLowerCase()}`;
      const ipKey = `ip:${ctx.clientIp}`;
      ctx.deps.loginThrottle.check([loginKey, ipKey]);
      const row = await ctx.deps.db
        .selectFrom('agents')
        .selectAll()
        .where('instance_id', '=', input.instanceId)
        .where(sql<boolean>`lower(login) = ${input.login.toLowerCase()}`)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      const ok = await verifySecret(input.password, row?.password_hash ?? (await dummySecretHash()));
      if (!row || !ok) {
        ctx.deps.loginThrottle.fail([loginKey, ipKey]);
        throw new UnauthenticatedError('Wrong instance, login or password');
      }
      ctx.deps.loginThrottle.succeed(loginKey);
      const { token, expiresAt } = await ctx.deps.auth.issueAgentToken(row.instance_id, row.id);
      return { token, expiresAt, agent: toAgent(row) };
    },
    async setPresence(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(setPresenceInput, args.input);
      const agentId = presenceTarget(p, input.agentId);
      // The instance's break reasons check a break's reason only: no read for any other presence.
      // From memory while the instance is unchanged (InstanceBreakReasons); no such instance: loadInstance's NotFound.
      const breakReasons = input.presence === 'BREAK' && input.reason != null ? ((await instanceBreakReasons(ctx.deps.db, ctx.deps.bus).get(p.instanceId)) ?? (await loadInstance(ctx, p.instanceId)).breakReasons) : [];
      const position = await agentCommand(ctx, p.instanceId, {
        type: 'SetPresence',
        data: { agentId, presence: input.presence, reason: input.presence === 'BREAK' ? (input.reason ?? null) : null, breakReasons },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return agentAfter(ctx, p.instanceId, agentId, position);
    },
    async forceAgentOffline(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireSupervisor(ctx.principal);
      const input = parseInput(forceOfflineInput, args.input);
      const position = await agentCommand(ctx, p.instanceId, {
        type: 'ForceAgentOffline',
        data: { agentId: input.agentId, reason: input.reason },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return agentAfter(ctx, p.instanceId, input.agentId, position);
    },
    async restoreAgent(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireSupervisor(ctx.principal);
      const input = parseInput(restoreInput, args.input);
      const position = await agentCommand(ctx, p.instanceId, {
        type: 'RestoreAgent',
        data: { agentId: input.agentId },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return agentAfter(ctx, p.instanceId, input.agentId, position);
    },
  },
  Subscription: {
    agentStatusChanged: {
      subscribe: liveSubscription(
        (_: unknown, args: { agentId?: string | null }, ctx: KefuContext) =>
          subscribeTopicFromSnapshot(
            ctx,
            (p) => {
              parseInput(z.object({ agentId: id.nullish() }), args, '');
              if (!isSupervisor(p) && (p.kind !== 'agent' || (args.agentId && args.agentId !== p.agentId))) {
                throw new ForbiddenError("Only supervisors and admins follow other agents' status");
              }
              return agentStatusTopic(p.instanceId);
            },
            (p) => ({
              // Each agent followed, as it is now; then each change.
              async read() {
                const one = args.agentId ?? (isSupervisor(p) ? null : (p as { agentId: string }).agentId);
                let q = ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null);
                if (one) q = q.where('id', '=', one);
                return (await q.orderBy('id').execute()).map(toAgentStatusMessage);
              },
              admit: unlessAlreadySent<AgentStatusMessage>((m) => m.id),
              notInSnapshot: newerThanSnapshot<AgentStatusMessage>((m) => m.id),
            }),
          ),
        (payload: AgentStatusMessage, args: { agentId?: string | null }, ctx: KefuContext) => {
          const p = ctx.principal as InstancePrincipal;
          if (!isSupervisor(p) && p.kind === 'agent' && payload.id !== p.agentId) return false;
          return !args.agentId || payload.id === args.agentId;
        },
      ),
      resolve: (payload: AgentStatusMessage, _: unknown, ctx: KefuContext) => toAgentStatus(payload, ctx.deps.clock()),
    },
  },
  Agent: {
    async skillGroups(agent: { id: string; instanceId: string }, _: unknown, ctx: KefuContext) {
      const rows = await ctx.deps.db
        .selectFrom('skill_group_members as m')
        .innerJoin('skill_groups as g', (j) => j.onRef('g.id', '=', 'm.skill_group_id').onRef('g.instance_id', '=', 'm.instance_id'))
        .selectAll('g')
        .select('m.level')
        .where('m.instance_id', '=', agent.instanceId)
        .where('m.agent_id', '=', agent.id)
        .where('g.deleted_at', 'is', null)
        .orderBy('g.name')
        .execute();
      const { toSkillGroup } = await import('./skill-groups.ts');
      return rows.map((r) => ({ level: r.level, skillGroup: toSkillGroup(r) }));
    },
  },
  AgentPrincipal: {
    async agent(parent: { instanceId: string; agentId: string }, _: unknown, ctx: KefuContext) {
      return toAgent(await loadAgentRow(ctx, parent.instanceId, parent.agentId));
    },
  },
};
