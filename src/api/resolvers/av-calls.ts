// Customers' audio/video calls (issue 14): the options a browser needs first (STUN/TURN servers, the visual
// menu of AV skill groups), the customer's startAvCall with their complete SDP offer, and the agent's
// acceptAvCall with theirs. The contact is a web AV contact (StartChat in AV: its conversation is the chat's,
// so sendChatMessage, conversationEvents and endChat work during the call); the media is AvCalls'.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AvOfferError } from '../../adapters/webrtc/av-offer.ts';
import type { RejectReason, WebSource } from '../../domain/contact/contact.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import { contactDecider } from '../../domain/contact/contact.decide.ts';
import type { AvCalls, AvParty } from '../../processes/av-calls/av-calls.ts';
import { toGraphQLError } from '../errors.ts';
import { requireCustomer, requireInstance, requirePrincipal, type CustomerPrincipal } from '../auth.ts';
import { chatLimit } from '../chat-limits.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { dataKey, dataValue, id, parseInput, storableText, text } from '../input.ts';
import { findBlacklistEntry } from './blacklist.ts';
import { toRecording } from './call-records.ts';
import { recordingsOfCall } from '../../projections/call-records/call-records.queries.ts';
import { avCallKinds, type AvCallKind } from '../../domain/web-channel/av-settings.ts';
import { avIconUrlOf } from './web-channels.ts';
import type { InstancePrincipal } from '../auth.ts';

export interface IceServerSetting {
  urls: string | string[];
  username?: string | undefined;
  credential?: string | undefined;
}

function avCallsOf(ctx: KefuContext): AvCalls {
  if (!ctx.deps.avCalls) throw new ConflictError('This Kefu takes no audio/video calls (KEFU_AV=off)');
  return ctx.deps.avCalls;
}

const sdp = z.string().min(10, 'must be an SDP offer').max(20_000, 'at most 20000 characters');

const startInput = z.object({
  clientCallId: text({ min: 1, max: 100 }),
  skillGroupId: id.nullish(),
  menuEntry: z.number().int('a whole number').min(0, 'must not be negative').max(99, 'at most 99').nullish(),
  sdp,
  visitor: z
    .object({
      pageUrl: storableText(2000).nullish(),
      referrer: storableText(2000).nullish(),
      userAgent: storableText(500).nullish(),
      attributes: z
        .array(z.object({ key: dataKey, value: dataValue }))
        .max(50, 'at most 50 entries')
        .nullish(),
    })
    .nullish(),
});

const acceptInput = z.object({ contactId: id, offerId: id, sdp });
const renegotiateInput = z.object({ contactId: id, sdp });

function visitorKeyOf(p: CustomerPrincipal): string {
  return `visitor:${p.instanceId}:${p.verified ? 'verified' : 'visitor'}:${p.customerId}`;
}

/** The customer of a call or an agent (who must serve it); anyone else is refused. */
function partyOf(ctx: KefuContext): { instanceId: string; party: AvParty } {
  const p = requirePrincipal(ctx.principal);
  if (p.kind === 'customer') return { instanceId: p.instanceId, party: { kind: 'customer', visitorKey: visitorKeyOf(p) } };
  if (p.kind === 'agent') return { instanceId: p.instanceId, party: { kind: 'agent', agentId: p.agentId } };
  throw new ForbiddenError("Only the call's customer and the agent serving it renegotiate its media");
}

/** The contact id of a customer's AV call: the same for the same customer and clientCallId. */
function avContactId(p: CustomerPrincipal, clientCallId: string): string {
  const h = createHash('sha256').update(JSON.stringify(['av', p.instanceId, p.verified, p.customerId, clientCallId])).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

function offerProblem(err: unknown): never {
  if (err instanceof AvOfferError) throw new ValidationError('input.sdp', err.message);
  throw err;
}

function toIceServer(s: IceServerSetting) {
  return { urls: Array.isArray(s.urls) ? s.urls : [s.urls], username: s.username ?? null, credential: s.credential ?? null };
}

interface AvMenuItem {
  number: number | null;
  skillGroupId: string;
  title: string;
  description: string | null;
  iconUrl: string | null;
  kinds: AvCallKind[];
  agentsOnline: boolean;
}

/**
 * The visual menu a principal sees (AV-5) and the buttons (AV-1, AV-2): a customer's web channel's configured
 * entries whose group is still a live AV group, in order; without configured entries every AV skill group of
 * the instance by name (for agents too). Kinds: the channel's (both when it has no AV settings).
 */
async function avMenuOf(ctx: KefuContext, p: CustomerPrincipal | InstancePrincipal): Promise<{ configured: boolean; kinds: AvCallKind[]; onlyWhenAgentsOnline: boolean; menu: AvMenuItem[] }> {
  const channel =
    p.kind === 'customer'
      ? await ctx.deps.db.selectFrom('web_channels').select('av_settings').where('instance_id', '=', p.instanceId).where('id', '=', p.webChannelId).where('deleted_at', 'is', null).executeTakeFirst()
      : undefined;
  const av = channel?.av_settings ?? null;
  const kinds = av ? av.kinds : [...avCallKinds];
  const groups = await ctx.deps.db
    .selectFrom('skill_groups')
    .select(['id', 'name'])
    .where('instance_id', '=', p.instanceId)
    .where('channel', '=', 'AV')
    .where('deleted_at', 'is', null)
    .orderBy('name')
    .execute();
  const online = new Set(
    (
      await ctx.deps.db
        .selectFrom('skill_group_members as m')
        .innerJoin('agents as a', (j) => j.onRef('a.instance_id', '=', 'm.instance_id').onRef('a.id', '=', 'm.agent_id'))
        .select('m.skill_group_id')
        .where('m.instance_id', '=', p.instanceId)
        .where('a.deleted_at', 'is', null)
        .where('a.presence', '=', 'AVAILABLE')
        .execute()
    ).map((r) => r.skill_group_id),
  );
  const live = new Set(groups.map((g) => g.id));
  const menu: AvMenuItem[] =
    av && av.menu.length > 0
      ? av.menu
          .filter((e) => live.has(e.skillGroupId))
          .map((e) => ({ number: e.number, skillGroupId: e.skillGroupId, title: e.label, description: e.description, iconUrl: avIconUrlOf(p.instanceId, e), kinds: e.kinds.filter((k) => kinds.includes(k)), agentsOnline: online.has(e.skillGroupId) }))
      : groups.map((g) => ({ number: null, skillGroupId: g.id, title: g.name, description: null, iconUrl: null, kinds, agentsOnline: online.has(g.id) }));
  return { configured: av !== null, kinds, onlyWhenAgentsOnline: av?.onlyWhenAgentsOnline ?? true, menu: menu.filter((e) => e.kinds.length > 0) };
}

/** The menu entry a customer's startAvCall chose: by number, or by skill group (the first entry routing there). */
function chosenEntry(menu: AvMenuItem[], input: { skillGroupId?: string | null | undefined; menuEntry?: number | null | undefined }): AvMenuItem {
  if (input.menuEntry != null) {
    const entry = menu.find((e) => e.number === input.menuEntry);
    if (!entry) throw new ValidationError('input.menuEntry', `the visual menu has no entry ${input.menuEntry}`);
    if (input.skillGroupId && input.skillGroupId !== entry.skillGroupId) throw new ValidationError('input.skillGroupId', `entry ${input.menuEntry} routes to another skill group`);
    return entry;
  }
  if (!input.skillGroupId) throw new ValidationError('input.menuEntry', 'choose an entry of the visual menu (menuEntry or skillGroupId)');
  const entry = menu.find((e) => e.skillGroupId === input.skillGroupId);
  if (!entry) throw new NotFoundError('AV skill group', input.skillGroupId);
  return entry;
}

export const avCallResolvers = {
  ChatRecord: {
    async channel(r: { instanceId: string; contactId: string }, _: unknown, ctx: KefuContext) {
      const row = await ctx.deps.db.selectFrom('contacts').select('channel').where('instance_id', '=', r.instanceId).where('id', '=', r.contactId).executeTakeFirst();
      return row?.channel ?? 'ONLINE';
    },
    async recordings(r: { instanceId: string; contactId: string }, _: unknown, ctx: KefuContext) {
      return (await recordingsOfCall(ctx.deps.db, r.instanceId, r.contactId)).map(toRecording);
    },
  },
  Query: {
    async avCallOptions(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requirePrincipal(ctx.principal);
      if (p.kind === 'operator') throw new ForbiddenError('AV call options belong to an instance');
      const menu = await avMenuOf(ctx, p);
      return {
        enabled: ctx.deps.avCalls !== undefined,
        iceServers: (ctx.deps.avIceServers ?? []).map(toIceServer),
        ...menu,
      };
    },
  },
  Subscription: {
    avCallMedia: {
      // Served from this process's calls, not the bus: the call's media lives here.
      subscribe(_: unknown, args: { contactId: string }, ctx: KefuContext) {
        try {
          const { instanceId, party } = partyOf(ctx);
          const { contactId } = parseInput(z.object({ contactId: id }), args);
          return avCallsOf(ctx).watchMedia(instanceId, contactId, party);
        } catch (err) {
          throw toGraphQLError(err);
        }
      },
      resolve: (state: unknown) => state,
    },
  },
  Mutation: {
    async startAvCall(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireCustomer(ctx.principal);
      const input = parseInput(startInput, args.input);
      const calls = avCallsOf(ctx);
      const contactId = avContactId(p, input.clientCallId);
      const existing = await ctx.deps.db.selectFrom('contacts').select('status').where('instance_id', '=', p.instanceId).where('id', '=', contactId).executeTakeFirst();
      if (existing) throw new ConflictError(`Call ${input.clientCallId} was started already (it is ${existing.status}); a new call needs a new clientCallId`);
      const visitorKey = visitorKeyOf(p);
      chatLimit(ctx.deps, 'chat', [visitorKey, ctx.clientIp ? `ip:${ctx.clientIp}` : '']);
      const { kinds: channelKinds, menu } = await avMenuOf(ctx, p);
      if (channelKinds.length === 0) throw new ForbiddenError('This web channel takes no audio or video calls');
      const entry = chosenEntry(menu, input);
      const group = await ctx.deps.db
        .selectFrom('skill_groups')
        .select(['id', 'channel', 'max_queue_length'])
        .where('instance_id', '=', p.instanceId)
        .where('id', '=', entry.skillGroupId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!group || group.channel !== 'AV') throw new NotFoundError('AV skill group', entry.skillGroupId);
      const now = ctx.deps.clock();
      const blocked = await findBlacklistEntry(ctx.deps.db, p.instanceId, 'AV', p.customerId, now);
      let reject: RejectReason | null = blocked ? 'BLACKLISTED' : null;
      if (!reject && group.max_queue_length > 0) {
        const waiting = await ctx.deps.db
          .selectFrom('contacts')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('instance_id', '=', p.instanceId)
          .where('skill_group_id', '=', group.id)
          .where('status', '=', 'QUEUED')
          .executeTakeFirstOrThrow();
        if (Number(waiting.n) >= group.max_queue_length) reject = 'QUEUE_FULL';
      }
      // Turned away: no media at all (the customer is told the call ended, as for a chat).
      if (reject) throw new ConflictError(reject === 'QUEUE_FULL' ? 'Everyone is busy; please call again later' : 'The call cannot be taken');
      const visitor = input.visitor ?? {};
      const source: WebSource = {
        kind: 'WEB',
        webChannelId: p.webChannelId,
        clientChatId: input.clientCallId,
        verified: p.verified,
        pageUrl: visitor.pageUrl ?? null,
        referrer: visitor.referrer ?? null,
        userAgent: visitor.userAgent ?? null,
        address: ctx.clientIp || null,
      };
      const peer = await calls
        .startCustomer(
          { instanceId: p.instanceId, contactId, visitorKey, addressKey: ctx.clientIp ? `ip:${ctx.clientIp}` : null, offerSdp: input.sdp, skillGroupId: group.id, kinds: entry.kinds },
          async () => {
            const result = await inInput(
              ctx.deps.commands.handle(streams.contact(p.instanceId, contactId), contactDecider, {
                type: 'StartChat',
                data: {
                  contactId,
                  channel: 'AV',
                  customer: { kind: 'WEB', id: p.customerId, name: p.name ?? null },
                  data: Object.fromEntries((visitor.attributes ?? []).map((e) => [e.key, e.value])),
                  source,
                  skillGroupId: group.id,
                  priority: 0,
                  reject: null,
                  firstMessage: null,
                },
                metadata: commandMetadata(ctx, p.instanceId),
              }),
            );
            await settle(ctx, result.position, ['contacts'], p.instanceId);
            return result.events.some((e) => e.type === 'ContactQueued');
          },
        )
        .catch(offerProblem);
      return { contactId, sdp: peer.answerSdp, videoCodec: peer.videoCodec };
    },
    async renegotiateAvCall(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const { instanceId, party } = partyOf(ctx);
      const input = parseInput(renegotiateInput, args.input);
      const peer = await avCallsOf(ctx).renegotiate({ instanceId, contactId: input.contactId, party, offerSdp: input.sdp }).catch(offerProblem);
      return { contactId: input.contactId, sdp: peer.answerSdp, videoCodec: peer.videoCodec };
    },
    async acceptAvCall(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      if (p.kind !== 'agent') throw new ForbiddenError('Only an agent takes AV calls');
      const input = parseInput(acceptInput, args.input);
      const calls = avCallsOf(ctx);
      const row = await ctx.deps.db.selectFrom('contacts').select(['channel']).where('instance_id', '=', p.instanceId).where('id', '=', input.contactId).executeTakeFirst();
      if (!row) throw new NotFoundError('Contact', input.contactId);
      if (row.channel !== 'AV') throw new ValidationError('input.contactId', `a ${row.channel} contact is accepted with acceptOffer`);
      const peer = await calls
        .acceptAgent({ instanceId: p.instanceId, contactId: input.contactId, agentId: p.agentId, offerSdp: input.sdp }, async () => {
          const result = await inInput(
            ctx.deps.commands.handle(streams.contact(p.instanceId, input.contactId), contactDecider, {
              type: 'AcceptOffer',
              data: { contactId: input.contactId, offerId: input.offerId, agentId: p.agentId },
              metadata: commandMetadata(ctx, p.instanceId),
            }),
          );
          await settle(ctx, result.position, ['contacts'], p.instanceId);
        })
        .catch(offerProblem);
      return { contactId: input.contactId, sdp: peer.answerSdp, videoCodec: peer.videoCodec };
    },
  },
};
