// Outbound calls, click-to-call, outbound numbers per skill group, and mobile answering (PH-2, PH-3, WS-4).
// The checks run against the read models and the agent's stream before anything is appended, so a refused
// call leaves no trace; the call itself is placed by this process's SIP side (ApiDeps.outboundCalls).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { agentDecider } from '../../domain/agent/agent.decide.ts';
import { hasRoomFor, type MobileAnsweringMode } from '../../domain/agent/agent.ts';
import { contactDecider } from '../../domain/contact/contact.decide.ts';
import { ConflictError, DomainError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { skillGroupDecider } from '../../domain/skill-group/skill-group.decide.ts';
import { streams } from '../../domain/streams.ts';
import { callerNumber, diallableNumber, trunkRequestUri } from '../../domain/telephony/outbound-rules.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { isAdmin, isSupervisor, requireAdmin, requireInstance, type InstancePrincipal } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { dataKey, dataValue, id, parseInput } from '../input.ts';
import { loadAgentRow, toAgent } from './agents.ts';
import { findBlacklistEntry } from './blacklist.ts';
import { toSkillGroup } from './skill-groups.ts';

/** How long the customer's phone rings before the call ends notAnswered. */
export const customerNoAnswerSeconds = 30;
/** How long the agent's devices ring for a call outside any skill group (else the group's ring timeout). */
export const defaultAgentRingSeconds = 30;

/** The instance's trunk that calls go out through: the first (by name) with an outboundUri. */
export async function findOutboundTrunk(db: ReadModel, instanceId: string): Promise<{ id: string; outboundUri: string } | null> {
  const row = await db
    .selectFrom('trunks')
    .select(['id', 'outbound_uri'])
    .where('instance_id', '=', instanceId)
    .where('deleted_at', 'is', null)
    .where('outbound_uri', 'is not', null)
    .orderBy('name')
    .orderBy('id')
    .executeTakeFirst();
  return row?.outbound_uri ? { id: row.id, outboundUri: row.outbound_uri } : null;
}

/** An agent's mobile answering setting and presence, for the mobile device source. */
export async function findMobileSetting(db: ReadModel, instanceId: string, agentId: string) {
  const row = await db
    .selectFrom('agents')
    .select(['answer_on_mobile', 'mobile_number', 'presence'])
    .where('instance_id', '=', instanceId)
    .where('id', '=', agentId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row ? { mode: row.answer_on_mobile as MobileAnsweringMode, mobileNumber: row.mobile_number, presence: row.presence } : null;
}

const data = z
  .array(z.object({ key: dataKey, value: dataValue }))
  .max(50, 'at most 50 entries')
  .nullish();
const startCallInput = z.object({ to: z.string().max(40, 'at most 40 characters'), fromNumber: z.string().max(40, 'at most 40 characters').nullish(), skillGroupId: id.nullish() });
const clickToCallInput = startCallInput.extend({ agentId: id, data });
const mobileAnsweringInput = z.object({
  agentId: id.nullish(),
  mode: z.enum(['NEVER', 'WHEN_OFFLINE', 'ALWAYS']),
  mobileNumber: z.string().max(40, 'at most 40 characters').nullish(),
});
const outboundNumbersInput = z.object({ skillGroupId: id, numbers: z.array(z.string().max(40, 'at most 40 characters')).max(100, 'at most 100 numbers') });

interface CallInput {
  to: string;
  fromNumber?: string | null;
  skillGroupId?: string | null;
  data?: { key: string; value: string }[] | null;
}

async function instanceNumbers(db: ReadModel, instanceId: string): Promise<string[]> {
  const rows = await db.selectFrom('phone_numbers').select('number').where('instance_id', '=', instanceId).orderBy('number').execute();
  return rows.map((r) => r.number);
}

/** The skill group's outbound numbers, or with no group those of every PHONE group the agent belongs to. */
async function allowedNumbers(ctx: KefuContext, instanceId: string, agentId: string, skillGroupId: string | null): Promise<{ numbers: string[]; ringSeconds: number }> {
  const db = ctx.deps.db;
  if (skillGroupId) {
    const group = await db
      .selectFrom('skill_groups')
      .select(['channel', 'outbound_numbers', 'ring_timeout_seconds'])
      .where('instance_id', '=', instanceId)
      .where('id', '=', skillGroupId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!group) throw new NotFoundError('Skill group', skillGroupId);
    if (group.channel !== 'PHONE') throw new ValidationError('input.skillGroupId', `calls are made for PHONE skill groups; this one is ${group.channel}`);
    const member = await db
      .selectFrom('skill_group_members')
      .select('agent_id')
      .where('instance_id', '=', instanceId)
      .where('skill_group_id', '=', skillGroupId)
      .where('agent_id', '=', agentId)
      .executeTakeFirst();
    if (!member) throw new ForbiddenError(`Agent ${agentId} is not a member of skill group ${skillGroupId}`);
    return { numbers: group.outbound_numbers, ringSeconds: group.ring_timeout_seconds };
  }
  const groups = await db
    .selectFrom('skill_groups')
    .innerJoin('skill_group_members', (j) =>
      j.onRef('skill_group_members.instance_id', '=', 'skill_groups.instance_id').onRef('skill_group_members.skill_group_id', '=', 'skill_groups.id'),
    )
    .select('skill_groups.outbound_numbers')
    .where('skill_groups.instance_id', '=', instanceId)
    .where('skill_group_members.agent_id', '=', agentId)
    .where('skill_groups.channel', '=', 'PHONE')
    .where('skill_groups.deleted_at', 'is', null)
    .orderBy('skill_groups.name')
    .execute();
  return { numbers: [...new Set(groups.flatMap((g) => g.outbound_numbers))], ringSeconds: defaultAgentRingSeconds };
}

/** Checks everything, then appends the contact and the agent's hold on their line, and starts the call. */
async function placeCall(ctx: KefuContext, instanceId: string, agentId: string, input: CallInput) {
  const starter = ctx.deps.outboundCalls;
  if (!starter) throw new ConflictError('This Kefu node places no calls: its SIP side is off (KEFU_SIP=off)');
  const now = ctx.deps.clock();
  const to = diallableNumber(input.to, 'input.to');
  const requested = input.fromNumber ? diallableNumber(input.fromNumber, 'input.fromNumber') : null;
  await loadAgentRow(ctx, instanceId, agentId);
  const skillGroupId = input.skillGroupId ?? null;
  const allowed = await allowedNumbers(ctx, instanceId, agentId, skillGroupId);
  const from = callerNumber({ requested, allowed: allowed.numbers, instanceNumbers: await instanceNumbers(ctx.deps.db, instanceId) });
  if (await findBlacklistEntry(ctx.deps.db, instanceId, 'PHONE', to, now)) throw new ForbiddenError(`${to} is blacklisted for phone calls`);
  const trunk = await findOutboundTrunk(ctx.deps.db, instanceId);
  if (!trunk) throw new ConflictError('This instance has no outbound trunk: set outboundUri on one of its trunks');
  const agentStream = streams.agent(instanceId, agentId);
  const { state: agent } = await ctx.deps.commands.load(agentStream, agentDecider);
  if (agent.status !== 'active') throw new NotFoundError('Agent', agentId);
  if (agent.forcedOffline) throw new ForbiddenError(`Agent ${agentId} was forced offline and cannot make calls`);
  if (!hasRoomFor(agent.workload, 'PHONE', 1)) throw new ConflictError(`Agent ${agentId} is already on a call`);
  if (!(await starter.canReach(instanceId, agentId))) {
    throw new ConflictError(`Agent ${agentId} has no phone to ring: register a SIP phone or the softphone, or set mobile answering`);
  }

  const contactId = randomUUID();
  const meta = commandMetadata(ctx, instanceId);
  const contactStream = streams.contact(instanceId, contactId);
  const created = await inInput(
    ctx.deps.commands.handle(contactStream, contactDecider, {
      type: 'StartOutboundCall',
      data: {
        contactId,
        agentId,
        skillGroupId,
        customer: { kind: 'PHONE', id: to, name: null },
        data: Object.fromEntries((input.data ?? []).map((e) => [e.key, e.value])),
        // The customer leg's SIP Call-ID is known once dialled (CallCustomerDialled); the contact id stands in.
        call: { callId: contactId, direction: 'OUT', from, to, trunkId: trunk.id, node: starter.node },
      },
      metadata: meta,
    }),
  );
  const agentRingSeconds = allowed.ringSeconds;
  try {
    // The agent's line is taken at their stream's revision: a second call (or an inbound offer) racing this one loses.
    const expiresAt = new Date(now.getTime() + (agentRingSeconds + customerNoAnswerSeconds + 60) * 1000).toISOString();
    await ctx.deps.commands.handle(agentStream, agentDecider, { type: 'TakeOutboundCall', data: { agentId, contactId, skillGroupId, expiresAt }, metadata: meta });
  } catch (err) {
    if (err instanceof DomainError) {
      await ctx.deps.commands.handle(contactStream, contactDecider, { type: 'EndContact', data: { contactId, reason: 'agentBusy', endedBy: 'SYSTEM', agentId: null }, metadata: meta });
    }
    throw err;
  }
  starter.start({ instanceId, contactId, agentId, from, to, requestUri: trunkRequestUri(trunk.outboundUri, to), agentRingSeconds, customerNoAnswerSeconds });
  // What the call returns is in the read models: the contact and its call record.
  await settle(ctx, created.position, ['contacts', 'callRecords']);
  return { contactId, agentId, from, to, skillGroupId };
}

/** Agents set their own; supervisors and admins (and admin API keys) anyone's. */
function mobileAnsweringTarget(p: InstancePrincipal, agentId: string | null | undefined): string {
  if (p.kind === 'agent' && (!agentId || agentId === p.agentId)) return p.agentId;
  if (!agentId) throw new ValidationError('input.agentId', 'name the agent');
  if (!isSupervisor(p)) throw new ForbiddenError('Only a supervisor or admin sets another agent\'s mobile answering');
  return agentId;
}

async function agentRowOf(ctx: KefuContext, agent: { id: string; instanceId: string }) {
  return ctx.deps.db
    .selectFrom('agents')
    .select(['answer_on_mobile', 'mobile_number'])
    .where('instance_id', '=', agent.instanceId)
    .where('id', '=', agent.id)
    .executeTakeFirst();
}

export const outboundCallResolvers = {
  Mutation: {
    async startCall(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      if (p.kind !== 'agent') throw new ForbiddenError('startCall is for a logged-in agent; integrations use clickToCall');
      const input = parseInput(startCallInput, args.input);
      return placeCall(ctx, p.instanceId, p.agentId, input);
    },
    async clickToCall(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      if (p.kind !== 'apiKey' && !isAdmin(p)) throw new ForbiddenError('clickToCall is for integrations (API keys) and admins');
      const input = parseInput(clickToCallInput, args.input);
      return placeCall(ctx, p.instanceId, input.agentId, input);
    },
    async setAgentMobileAnswering(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(mobileAnsweringInput, args.input);
      const agentId = mobileAnsweringTarget(p, input.agentId);
      const mobileNumber = input.mobileNumber ? diallableNumber(input.mobileNumber, 'input.mobileNumber') : null;
      await loadAgentRow(ctx, p.instanceId, agentId);
      const result = await inInput(
        ctx.deps.commands.handle(streams.agent(p.instanceId, agentId), agentDecider, {
          type: 'SetMobileAnswering',
          data: { agentId, mode: input.mode, mobileNumber },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      await settle(ctx, result.position, ['agents']);
      return toAgent(await loadAgentRow(ctx, p.instanceId, agentId));
    },
    async setSkillGroupOutboundNumbers(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(outboundNumbersInput, args.input);
      const bound = await instanceNumbers(ctx.deps.db, p.instanceId);
      const numbers = input.numbers.map((raw, i) => {
        const n = diallableNumber(raw, `input.numbers.${i}`);
        if (!bound.includes(n)) throw new ValidationError(`input.numbers.${i}`, `${n} is not a number of this instance (bind it first)`);
        return n;
      });
      const result = await inInput(
        ctx.deps.commands.handle(streams.skillGroup(p.instanceId, input.skillGroupId), skillGroupDecider, {
          type: 'SetSkillGroupOutboundNumbers',
          data: { skillGroupId: input.skillGroupId, numbers },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      await settle(ctx, result.position, ['skillGroups']);
      const row = await ctx.deps.db.selectFrom('skill_groups').selectAll().where('instance_id', '=', p.instanceId).where('id', '=', input.skillGroupId).executeTakeFirstOrThrow();
      return toSkillGroup(row);
    },
  },
  Agent: {
    async answerOnMobile(agent: { id: string; instanceId: string }, _: unknown, ctx: KefuContext) {
      return (await agentRowOf(ctx, agent))?.answer_on_mobile ?? 'NEVER';
    },
    async mobileNumber(agent: { id: string; instanceId: string }, _: unknown, ctx: KefuContext) {
      // The agent themself, supervisors and admins see it; other agents do not.
      const p = ctx.principal;
      if (!p || p.kind === 'operator' || (p.kind === 'agent' && p.agentId !== agent.id && !isSupervisor(p))) return null;
      return (await agentRowOf(ctx, agent))?.mobile_number ?? null;
    },
  },
  SkillGroup: {
    async outboundNumbers(group: { id: string; instanceId: string }, _: unknown, ctx: KefuContext) {
      const row = await ctx.deps.db.selectFrom('skill_groups').select('outbound_numbers').where('instance_id', '=', group.instanceId).where('id', '=', group.id).executeTakeFirst();
      return row?.outbound_numbers ?? [];
    },
  },
};
