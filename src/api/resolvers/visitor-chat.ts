// One open chat per customer and web channel (see src/domain/web-channel/visitor-chat.ts): startChat claims
// the customer's chat before it starts one; a start that finds the claim held by a chat that is open (or
// starting) joins that chat instead.
import { createHash } from 'node:crypto';
import { contactDecider } from '../../domain/contact/contact.decide.ts';
import { ConflictError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import { staleClaimMs, visitorChatDecider, VisitorChatHeldError } from '../../domain/web-channel/visitor-chat.ts';
import type { CustomerPrincipal } from '../auth.ts';
import { commandMetadata, type KefuContext } from '../context.ts';

export type VisitorChatTurn = { kind: 'claimed' } | { kind: 'join'; contactId: string };

function visitorChatStream(p: CustomerPrincipal): string {
  const key = createHash('sha256').update(JSON.stringify([p.webChannelId, p.verified, p.customerId])).digest('hex').slice(0, 32);
  return streams.visitorChat(p.instanceId, key);
}

/**
 * Claims the customer's chat for `contactId` (the chat about to start), or names the chat to join: the one
 * the claim holds while it is open or starting. A claimed chat that ended, was refused, or never started
 * within staleClaimMs is taken over.
 */
export async function claimVisitorChat(ctx: KefuContext, p: CustomerPrincipal, contactId: string): Promise<VisitorChatTurn> {
  const stream = visitorChatStream(p);
  let replaceable: string | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await ctx.deps.commands.handle(stream, visitorChatDecider, { type: 'ClaimVisitorChat', data: { contactId, replaceable }, metadata: commandMetadata(ctx, p.instanceId) });
      return { kind: 'claimed' };
    } catch (err) {
      if (!(err instanceof VisitorChatHeldError)) throw err;
      const held = err.claim;
      const { state } = await ctx.deps.commands.load(streams.contact(p.instanceId, held.contactId), contactDecider);
      const over = state.status === 'ended' || state.status === 'rejected';
      const stale = state.status === 'none' && ctx.deps.clock().getTime() - Date.parse(held.claimedAt) >= staleClaimMs;
      if (!over && !stale) return { kind: 'join', contactId: held.contactId };
      replaceable = held.contactId;
    }
  }
  throw new ConflictError('The customer\'s chat kept changing while it started; try again');
}

/** Gives the claim up when the chat it was taken for did not start (its start failed before any append). */
export async function releaseVisitorChat(ctx: KefuContext, p: CustomerPrincipal, contactId: string): Promise<void> {
  const { state } = await ctx.deps.commands.load(streams.contact(p.instanceId, contactId), contactDecider);
  if (state.status !== 'none') return;
  await ctx.deps.commands.handle(visitorChatStream(p), visitorChatDecider, { type: 'ReleaseVisitorChat', data: { contactId }, metadata: commandMetadata(ctx, p.instanceId) });
}
