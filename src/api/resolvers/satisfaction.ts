// Satisfaction surveys (issue 12): the instance's setting (admins set the scale and the switches per channel;
// staff read it), what a chat customer is asked (PublicWebChannel.survey), rateChat for the customer of an
// ended chat, and a conversation's rating. The rating itself is decided on the contact stream (RateContact),
// with the setting as read here; records show it (chat and call records projections).
import { z } from 'zod';
import type { ContactCommand } from '../../domain/contact/contact.decide.ts';
import { contactDecider } from '../../domain/contact/contact.decide.ts';
import { instanceDecider } from '../../domain/instance/instance.decide.ts';
import { defaultSatisfactionSurvey, maxRatingCommentLength, surveyOn, type SatisfactionSurvey } from '../../domain/instance/satisfaction.ts';
import { streams } from '../../domain/streams.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { requireAdmin, requireCustomer, requireInstance } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { id, parseInput, storableText, text } from '../input.ts';
import { loadChat, toConversation, type ConversationView, type Viewer } from './chat.ts';
import type { PublicWebChannelView } from './customer-sessions.ts';

/** The instance's survey setting as the read model has it (the default until configured). */
export async function loadSatisfactionSurvey(db: ReadModel, instanceId: string): Promise<SatisfactionSurvey> {
  const row = await db.selectFrom('instances').select('satisfaction_survey').where('id', '=', instanceId).executeTakeFirst();
  return row?.satisfaction_survey ?? defaultSatisfactionSurvey;
}

function toSurvey(s: SatisfactionSurvey) {
  return { scale: s.scale, channels: { online: s.channels.ONLINE, phone: s.channels.PHONE, av: s.channels.AV } };
}

/** A chat's rating in the chat records read model, or null. */
async function chatRating(db: ReadModel, instanceId: string, contactId: string) {
  const row = await db.selectFrom('chat_records').select('satisfaction').where('instance_id', '=', instanceId).where('contact_id', '=', contactId).executeTakeFirst();
  return row?.satisfaction ?? null;
}

const scaleValue = z.number().int('must be a whole number');

const configureInput = z.object({
  scale: z
    .array(z.object({ value: scaleValue, label: text({ max: 40 }) }))
    .min(2, 'at least 2 entries')
    .max(10, 'at most 10 entries')
    .nullish(),
  channels: z.object({ online: z.boolean().nullish(), phone: z.boolean().nullish(), av: z.boolean().nullish() }).nullish(),
});

const rateChatInput = z.object({
  contactId: id,
  value: scaleValue,
  comment: storableText(maxRatingCommentLength).nullish(),
});

async function contactCommand(ctx: KefuContext, instanceId: string, command: ContactCommand) {
  const result = await inInput(ctx.deps.commands.handle(streams.contact(instanceId, command.data.contactId), contactDecider, command));
  await settle(ctx, result.position, ['contacts', 'chatRecords'], instanceId);
}

export const satisfactionResolvers = {
  Query: {
    async satisfactionSurvey(_: unknown, __: unknown, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      return toSurvey(await loadSatisfactionSurvey(ctx.deps.db, p.instanceId));
    },
  },
  Mutation: {
    async configureSatisfactionSurvey(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireAdmin(ctx.principal);
      const input = parseInput(configureInput, args.input);
      const channels = input.channels ?? {};
      const result = await inInput(
        ctx.deps.commands.handle(streams.instance(p.instanceId), instanceDecider, {
          type: 'ConfigureSatisfactionSurvey',
          data: {
            ...(input.scale ? { scale: input.scale } : {}),
            channels: {
              ...(typeof channels.online === 'boolean' ? { ONLINE: channels.online } : {}),
              ...(typeof channels.phone === 'boolean' ? { PHONE: channels.phone } : {}),
              ...(typeof channels.av === 'boolean' ? { AV: channels.av } : {}),
            },
          },
          metadata: commandMetadata(ctx, p.instanceId),
        }),
      );
      await settle(ctx, result.position, ['instances'], p.instanceId);
      return toSurvey(await loadSatisfactionSurvey(ctx.deps.db, p.instanceId));
    },
    async rateChat(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireCustomer(ctx.principal);
      const v: Viewer = { kind: 'customer', p };
      const input = parseInput(rateChatInput, args.input);
      // Only their own chat: another customer's is NOT_FOUND.
      const row = await loadChat(ctx, v, input.contactId);
      const survey = await loadSatisfactionSurvey(ctx.deps.db, p.instanceId);
      await contactCommand(ctx, p.instanceId, {
        type: 'RateContact',
        data: { contactId: row.id, value: input.value, comment: input.comment ?? null, by: 'CUSTOMER', key: null, survey },
        metadata: commandMetadata(ctx, p.instanceId),
      });
      return toConversation(await loadChat(ctx, v, row.id), v);
    },
  },
  PublicWebChannel: {
    async survey(channel: PublicWebChannelView, _: unknown, ctx: KefuContext) {
      const s = await loadSatisfactionSurvey(ctx.deps.db, channel.instanceId);
      return { enabled: surveyOn(s, 'ONLINE'), scale: s.scale };
    },
  },
  Conversation: {
    async survey(c: ConversationView, _: unknown, ctx: KefuContext) {
      const s = await loadSatisfactionSurvey(ctx.deps.db, c.instanceId);
      return { enabled: surveyOn(s, c.row.channel as 'ONLINE' | 'AV'), scale: s.scale };
    },
    rating: (c: ConversationView, _: unknown, ctx: KefuContext) => chatRating(ctx.deps.db, c.instanceId, c.contactId),
    async ratable(c: ConversationView, _: unknown, ctx: KefuContext) {
      if (c.row.status !== 'ENDED') return false;
      const [survey, rating] = await Promise.all([loadSatisfactionSurvey(ctx.deps.db, c.instanceId), chatRating(ctx.deps.db, c.instanceId, c.contactId)]);
      return surveyOn(survey, c.row.channel as 'ONLINE' | 'AV') && rating === null;
    },
  },
};
