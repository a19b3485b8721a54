import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { agentDeviceLostOptions, routingStrategies } from '../../domain/skill-group/skill-group.ts';
import { skillGroupDecider, type SkillGroupCommand } from '../../domain/skill-group/skill-group.decide.ts';
import { streams } from '../../domain/streams.ts';
import type { ReadModelDb } from '../../projections/read-model-db.ts';
import { requireAdmin, requireInstance } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { id, name, parseInput } from '../input.ts';
import { loadAgentRow, toAgent } from './agents.ts';

type SkillGroupRow = Selectable<ReadModelDb['skill_groups']>;

export function toSkillGroup(row: SkillGroupRow) {
  return {
    id: row.id,
    instanceId: row.instance_id,
    name: row.name,
    channel: row.channel,
    strategy: row.strategy,
    maxConcurrency: row.max_concurrency,
    ringTimeoutSeconds: row.ring_timeout_seconds,
    wrapUpSeconds: row.wrap_up_seconds,
    autoAccept: row.auto_accept,
    lastAgentFirstSeconds: row.last_agent_first_seconds,
    maxQueueLength: row.max_queue_length,
    maxWaitSeconds: row.max_wait_seconds,
    overflowSkillGroupId: row.overflow_skill_group_id,
    whenNoAgentOnline: row.when_no_agent_online,
    breakAfterMissedOffer: row.break_after_missed_offer,
    chatIdleEndSeconds: row.chat_idle_end_seconds,
    onAgentDeviceLost: row.on_agent_device_lost,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

async function loadSkillGroup(ctx: KefuContext, instanceId: string, skillGroupId: string) {
  const row = await ctx.deps.db
    .selectFrom('skill_groups')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where('id', '=', skillGroupId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('Skill group', skillGroupId);
  return toSkillGroup(row);
}

async function skillGroupCommand(ctx: KefuContext, instanceId: string, command: SkillGroupCommand) {
  const result = await inInput(
    ctx.deps.commands.handle(streams.skillGroup(instanceId, command.data.skillGroupId), skillGroupDecider, command),
  );
  await settle(ctx, result.position, ['skillGroups']);
  return result;
}

const strategy = z.enum(routingStrategies);
const seconds = (max: number) => z.number().int().min(0, 'must not be negative').max(max, `at most ${max}`);
const concurrency = z.number().int().min(1, 'at least 1').max(50, 'at most 50');
const routingOptions = {
  autoAccept: z.boolean().nullish(),
  lastAgentFirstSeconds: seconds(3600).nullish(),
  maxQueueLength: z.number().int().min(0, 'must not be negative').max(100_000, 'at most 100000').nullish(),
  maxWaitSeconds: seconds(86_400).nullish(),
  overflowSkillGroupId: id.nullish(),
  whenNoAgentOnline: z.enum(['WAIT', 'REJECT']).nullish(),
  breakAfterMissedOffer: z.boolean().nullish(),
  chatIdleEndSeconds: seconds(86_400).nullish(),
  onAgentDeviceLost: z.enum(agentDeviceLostOptions).nullish(),
};
const createInput = z.object({
  name,
  channel: z.enum(['PHONE', 'ONLINE', 'AV']),
  strategy: strategy.nullish(),
  maxConcurrency: concurrency.nullish(),
  ringTimeoutSeconds: seconds(600).min(5, 'at least 5').nullish(),
  wrapUpSeconds: seconds(3600).nullish(),
  ...routingOptions,
});
const updateInput = z.object({
  id,
  name: name.nullish(),
  strategy: strategy.nullish(),
  maxConcurrency: concurrency.nullish(),
  ringTimeoutSeconds: seconds(600).min(5, 'at least 5').nullish(),
  wrapUpSeconds: seconds(3600).nullish(),
  ...routingOptions,
});
const memberInput = z.object({ skillGroupId: id, agentId: id, level: z.number().int().min(1, 'at least 1').max(10, 'at most 10').nullish() });
const removeMemberInput = z.object({ skillGroupId: id, agentId: id });

function definedOptions(input: { [K in keyof typeof routingOptions]?: unknown }) {
  return Object.fromEntries(Object.keys(routingOptions).flatMap((k) => {
    const v = (input as Record<string, unknown>)[k];
    return v === null || v === undefined ? [] : [[k, v]];
  }));
}

/** The overflow target must be a skill group of the caller's instance. */
async function loadSkillGroupOrField(ctx: KefuContext, instanceId: string, skillGroupId: string) {
  try {
    return await loadSkillGroup(ctx, instanceId, skillGroupId);
  } catch (err) {
    if (err instanceof NotFoundError) throw new ValidationError('input.overflowSkillGroupId', 'no such skill group');
    throw err;
  }
}

export const skillGroupResolvers = {
  Query: {
    async skillGroups(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const { channel } = parseInput(z.object({ channel: z.enum(['PHONE', 'ONLINE', 'AV']).nullish() }), args, '');
      let q = ctx.deps.db.selectFrom('skill_groups').selectAll().where('instance_id', '=', p.instanceId).where('deleted_at', 'is', null);
      if (channel) q = q.where('channel', '=', channel);
      return (await q.orderBy('name').orderBy('id').execute()).map(toSkillGroup);
    },
    async skillGroup(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const { id: groupId } = parseInput(z.object({ id }), args, '');
      return loadSkillGroup(ctx, p.instanceId, groupId);
    },
  },
  Mutation: {
    async createSkillGroup(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(createInput, args.input);
      if (input.overflowSkillGroupId) await loadSkillGroupOrField(ctx, p.instanceId, input.overflowSkillGroupId);
      const skillGroupId = randomUUID();
      await skillGroupCommand(ctx, p.instanceId, {
        type: 'CreateSkillGroup',
        data: {
          skillGroupId,
          name: input.name,
          channel: input.channel,
          strategy: input.strategy ?? 'LONGEST_IDLE',
          maxConcurrency: input.maxConcurrency ?? (input.channel === 'ONLINE' ? 5 : 1),
          ringTimeoutSeconds: input.ringTimeoutSeconds ?? 15,
          wrapUpSeconds: input.wrapUpSeconds ?? 0,
          ...definedOptions(input),
        },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return loadSkillGroup(ctx, p.instanceId, skillGroupId);
    },
    async updateSkillGroup(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(updateInput, args.input);
      if (input.overflowSkillGroupId) await loadSkillGroupOrField(ctx, p.instanceId, input.overflowSkillGroupId);
      const { id: skillGroupId, ...rest } = input;
      const changes = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null && v !== undefined));
      await skillGroupCommand(ctx, p.instanceId, {
        type: 'UpdateSkillGroup',
        data: { skillGroupId, ...changes },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return loadSkillGroup(ctx, p.instanceId, skillGroupId);
    },
    async deleteSkillGroup(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const { id: skillGroupId } = parseInput(z.object({ id }), args.input);
      await skillGroupCommand(ctx, p.instanceId, { type: 'DeleteSkillGroup', data: { skillGroupId }, metadata: commandMetadata(ctx, p.instanceId) });
      return { id: skillGroupId };
    },
    async setSkillGroupMember(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(memberInput, args.input);
      await loadAgentRow(ctx, p.instanceId, input.agentId);
      await skillGroupCommand(ctx, p.instanceId, {
        type: 'SetSkillGroupMember',
        data: { skillGroupId: input.skillGroupId, agentId: input.agentId, level: input.level ?? 1 },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return loadSkillGroup(ctx, p.instanceId, input.skillGroupId);
    },
    async removeSkillGroupMember(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(removeMemberInput, args.input);
      await skillGroupCommand(ctx, p.instanceId, {
        type: 'RemoveSkillGroupMember',
        data: { skillGroupId: input.skillGroupId, agentId: input.agentId },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return loadSkillGroup(ctx, p.instanceId, input.skillGroupId);
    },
  },
  SkillGroup: {
    async overflowSkillGroup(group: { instanceId: string; overflowSkillGroupId: string | null }, _: unknown, ctx: KefuContext) {
      if (!group.overflowSkillGroupId) return null;
      return loadSkillGroup(ctx, group.instanceId, group.overflowSkillGroupId).catch(() => null);
    },
    async members(group: { id: string; instanceId: string }, _: unknown, ctx: KefuContext) {
      const rows = await ctx.deps.db
        .selectFrom('skill_group_members as m')
        .innerJoin('agents as a', (j) => j.onRef('a.id', '=', 'm.agent_id').onRef('a.instance_id', '=', 'm.instance_id'))
        .selectAll('a')
        .select('m.level')
        .where('m.instance_id', '=', group.instanceId)
        .where('m.skill_group_id', '=', group.id)
        .where('a.deleted_at', 'is', null)
        .orderBy('m.level')
        .orderBy('a.name')
        .execute();
      return rows.map((r) => ({ level: r.level, agent: toAgent(r) }));
    },
  },
};
