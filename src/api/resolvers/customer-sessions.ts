// Customer sessions (issue 11): a web channel's public key, from a page on one of its origins, opens a session
// for an anonymous visitor (an id Kefu issues and the browser keeps) or a customer verified by the business's
// HMAC-SHA256 of their id. The answer is a customer token: requests and the graphql-ws connection made with
// it act as that customer only (CustomerPrincipal), from the channel's origins only.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ForbiddenError, NotFoundError, UnauthenticatedError } from '../../domain/errors.ts';
import { isOpenAt } from '../../domain/flow/business-hours.ts';
import { canLeaveMessageAt, flowOpenAt } from '../../domain/flow/chat-flow-reach.ts';
import { effectiveReceptionPrompts, type ReceptionPromptSettings, type WorkHours } from '../../domain/web-channel/reception-prompts.ts';
import { originAllowed } from '../../domain/web-channel/web-channel.ts';
import { anyAgentOnline, loadChatFlowFromReadModel } from '../../processes/chat-flows/chat-flow-runner.ts';
import { requireCustomer } from '../auth.ts';
import { textProblem } from '../../domain/values.ts';
import { chatLimit } from '../chat-limits.ts';
import type { KefuContext } from '../context.ts';
import { name, parseInput } from '../input.ts';

/** Anonymous visitor ids: `v_` and 128 random bits in base64url (22 characters). */
export const visitorIdPattern = /^v_[A-Za-z0-9_-]{22}$/;

export function newVisitorId(): string {
  return `v_${randomBytes(16).toString('base64url')}`;
}

/** The hex HMAC-SHA256 of a customer's id with a channel's identity secret (what the business's server computes). */
export function customerHashOf(identitySecret: string, customerId: string): string {
  return createHmac('sha256', identitySecret).update(customerId, 'utf8').digest('hex');
}

/** Compares in constant time (for the same length, which the input's shape fixes at 64 hex digits). */
function hashMatches(identitySecret: string, customerId: string, customerHash: string): boolean {
  const expected = Buffer.from(customerHashOf(identitySecret, customerId), 'hex');
  const given = Buffer.from(customerHash.toLowerCase(), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The business's id for a customer, kept exactly as signed: 1 to 128 characters, none of them control characters. */
const customerId = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'at most 128 characters')
  .superRefine((v, ctx) => {
    const problem = textProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
    else if (/\p{Cc}/u.test(v)) ctx.addIssue({ code: 'custom', message: 'must not contain control characters' });
  });

const startInput = z
  .object({
    channelKey: z.string().min(1, 'must not be empty').max(100, 'at most 100 characters'),
    visitorId: z.string().regex(visitorIdPattern, 'not a visitor id Kefu issued (v_ and 22 base64url characters)').nullish(),
    customerId: customerId.nullish(),
    customerHash: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the hex HMAC-SHA256 of customerId (64 hex digits)').nullish(),
    name: name.nullish(),
  })
  .superRefine((v, ctx) => {
    if (v.customerId != null && v.customerHash == null) ctx.addIssue({ code: 'custom', path: ['customerHash'], message: 'required with customerId' });
    if (v.customerHash != null && v.customerId == null) ctx.addIssue({ code: 'custom', path: ['customerId'], message: 'required with customerHash' });
  });

export interface PublicWebChannelView {
  instanceId: string;
  skillGroupId: string;
  name: string;
  welcomeText: string | null;
  /** The welcome prompt's text when the prompt is on and no chat flow greets instead; else null. */
  greeting: string | null;
  workHours: WorkHours | null;
  flowId: string | null;
}

const publicChannelColumns = ['instance_id', 'id', 'name', 'welcome_text', 'skill_group_id', 'flow_id', 'work_hours', 'reception_prompts'] as const;

function publicChannelView(row: { instance_id: string; skill_group_id: string; name: string; welcome_text: string | null; flow_id: string | null; work_hours: WorkHours | null; reception_prompts: ReceptionPromptSettings | null }): PublicWebChannelView {
  const welcome = effectiveReceptionPrompts({ welcomeText: row.welcome_text, receptionPrompts: row.reception_prompts }).welcome;
  return {
    instanceId: row.instance_id,
    skillGroupId: row.skill_group_id,
    name: row.name,
    welcomeText: row.welcome_text,
    greeting: welcome.enabled && !row.flow_id ? welcome.text : null,
    workHours: row.work_hours,
    flowId: row.flow_id,
  };
}

/**
 * Whether a member of the group is online (available or on break): the chat flows' one definition, from the router's
 * memory where this process routes (no statement per widget look), else from the read model.
 */
function groupAgentsOnline(ctx: KefuContext, instanceId: string, skillGroupId: string): Promise<boolean> {
  return anyAgentOnline(ctx.deps.db, instanceId, skillGroupId, ctx.deps.agentsOnline);
}

/** The flow's current version as the next chat would start it: from the chat flow runner's memory when there is one. */
function currentChatFlow(ctx: KefuContext, instanceId: string, flowId: string) {
  return ctx.deps.chatFlows ? ctx.deps.chatFlows.currentFlow(instanceId, flowId) : loadChatFlowFromReadModel(ctx.deps.db, instanceId, flowId, null);
}

/** The channel's work hours, or those of the business-hours step its chat flow starts with (by Kefu's clock). */
async function withinWorkHours(channel: PublicWebChannelView, ctx: KefuContext): Promise<boolean> {
  const now = ctx.deps.clock();
  if (channel.workHours && !isOpenAt(channel.workHours, now)) return false;
  if (!channel.flowId) return true;
  const flow = await currentChatFlow(ctx, channel.instanceId, channel.flowId);
  return !flow || flowOpenAt(flow.definition, now) !== false;
}

/** OFF_HOURS outside the channel's work hours (by Kefu's clock), else NO_AGENT_ONLINE when nobody of its group is online, else OPEN. */
async function availabilityOf(channel: PublicWebChannelView, ctx: KefuContext): Promise<'OPEN' | 'NO_AGENT_ONLINE' | 'OFF_HOURS'> {
  if (!(await withinWorkHours(channel, ctx))) return 'OFF_HOURS';
  return (await groupAgentsOnline(ctx, channel.instanceId, channel.skillGroupId)) ? 'OPEN' : 'NO_AGENT_ONLINE';
}

export const customerSessionResolvers = {
  Mutation: {
    async startCustomerSession(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      // Counted per address before anything else: guessing keys or hashes costs the same.
      chatLimit(ctx.deps, 'session', [`ip:${ctx.clientIp}`]);
      const input = parseInput(startInput, args.input);
      const channel = await ctx.deps.db
        .selectFrom('web_channels')
        .select([...publicChannelColumns, 'allowed_origins', 'identity_secret'])
        .where('public_key', '=', input.channelKey)
        .where('deleted_at', 'is', null)
        .where('enabled', '=', true)
        .executeTakeFirst();
      if (!channel) throw new NotFoundError('Web channel', input.channelKey);
      if (!originAllowed(channel.allowed_origins, ctx.origin)) {
        throw new ForbiddenError(ctx.origin ? `Origin ${ctx.origin} is not allowed for this chat channel` : 'Chats on this channel open only from the pages of its allowed origins (no Origin was sent)');
      }
      const verified = input.customerId != null;
      if (verified && !hashMatches(channel.identity_secret, input.customerId!, input.customerHash!)) {
        throw new UnauthenticatedError('customerHash is not the HMAC-SHA256 of customerId with this channel\'s identity secret');
      }
      const id = verified ? input.customerId! : (input.visitorId ?? newVisitorId());
      const session = await ctx.deps.auth.issueCustomerToken({ instanceId: channel.instance_id, webChannelId: channel.id, customerId: id, verified, name: input.name ?? null }, channel.identity_secret);
      const webChannel = publicChannelView(channel);
      return {
        token: session.token,
        expiresAt: session.expiresAt,
        visitorId: verified ? null : id,
        customer: { kind: 'WEB', id, name: input.name ?? null },
        verified,
        webChannel,
      };
    },
  },
  Query: {
    /** The customer's own channel as they may see it now (the widget asks before a chat: open, or leave a message). */
    async customerWebChannel(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireCustomer(ctx.principal);
      const row = await ctx.deps.db
        .selectFrom('web_channels')
        .select([...publicChannelColumns])
        .where('instance_id', '=', p.instanceId)
        .where('id', '=', p.webChannelId)
        .where('deleted_at', 'is', null)
        .where('enabled', '=', true)
        .executeTakeFirst();
      if (!row) throw new NotFoundError('Web channel', p.webChannelId);
      return publicChannelView(row);
    },
  },
  PublicWebChannel: {
    /**
     * Whether a chat started now is kept for an agent although nobody can answer now: the channel's chat flow
     * can take a message now (a leaveMessage step reachable with the time's business-hours branches); without a
     * flow, within work hours, unless the group turns chats away when nobody is online. True while OPEN (no flow).
     */
    async takesMessages(channel: PublicWebChannelView, _: unknown, ctx: KefuContext) {
      // A chat flow decides itself (its business hours, its "no agent online" branches): a message can be left when
      // a leaveMessage step is reachable from its start now.
      if (channel.flowId) {
        const flow = await currentChatFlow(ctx, channel.instanceId, channel.flowId);
        if (flow && canLeaveMessageAt(flow.definition, ctx.deps.clock())) return true;
      }
      const availability = await availabilityOf(channel, ctx);
      if (availability === 'OPEN') return true;
      if (channel.flowId || availability === 'OFF_HOURS') return false;
      const group = await ctx.deps.db.selectFrom('skill_groups').select('when_no_agent_online').where('instance_id', '=', channel.instanceId).where('id', '=', channel.skillGroupId).executeTakeFirst();
      return group !== undefined && group.when_no_agent_online !== 'REJECT';
    },
    /** Whether a member of the channel's skill group is online (available or on break), as the router counts it. */
    agentsOnline: (channel: PublicWebChannelView, _: unknown, ctx: KefuContext) => groupAgentsOnline(ctx, channel.instanceId, channel.skillGroupId),
    withinWorkHours: (channel: PublicWebChannelView, _: unknown, ctx: KefuContext) => withinWorkHours(channel, ctx),
    availability: (channel: PublicWebChannelView, _: unknown, ctx: KefuContext) => availabilityOf(channel, ctx),
    openNow: async (channel: PublicWebChannelView, _: unknown, ctx: KefuContext) => (await availabilityOf(channel, ctx)) === 'OPEN',
  },
};

