// Chat records (OL-14, WS-3): agents see the chats they served (accepted); supervisors, admins and API keys
// every chat of the instance; customers and the operator none (requireInstance refuses them).
import { z } from 'zod';
import { contactCollected } from './contact-collected.ts';
import { chatEndStatuses } from '../../domain/contact/chat-end-status.ts';
import { NotFoundError } from '../../domain/errors.ts';
import type { ChatRecordRow, ChatTransfer } from '../../projections/chat-records/chat-records.projection.ts';
import { findChatRecord, listChatRecords } from '../../projections/chat-records/chat-records.queries.ts';
import { isSupervisor, requireInstance, type InstancePrincipal } from '../auth.ts';
import type { KefuContext } from '../context.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { customerIdentity, dateTime, id, parseInput } from '../input.ts';
import { agentOf, skillGroupOf } from './call-records.ts';
import { toAgent } from './agents.ts';
import { toWebChannel } from './web-channels.ts';

/** The agent a principal is limited to (an agent sees only chats they served), or null for all. */
export function chatRecordsLimitedTo(p: InstancePrincipal): string | null {
  return p.kind === 'agent' && !isSupervisor(p) ? p.agentId : null;
}

interface ChatRecordView {
  instanceId: string;
  skillGroupId: string | null;
  lastSkillGroupId: string | null;
  agentId: string | null;
  agentIds: string[];
  webChannelId: string | null;
  [field: string]: unknown;
}

type TransferView = ChatTransfer & { instanceId: string };

export function toChatRecord(row: ChatRecordRow): ChatRecordView {
  return {
    instanceId: row.instance_id,
    contactId: row.contact_id,
    source: row.source_kind,
    webChannelId: row.web_channel_id,
    pageUrl: row.page_url,
    customer: { kind: row.customer_kind, id: row.customer_id, name: row.customer_name },
    customerVerified: row.customer_verified,
    createdAt: row.created_at,
    queuedAt: row.queued_at,
    offeredAt: row.offered_at,
    acceptedAt: row.accepted_at,
    firstAgentReplyAt: row.first_agent_reply_at,
    endedAt: row.ended_at,
    queueSeconds: row.queue_seconds,
    firstResponseSeconds: row.first_response_seconds,
    totalSeconds: row.total_seconds,
    endStatus: row.end_status,
    endedBy: row.ended_by,
    endReason: row.end_reason,
    skillGroupId: row.skill_group_id,
    lastSkillGroupId: row.last_skill_group_id,
    agentId: row.agent_id,
    agentIds: row.agent_ids,
    transfers: row.transfers.map((t): TransferView => ({ ...t, instanceId: row.instance_id })),
    customerMessages: row.customer_messages,
    agentMessages: row.agent_messages,
    systemMessages: row.system_messages,
    lastSeq: row.last_seq,
    satisfaction: row.satisfaction,
  };
}

/**
 * What chatRecords' filter may hold: the one definition for the query and the CSV export
 * (src/api/exports/exports-route.ts reads the same fields from a query string).
 */
export const chatRecordFilter = z
  .object({
    from: dateTime.nullish(),
    to: dateTime.nullish(),
    agentId: id.nullish(),
    skillGroupId: id.nullish(),
    endStatus: z.enum(chatEndStatuses).nullish(),
    customerId: customerIdentity.nullish(),
    webChannelId: id.nullish(),
    satisfaction: z.number().int('must be a whole number').min(0, 'a rating value is 0-9').max(9, 'a rating value is 0-9').nullish(),
    rated: z.boolean().nullish(),
  })
  .refine((f) => !f.from || !f.to || f.from.getTime() < f.to.getTime(), { message: 'must be after from', path: ['to'] });

const chatRecordsArgs = z.object({
  first: z.number().int('must be a whole number').min(1, 'at least 1').max(200, 'at most 200').nullish(),
  after: z.string().max(500, 'not a cursor from this API').nullish(),
  filter: chatRecordFilter.nullish(),
});

export const chatRecordResolvers = {
  Query: {
    async chatRecords(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const args = parseInput(chatRecordsArgs, rawArgs, '');
      const first = args.first ?? 50;
      const rows = await listChatRecords(ctx.deps.db, p.instanceId, {
        first: first + 1,
        after: args.after ? decodeCursor(args.after) : null,
        filter: args.filter ?? {},
        onlyAgentId: chatRecordsLimitedTo(p),
      });
      return pageOf(rows, first, (row) => ({ created_at: row.created_at, id: row.contact_id }), toChatRecord);
    },
    async chatRecord(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const { contactId } = parseInput(z.object({ contactId: id }), args, '');
      const row = await findChatRecord(ctx.deps.db, p.instanceId, contactId, chatRecordsLimitedTo(p));
      if (!row) throw new NotFoundError('Chat record', contactId);
      return toChatRecord(row);
    },
  },
  ChatRecord: {
    agent: (r: ChatRecordView, _: unknown, ctx: KefuContext) => agentOf(ctx, r.instanceId, r.agentId),
    async agents(r: ChatRecordView, _: unknown, ctx: KefuContext) {
      if (r.agentIds.length === 0) return [];
      const rows = await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', r.instanceId).where('id', 'in', r.agentIds).execute();
      const byId = new Map(rows.map((row) => [row.id, toAgent(row)]));
      return r.agentIds.flatMap((agentId) => byId.get(agentId) ?? []);
    },
    skillGroup: (r: ChatRecordView, _: unknown, ctx: KefuContext) => skillGroupOf(ctx, r.instanceId, r.skillGroupId),
    async webChannel(r: ChatRecordView, _: unknown, ctx: KefuContext) {
      if (!r.webChannelId) return null;
      const row = await ctx.deps.db.selectFrom('web_channels').selectAll().where('instance_id', '=', r.instanceId).where('id', '=', r.webChannelId).executeTakeFirst();
      return row ? toWebChannel(row) : null;
    },
    lastSkillGroup: (r: ChatRecordView, _: unknown, ctx: KefuContext) => skillGroupOf(ctx, r.instanceId, r.lastSkillGroupId),
    // Issue 12: what the chat flow collected (variables) and the choices made, read from the contact.
    data: async (r: ChatRecordView, _: unknown, ctx: KefuContext) => (await contactCollected(ctx, r.instanceId, String(r.contactId))).data,
    keyTrail: async (r: ChatRecordView, _: unknown, ctx: KefuContext) => (await contactCollected(ctx, r.instanceId, String(r.contactId))).keyTrail,
  },
  ChatTransfer: {
    fromAgent: (t: TransferView, _: unknown, ctx: KefuContext) => agentOf(ctx, t.instanceId, t.fromAgentId),
    toAgent: (t: TransferView, _: unknown, ctx: KefuContext) => agentOf(ctx, t.instanceId, t.toAgentId),
    toSkillGroup: (t: TransferView, _: unknown, ctx: KefuContext) => skillGroupOf(ctx, t.instanceId, t.toSkillGroupId),
    acceptedBy: (t: TransferView, _: unknown, ctx: KefuContext) => agentOf(ctx, t.instanceId, t.acceptedByAgentId),
  },
};
