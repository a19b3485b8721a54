// Call control from the API (PH-4): hang up, hold and resume, and warm transfer (consult, then complete or
// cancel) of phone calls. The resolvers only append contact events; the SIP node holding the call reacts to
// them (src/processes/calls/inbound-call-session.ts), so these mutations work from any API process.
// Who may: the agent serving the call, or a supervisor, an admin or an API key (acting for the system).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { agentDecider } from '../../domain/agent/agent.decide.ts';
import { contactDecider, type ContactCommand } from '../../domain/contact/contact.decide.ts';
import type { ContactState } from '../../domain/contact/contact.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import type { CallLeg } from '../../projections/call-records/call-records.projection.ts';
import { isSupervisor, requireInstance, type InstancePrincipal } from '../auth.ts';
import { commandMetadata, inInput, settle, type KefuContext } from '../context.ts';
import { id, parseInput } from '../input.ts';
import { loadAgentRow } from './agents.ts';
import { toContact } from './contacts.ts';

const callInput = z.object({ contactId: id });
const consultInput = z.object({ contactId: id, toAgentId: id });

/** How long the consulted agent's devices ring when the call's skill group names no ring timeout. */
const DEFAULT_CONSULT_RING_SECONDS = 30;

type LiveCall = Exclude<ContactState, { status: 'none' }>;

/**
 * The phone call as the caller may act on it, and the agent id to act as: the serving agent acts as
 * themselves; supervisors, admins and API keys act for the system (null). NOT_FOUND for a contact of another
 * instance, or one an agent does not serve; BAD_USER_INPUT for a contact that is not a call.
 */
async function callFor(ctx: KefuContext, p: InstancePrincipal, contactId: string, avToo = false): Promise<{ state: LiveCall; actingAgentId: string | null }> {
  const { state } = await ctx.deps.commands.load(streams.contact(p.instanceId, contactId), contactDecider);
  if (state.status === 'none') throw new NotFoundError('Contact', contactId);
  const serving = state.status === 'connected' ? state.agentId : null;
  const supervisor = p.kind === 'apiKey' || isSupervisor(p);
  if (!supervisor && serving !== p.agentId) throw new NotFoundError('Contact', contactId);
  if (!state.call && !(avToo && state.channel === 'AV')) throw new ValidationError('input.contactId', `contact ${contactId} is a ${state.channel} contact, not a phone call`);
  const actingAgentId = p.kind === 'agent' && serving === p.agentId ? p.agentId : null;
  return { state, actingAgentId };
}

async function run(ctx: KefuContext, instanceId: string, command: ContactCommand) {
  const result = await inInput(ctx.deps.commands.handle(streams.contact(instanceId, command.data.contactId), contactDecider, command));
  await settle(ctx, result.position, ['contacts', 'callRecords']);
  return result;
}

async function contactNow(ctx: KefuContext, instanceId: string, contactId: string) {
  const row = await ctx.deps.db.selectFrom('contacts').selectAll().where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirst();
  if (!row) throw new NotFoundError('Contact', contactId);
  return toContact(row);
}

/** A mutation acting on one call with one command. */
function simple(make: (contactId: string, actingAgentId: string | null, state: LiveCall) => ContactCommand['data'] & { type: ContactCommand['type'] }, avToo = false) {
  return async (_: unknown, args: { input: unknown }, ctx: KefuContext) => {
    const p = requireInstance(ctx.principal);
    const input = parseInput(callInput, args.input);
    const { state, actingAgentId } = await callFor(ctx, p, input.contactId, avToo);
    const { type, ...data } = make(input.contactId, actingAgentId, state);
    await run(ctx, p.instanceId, { type, data, metadata: commandMetadata(ctx, p.instanceId) } as ContactCommand);
    return contactNow(ctx, p.instanceId, input.contactId);
  };
}

const holdMs = (leg: CallLeg, now: number) => (leg.holdMs ?? 0) + (leg.heldAt ? Math.max(0, now - Date.parse(leg.heldAt)) : 0);

export const callControlResolvers = {
  Mutation: {
    hangUpCall: simple((contactId, actingAgentId) =>
      actingAgentId
        ? { type: 'EndContact', contactId, reason: 'agentHangUp', endedBy: 'AGENT', agentId: actingAgentId }
        : { type: 'EndContact', contactId, reason: 'supervisorHangUp', endedBy: 'SYSTEM', agentId: null },
    ),
    // Hold and resume work on customers' AV calls too (issue 14: Kefu stops relaying both ways meanwhile).
    holdCall: simple((contactId, agentId) => ({ type: 'HoldCall', contactId, agentId }), true),
    resumeCall: simple((contactId, agentId) => ({ type: 'ResumeCall', contactId, agentId }), true),
    completeConsultTransfer: simple((contactId, agentId) => ({ type: 'CompleteConsult', contactId, agentId })),
    cancelConsultTransfer: simple((contactId, agentId) => ({ type: 'CancelConsult', contactId, agentId, consultId: null, reason: 'CANCELLED' })),

    async startConsultTransfer(_: unknown, args: { input: unknown }, ctx: KefuContext) {
      const p = requireInstance(ctx.principal);
      const input = parseInput(consultInput, args.input);
      const { state, actingAgentId } = await callFor(ctx, p, input.contactId);
      await loadAgentRow(ctx, p.instanceId, input.toAgentId);
      if (state.status !== 'connected') throw new ConflictError(`Contact ${input.contactId} is ${state.status}, not connected to an agent`);
      const skillGroupId = state.skillGroupId;
      if (!skillGroupId) throw new ConflictError(`Contact ${input.contactId} came through no skill group: a warm transfer needs an inbound queued call`);
      const group = await ctx.deps.db
        .selectFrom('skill_groups')
        .select(['ring_timeout_seconds', 'max_concurrency'])
        .where('instance_id', '=', p.instanceId)
        .where('id', '=', skillGroupId)
        .executeTakeFirst();
      const metadata = commandMetadata(ctx, p.instanceId);
      const consultId = randomUUID();
      const expiresAt = new Date(Date.parse(metadata.now) + (group?.ring_timeout_seconds ?? DEFAULT_CONSULT_RING_SECONDS) * 1000).toISOString();
      const start: ContactCommand = { type: 'StartConsult', data: { contactId: input.contactId, agentId: actingAgentId, consultId, toAgentId: input.toAgentId, expiresAt }, metadata };
      const reserve = {
        type: 'ReserveAgent' as const,
        data: { agentId: input.toAgentId, contactId: input.contactId, offerId: consultId, channel: 'PHONE' as const, skillGroupId, maxConcurrency: group?.max_concurrency ?? 1, expiresAt },
        metadata,
      };
      // Both checked before anything is written, so a busy or absent target changes nothing.
      inInputSync(() => contactDecider.decide(start, state));
      const agentStream = streams.agent(p.instanceId, input.toAgentId);
      const target = await ctx.deps.commands.load(agentStream, agentDecider);
      agentDecider.decide(reserve, target.state);
      // The consultation first, then the target's reservation: the router keeps a reservation its contact names.
      await run(ctx, p.instanceId, start);
      try {
        await ctx.deps.commands.handle(agentStream, agentDecider, reserve);
      } catch (err) {
        // Taken meanwhile: the consultation ends at once and the customer is back with the agent.
        await run(ctx, p.instanceId, { type: 'CancelConsult', data: { contactId: input.contactId, agentId: null, consultId, reason: 'TARGET_UNAVAILABLE' }, metadata });
        throw err;
      }
      return contactNow(ctx, p.instanceId, input.contactId);
    },
  },
  CallRecord: {
    /** The customer's total hold time (closed holds, plus the one in progress). */
    holdSeconds: (r: { legs: CallLeg[] }) => Math.round(r.legs.reduce((ms, leg) => ms + holdMs(leg, Date.now()), 0) / 1000),
    holdCount: (r: { legs: CallLeg[] }) => r.legs.reduce((n, leg) => n + (leg.holdCount ?? 0), 0),
  },
  CallLeg: {
    kind: (leg: CallLeg) => leg.kind ?? 'OFFER',
    holdSeconds: (leg: CallLeg) => Math.round(holdMs(leg, Date.now()) / 1000),
    holdCount: (leg: CallLeg) => leg.holdCount ?? 0,
    onHold: (leg: CallLeg) => !!leg.heldAt,
  },
};

/** A decider's own field names ("toAgentId") are the input's fields here. */
function inInputSync(check: () => unknown): void {
  try {
    check();
  } catch (err) {
    if (err instanceof ValidationError && !err.field.startsWith('input.')) throw new ValidationError(`input.${err.field}`, err.problem);
    throw err;
  }
}
