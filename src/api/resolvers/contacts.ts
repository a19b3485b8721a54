import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import { agentDecider } from '../../domain/agent/agent.decide.ts';
import { contactDecider, type ContactCommand } from '../../domain/contact/contact.decide.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import { agentOffersTopic, type ContactRow, type OfferMessage } from '../../projections/contacts/contacts.projection.ts';
import { isAdmin, isSupervisor, requireInstance, type InstancePrincipal } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { subscribeTopicFromSnapshot } from '../subscribe-topic.ts';
import { liveSubscription } from '../live-fanout.ts';
import type { LiveView } from '../snapshot-then-changes.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { customerIdentity, dataKey, dataValue, id, messageText, name, note, parseInput, reason } from '../input.ts';
import { loadAgentRow, toAgent } from './agents.ts';
import { findBlacklistEntry } from './blacklist.ts';
import { screenPopFor } from './screen-pop.ts';


export function toContact(row: ContactRow) {
  return {
    id: row.id,
    instanceId: row.instance_id,
    channel: row.channel,
    direction: row.direction,
    customer: row.customer,
    status: row.status,
    skillGroupId: row.skill_group_id,
    priority: row.priority,
    queuedAt: row.queued_at,
    agentId: row.agent_id,
    offer: row.offer as { offerId: string; agentIds: string[]; expiresAt: string } | null,
    keyTrail: row.key_trail,
    data: Object.entries(row.data ?? {}).map(([key, value]) => ({ key, value })),
    endReason: row.end_reason,
    endedBy: row.ended_by,
    createdAt: row.created_at,
    endedAt: row.ended_at,
  };
}

function toMessage(row: { instance_id: string; id: string; sender: string; agent_id: string | null; text: string; sent_at: Date | string }) {
  return { id: row.id, instanceId: row.instance_id, sender: row.sender, agentId: row.agent_id, text: row.text, sentAt: row.sent_at };
}

/**
 * One agent's offers: those ringing for them now, then each new offer and how each ended. An offer is sent
 * as OFFERED once, and its end only after its OFFERED (an offer that ended before the agent saw it is
 * nothing to them).
 */
function offersOf(ctx: KefuContext, instanceId: string, agentId: string): LiveView<OfferMessage> {
  const ringing = new Set<string>();
  return {
    async read() {
      const rows = await ctx.deps.db
        .selectFrom('contacts')
        .select(['id', 'offer'])
        .where('instance_id', '=', instanceId)
        .where('status', '=', 'OFFERED')
        .where(sql<boolean>`offer -> 'agentIds' @> ${JSON.stringify([agentId])}::jsonb`)
        .execute();
      return rows.flatMap((row) => {
        const offer = row.offer as { offerId: string; agentIds: string[]; expiresAt: string } | null;
        return offer ? [{ state: 'OFFERED' as const, offerId: offer.offerId, agentIds: offer.agentIds, expiresAt: offer.expiresAt, contactId: row.id }] : [];
      });
    },
    admit(m) {
      if (!m.agentIds.includes(agentId)) return false;
      if (m.state !== 'OFFERED') return ringing.delete(m.offerId);
      if (ringing.has(m.offerId)) return false;
      ringing.add(m.offerId);
      return true;
    },
  };
}

/** Agents see contacts offered to them or that they hold or held; supervisors, admins and integrations see all. */
function maySee(p: InstancePrincipal, row: ContactRow): boolean {
  if (p.kind === 'apiKey' || isSupervisor(p)) return true;
  const offer = row.offer as { agentIds?: string[] } | null;
  return row.agent_id === p.agentId || (offer?.agentIds ?? []).includes(p.agentId);
}

function contactRow(ctx: KefuContext, instanceId: string, contactId: string): Promise<ContactRow | undefined> {
  return ctx.deps.db.selectFrom('contacts').selectAll().where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirst();
}

/** The contact as the caller may see it: NOT_FOUND for one of another instance, or one an agent has no part in. */
async function loadContactRow(ctx: KefuContext, p: InstancePrincipal, contactId: string): Promise<ContactRow> {
  const row = await contactRow(ctx, p.instanceId, contactId);
  if (!row || !maySee(p, row)) throw new NotFoundError('Contact', contactId);
  return row;
}

/** After a command the caller may no longer be part of the contact (a decline, a transfer), but gets its answer. */
async function contactAfter(ctx: KefuContext, instanceId: string, contactId: string) {
  const row = await contactRow(ctx, instanceId, contactId);
  if (!row) throw new NotFoundError('Contact', contactId);
  return toContact(row);
}

async function contactCommand(ctx: KefuContext, instanceId: string, command: ContactCommand) {
  const result = await inInput(ctx.deps.commands.handle(streams.contact(instanceId, command.data.contactId), contactDecider, command));
  await settle(ctx, result.position, ['contacts']);
  return result;
}

const createContactInput = z.object({
  channel: z.enum(['PHONE', 'ONLINE', 'AV']),
  customer: z.object({ kind: z.enum(['PHONE', 'WECHAT', 'WEB']), id: customerIdentity, name: name.nullish() }),
  skillGroupId: id,
  priority: z.number().int().min(0, 'must not be negative').max(100, 'at most 100').nullish(),
  data: z
    .array(z.object({ key: dataKey, value: dataValue }))
    .max(50, 'at most 50 entries')
    .nullish(),
});
const offerInput = z.object({ contactId: id, offerId: id });
const transferInput = z.object({ contactId: id, toAgentId: id.nullish(), toSkillGroupId: id.nullish(), note: note.nullish() });
const endInput = z.object({ contactId: id, reason: reason.nullish() });
const contactsArgs = z.object({
  first: z.number().int().min(0).max(200, 'at most 200').nullish(),
  after: z.string().max(500).nullish(),
  filter: z
    .object({ status: z.string().nullish(), channel: z.enum(['PHONE', 'ONLINE', 'AV']).nullish(), agentId: id.nullish() })
    .nullish(),
});

function requireAgentSelf(p: InstancePrincipal): string {
  if (p.kind !== 'agent') throw new ForbiddenError('Only a logged-in agent answers offers and does after-call work');
  return p.agentId;
}

export const contactResolvers = {
  Query: {
    async contact(_: unknown, args: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const { id: contactId } = parseInput(z.object({ id }), args, '');
      return toContact(await loadContactRow(ctx, p, contactId));
    },
    async contacts(_: unknown, rawArgs: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const args = parseInput(contactsArgs, rawArgs, '');
      const first = args.first ?? 50;
      let q = ctx.deps.db.selectFrom('contacts').selectAll().where('instance_id', '=', p.instanceId);
      if (p.kind === 'agent' && !isSupervisor(p)) q = q.where('agent_id', '=', p.agentId);
      const f = args.filter ?? {};
      if (f.status) q = q.where('status', '=', f.status);
      if (f.channel) q = q.where('channel', '=', f.channel);
      if (f.agentId) q = q.where('agent_id', '=', f.agentId);
      if (args.after) {
        const [createdAt, afterId] = decodeCursor(args.after);
        q = q.where(sql<boolean>`(created_at, id) > (${createdAt}::timestamptz, ${afterId})`);
      }
      const rows = await q.orderBy('created_at').orderBy('id').limit(first + 1).execute();
      const edges = rows.slice(0, first).map((row) => ({
        cursor: encodeCursor(row),
        node: toContact(row),
      }));
      return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
    },
  },
  Mutation: {
    async createContact(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      if (p.kind !== 'apiKey' && !isAdmin(p)) throw new ForbiddenError('Contacts are created by integrations (API keys) and channels');
      const input = parseInput(createContactInput, args.input);
      const group = await ctx.deps.db
        .selectFrom('skill_groups')
        .select(['channel', 'max_queue_length'])
        .where('instance_id', '=', p.instanceId)
        .where('id', '=', input.skillGroupId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!group) throw new NotFoundError('Skill group', input.skillGroupId);
      if (group.channel !== input.channel) throw new ValidationError('input.skillGroupId', `this is a ${group.channel} skill group; the contact is ${input.channel}`);
      const contactId = randomUUID();
      const meta = commandMetadata(ctx, p.instanceId);
      // A blacklisted customer is turned away before any queue (the contact is kept, as REJECTED).
      const blocked = await findBlacklistEntry(ctx.deps.db, p.instanceId, input.channel, input.customer.id, ctx.deps.clock());
      const data = Object.fromEntries((input.data ?? []).map((e) => [e.key, e.value]));
      await inInput(
        ctx.deps.commands.handle(streams.contact(p.instanceId, contactId), contactDecider, {
          type: 'CreateContact',
          data: { contactId, channel: input.channel, direction: 'IN', customer: { kind: input.customer.kind, id: input.customer.id, name: input.customer.name ?? null }, data },
          metadata: meta,
        }),
      );
      const waiting =
        group.max_queue_length > 0
          ? await ctx.deps.db
              .selectFrom('contacts')
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .where('instance_id', '=', p.instanceId)
              .where('skill_group_id', '=', input.skillGroupId)
              .where('status', '=', 'QUEUED')
              .executeTakeFirstOrThrow()
          : { n: '0' };
      await contactCommand(
        ctx,
        p.instanceId,
        blocked
          ? { type: 'RejectContact', data: { contactId, reason: 'BLACKLISTED' }, metadata: meta }
          : group.max_queue_length > 0 && Number(waiting.n) >= group.max_queue_length
          ? { type: 'RejectContact', data: { contactId, reason: 'QUEUE_FULL' }, metadata: meta }
          : { type: 'QueueContact', data: { contactId, skillGroupId: input.skillGroupId, priority: input.priority ?? 0 }, metadata: meta },
      );
      return toContact(await loadContactRow(ctx, p, contactId));
    },
    async acceptOffer(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const agentId = requireAgentSelf(p);
      const input = parseInput(offerInput, args.input);
      const offered = await loadContactRow(ctx, p, input.contactId);
      // An AV call needs the agent's media: acceptAvCall carries their browser's SDP offer.
      if (offered.channel === 'AV') throw new ValidationError('input.contactId', 'an AV call is accepted with acceptAvCall (with your browser\'s SDP offer)');
      await contactCommand(ctx, p.instanceId, { type: 'AcceptOffer', data: { ...input, agentId }, metadata: commandMetadata(ctx, p.instanceId) });
      return toContact(await loadContactRow(ctx, p, input.contactId));
    },
    async declineOffer(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const agentId = requireAgentSelf(p);
      const input = parseInput(offerInput, args.input);
      await loadContactRow(ctx, p, input.contactId);
      await contactCommand(ctx, p.instanceId, { type: 'DeclineOffer', data: { ...input, agentId }, metadata: commandMetadata(ctx, p.instanceId) });
      return contactAfter(ctx, p.instanceId, input.contactId);
    },
    async endContact(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(endInput, args.input);
      await loadContactRow(ctx, p, input.contactId);
      const byAgent = p.kind === 'agent';
      await contactCommand(ctx, p.instanceId, {
        type: 'EndContact',
        data: {
          contactId: input.contactId,
          reason: input.reason ?? (byAgent ? 'agentHangUp' : 'customerHangUp'),
          endedBy: byAgent ? 'AGENT' : 'CUSTOMER',
          agentId: byAgent ? p.agentId : null,
        },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return contactAfter(ctx, p.instanceId, input.contactId);
    },
    async transferContact(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const agentId = requireAgentSelf(p);
      const input = parseInput(transferInput, args.input);
      if (!input.toAgentId === !input.toSkillGroupId) throw new ValidationError('input.toAgentId', 'give exactly one of toAgentId and toSkillGroupId');
      const row = await loadContactRow(ctx, p, input.contactId);
      if (input.toAgentId) await loadAgentRow(ctx, p.instanceId, input.toAgentId);
      if (input.toSkillGroupId) {
        const group = await ctx.deps.db
          .selectFrom('skill_groups')
          .select('channel')
          .where('instance_id', '=', p.instanceId)
          .where('id', '=', input.toSkillGroupId)
          .where('deleted_at', 'is', null)
          .executeTakeFirst();
        if (!group) throw new NotFoundError('Skill group', input.toSkillGroupId);
        if (group.channel !== row.channel) throw new ValidationError('input.toSkillGroupId', `this is a ${group.channel} skill group; the contact is ${row.channel}`);
      }
      await contactCommand(ctx, p.instanceId, {
        type: 'TransferContact',
        data: { contactId: input.contactId, agentId, toAgentId: input.toAgentId ?? null, toSkillGroupId: input.toSkillGroupId ?? null, note: input.note ?? null },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return contactAfter(ctx, p.instanceId, input.contactId);
    },
    async sendMessage(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(z.object({ contactId: id, text: messageText }), args.input);
      const row = await loadContactRow(ctx, p, input.contactId);
      if (row.channel !== 'ONLINE' && row.channel !== 'AV') throw new ValidationError('input.contactId', `a ${row.channel} contact has no messages`);
      const byAgent = p.kind === 'agent';
      if (!byAgent && p.kind === 'apiKey' && p.role !== 'INTEGRATION' && p.role !== 'ADMIN') throw new ForbiddenError('Only agents and integrations send messages');
      const messageId = randomUUID();
      await contactCommand(ctx, p.instanceId, {
        type: 'RecordMessage',
        // The chat's own send (sendChatMessage) with a client id made here: this path has no retries to recognise.
        data: { contactId: input.contactId, messageId, clientMessageId: randomUUID(), from: byAgent ? 'AGENT' : 'CUSTOMER', agentId: byAgent ? p.agentId : null, text: input.text },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      const message = await ctx.deps.db
        .selectFrom('contact_messages')
        .selectAll()
        .where('instance_id', '=', p.instanceId)
        .where('contact_id', '=', input.contactId)
        .where('id', '=', messageId)
        .executeTakeFirstOrThrow();
      return toMessage(message);
    },
    async extendWrapUp(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const agentId = requireAgentSelf(p);
      const input = parseInput(z.object({ seconds: z.number().int().min(1, 'at least 1').max(3600, 'at most 3600') }), args.input);
      await inInput(
        ctx.deps.commands.handle(streams.agent(p.instanceId, agentId), agentDecider, {
          type: 'ExtendWrapUp',
          data: { agentId, seconds: input.seconds },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      return toAgent(await loadAgentRow(ctx, p.instanceId, agentId));
    },
    async endWrapUp(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const agentId = requireAgentSelf(p);
      await ctx.deps.commands.handle(streams.agent(p.instanceId, agentId), agentDecider, {
        type: 'EndWrapUp',
        data: { agentId, contactId: null },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toAgent(await loadAgentRow(ctx, p.instanceId, agentId));
    },
  },
  Subscription: {
    agentOffers: {
      subscribe: liveSubscription(
        (_: unknown, __: unknown, ctx: KefuContext) =>
          subscribeTopicFromSnapshot(
            ctx,
            (p) => {
              requireAgentSelf(p);
              return agentOffersTopic(p.instanceId);
            },
            (p) => offersOf(ctx, p.instanceId, requireAgentSelf(p)),
          ),
        (payload: OfferMessage, _: unknown, ctx: KefuContext) => payload.agentIds.includes((ctx.principal as { agentId: string }).agentId),
      ),
      resolve: async (payload: OfferMessage, _: unknown, ctx: KefuContext) => {
        const p = ctx.principal as InstancePrincipal;
        const row = await contactRow(ctx, p.instanceId, payload.contactId);
        if (!row) throw new NotFoundError('Contact', payload.contactId);
        const offer = row.offer as { offerId: string; transfer?: { fromAgentId: string; note: string | null } | null } | null;
        const transfer = offer?.offerId === payload.offerId ? (offer.transfer ?? null) : null;
        return { offerId: payload.offerId, state: payload.state, expiresAt: payload.expiresAt, contact: toContact(row), transfer, instanceId: p.instanceId, row };
      },
    },
  },
  Message: {
    async agent(m: { instanceId: string; agentId: string | null }, _: unknown, ctx: KefuContext) {
      if (!m.agentId) return null;
      const row = await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', m.instanceId).where('id', '=', m.agentId).executeTakeFirst();
      return row ? toAgent(row) : null;
    },
  },
  Offer: {
    // The row the offer was resolved from: no second read.
    screenPop: (o: { instanceId: string; row: ContactRow }, _: unknown, ctx: KefuContext) => screenPopFor(ctx.deps.db, o.instanceId, o.row, ctx.deps.clock()),
    async transfer(o: { instanceId: string; transfer: { fromAgentId: string; note: string | null } | null }, _: unknown, ctx: KefuContext) {
      if (!o.transfer) return null;
      const from = await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', o.instanceId).where('id', '=', o.transfer.fromAgentId).executeTakeFirst();
      return { fromAgent: from ? toAgent(from) : null, note: o.transfer.note };
    },
  },
  Contact: {
    async messages(c: { instanceId: string; id: string }, _: unknown, ctx: KefuContext) {
      const rows = await ctx.deps.db
        .selectFrom('contact_messages')
        .selectAll()
        .where('instance_id', '=', c.instanceId)
        .where('contact_id', '=', c.id)
        // A chat's SYSTEM notices (issue 11) are in the conversation (chatTranscript), not in this list of words.
        .where('sender', '!=', 'SYSTEM')
        .orderBy('seq')
        .orderBy('sent_at')
        .orderBy('id')
        .execute();
      return rows.map(toMessage);
    },
    async offer(c: { instanceId: string; offer: { offerId: string; agentIds: string[]; expiresAt: string } | null }, _: unknown, ctx: KefuContext) {
      if (!c.offer) return null;
      const rows = c.offer.agentIds.length
        ? await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', c.instanceId).where('id', 'in', c.offer.agentIds).execute()
        : [];
      return { offerId: c.offer.offerId, expiresAt: c.offer.expiresAt, agents: rows.map(toAgent) };
    },
    async skillGroup(c: { instanceId: string; skillGroupId: string | null }, _: unknown, ctx: KefuContext) {
      if (!c.skillGroupId) return null;
      const row = await ctx.deps.db.selectFrom('skill_groups').selectAll().where('instance_id', '=', c.instanceId).where('id', '=', c.skillGroupId).executeTakeFirst();
      const { toSkillGroup } = await import('./skill-groups.ts');
      return row ? toSkillGroup(row) : null;
    },
    async agent(c: { instanceId: string; agentId: string | null }, _: unknown, ctx: KefuContext) {
      if (!c.agentId) return null;
      const row = await ctx.deps.db.selectFrom('agents').selectAll().where('instance_id', '=', c.instanceId).where('id', '=', c.agentId).executeTakeFirst();
      return row ? toAgent(row) : null;
    },
  },
};
