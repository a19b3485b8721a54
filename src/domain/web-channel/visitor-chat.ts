// One open chat per customer and web channel: a customer's second `startChat` (another tab without the
// widget's lock, another device of a verified customer, an API client) joins the chat that is open instead
// of starting another. Who holds the customer's chat is a claim on a stream of its own,
// `visitorchat-<instanceId>.<key>` (key: a hash of channel, verification and customer id), appended at its
// expected revision, so two starts racing each other cannot both claim it.
//
// The claim alone cannot tell whether the chat it names is still open (that is the contact's stream): the
// caller looks, and passes the contact it found ended (or never started) as `replaceable`. A claim naming
// anything else is refused with the contact that holds it.
import type { CommandMetadata, DomainEvent } from '../decider.ts';
import { ConflictError } from '../errors.ts';

export interface VisitorChatClaim {
  contactId: string;
  /** When the claim was taken (the chat starts right after: a claim whose chat never came is stale after a while). */
  claimedAt: string;
}

export type VisitorChatEvent = DomainEvent<'VisitorChatClaimed', VisitorChatClaim> | DomainEvent<'VisitorChatReleased', { contactId: string }>;

export type VisitorChatState = { claim: VisitorChatClaim | null };

export type VisitorChatCommand =
  | { type: 'ClaimVisitorChat'; data: { contactId: string; replaceable: string | null }; metadata: CommandMetadata }
  | { type: 'ReleaseVisitorChat'; data: { contactId: string }; metadata: CommandMetadata };

/** The customer's chat is held by another contact (open, or starting): join it. Not an API error; the resolver handles it. */
export class VisitorChatHeldError extends ConflictError {
  readonly claim: VisitorChatClaim;
  constructor(claim: VisitorChatClaim) {
    super(`The customer's chat ${claim.contactId} is open`);
    this.claim = claim;
  }
}

export const initialVisitorChatState = (): VisitorChatState => ({ claim: null });

export function evolveVisitorChat(state: VisitorChatState, event: VisitorChatEvent): VisitorChatState {
  switch (event.type) {
    case 'VisitorChatClaimed':
      return { claim: event.data };
    case 'VisitorChatReleased':
      return state.claim?.contactId === event.data.contactId ? { claim: null } : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export function decideVisitorChat(command: VisitorChatCommand, state: VisitorChatState): VisitorChatEvent[] {
  const held = state.claim;
  switch (command.type) {
    case 'ClaimVisitorChat':
      if (held?.contactId === command.data.contactId) return [];
      if (held && held.contactId !== command.data.replaceable) throw new VisitorChatHeldError(held);
      return [{ type: 'VisitorChatClaimed', data: { contactId: command.data.contactId, claimedAt: command.metadata.now } }];
    case 'ReleaseVisitorChat':
      return held?.contactId === command.data.contactId ? [{ type: 'VisitorChatReleased', data: { contactId: command.data.contactId } }] : [];
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const visitorChatDecider = { initialState: initialVisitorChatState, evolve: evolveVisitorChat, decide: decideVisitorChat };

/** A claim whose chat never appeared (the process died between the claim and the start) is given up after this. */
export const staleClaimMs = 15_000;
