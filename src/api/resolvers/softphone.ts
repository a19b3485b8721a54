// The browser softphone's signalling (issue 5): SDP offer/answer by mutation, its calls by subscription, and
// the agent's answer, reject, hang-up and mute. Only a logged-in agent has a softphone, and only their own.
import { z } from 'zod';
import { SoftphoneConflictError, type AgentKey, type Softphone, type SoftphoneCallControl, type SoftphoneHub } from '../../adapters/webrtc/softphone-hub.ts';
import { SoftphoneOfferError } from '../../adapters/webrtc/softphone-peer.ts';
import { ConflictError, ForbiddenError, ValidationError } from '../../domain/errors.ts';
import { requireInstance, type InstancePrincipal } from '../auth.ts';
import type { KefuContext } from '../context.ts';
import { toGraphQLError } from '../errors.ts';
import { id, parseInput } from '../input.ts';

function agentOf(p: InstancePrincipal): AgentKey {
  if (p.kind !== 'agent') throw new ForbiddenError('Only a logged-in agent has a softphone');
  return { instanceId: p.instanceId, agentId: p.agentId };
}

function hubOf(ctx: KefuContext): SoftphoneHub {
  if (!ctx.deps.softphones) throw new ConflictError('This Kefu process takes no softphones (its phone side is off: KEFU_SIP=off)');
  return ctx.deps.softphones;
}

function toSoftphone(s: Softphone) {
  return { id: s.id, sdp: s.peer.answerSdp, codec: s.peer.codec, muted: s.muted };
}

function toEvent(call: SoftphoneCallControl, reason: string | null, ctx: KefuContext) {
  return {
    callId: call.callId,
    state: call.state,
    contactId: call.contactId,
    callerId: call.callerId,
    callerName: call.callerName,
    reason: call.state === 'ENDED' ? reason : null,
    at: ctx.deps.clock().toISOString(),
  };
}

const sdpInput = z.object({ sdp: z.string().min(10, 'must be an SDP offer').max(20_000, 'at most 20000 characters') });
const callInput = z.object({ callId: id });

function act(ctx: KefuContext, args: { input: unknown }, action: 'answer' | 'reject' | 'hangUp') {
  const agent = agentOf(requireInstance(ctx.principal));
  const { callId } = parseInput(callInput, args.input);
  try {
    const hub = hubOf(ctx);
    const wasRinging = hub.softphoneOf(agent)?.calls.get(callId)?.state === 'RINGING';
    const call = hub.act(agent, callId, action);
    return toEvent(call, wasRinging ? 'rejected' : 'agentHungUp', ctx);
  } catch (err) {
    if (err instanceof SoftphoneConflictError) throw new ConflictError(err.message);
    throw err;
  }
}

export const softphoneResolvers = {
  Query: {
    softphone(_: unknown, __: unknown, ctx: KefuContext) {
      const agent = agentOf(requireInstance(ctx.principal));
      const softphone = ctx.deps.softphones?.softphoneOf(agent);
      return softphone ? toSoftphone(softphone) : null;
    },
  },
  Mutation: {
    async connectSoftphone(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const agent = agentOf(requireInstance(ctx.principal));
      const { sdp } = parseInput(sdpInput, args.input);
      try {
        return toSoftphone(await hubOf(ctx).connect(agent, sdp));
      } catch (err) {
        if (err instanceof SoftphoneOfferError) throw new ValidationError('input.sdp', err.message);
        throw err;
      }
    },
    disconnectSoftphone(_: unknown, __: unknown, ctx: KefuContext) {
      const agent = agentOf(requireInstance(ctx.principal));
      return ctx.deps.softphones?.disconnect(agent) ?? false;
    },
    answerSoftphoneCall: (_: unknown, args: { input: unknown }, ctx: KefuContext) => act(ctx, args, 'answer'),
    rejectSoftphoneCall: (_: unknown, args: { input: unknown }, ctx: KefuContext) => act(ctx, args, 'reject'),
    hangUpSoftphoneCall: (_: unknown, args: { input: unknown }, ctx: KefuContext) => act(ctx, args, 'hangUp'),
    setSoftphoneMuted(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const agent = agentOf(requireInstance(ctx.principal));
      const { muted } = parseInput(z.object({ muted: z.boolean() }), args.input);
      try {
        return toSoftphone(hubOf(ctx).setMuted(agent, muted));
      } catch (err) {
        if (err instanceof SoftphoneConflictError) throw new ConflictError(err.message);
        throw err;
      }
    },
  },
  Subscription: {
    softphoneCalls: {
      // Served from this process's hub, not the bus: the softphone's peer connection lives here.
      subscribe(_: unknown, __: unknown, ctx: KefuContext) {
        try {
          return hubOf(ctx).subscribe(agentOf(requireInstance(ctx.principal)));
        } catch (err) {
          throw toGraphQLError(err);
        }
      },
      resolve: (event: unknown) => event,
    },
  },
};
