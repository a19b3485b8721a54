import type { CommandMetadata } from '../decider.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Channel } from '../skill-group/skill-group.ts';
import type { BlacklistEvent, BlacklistState } from './blacklist.ts';
import { entryInForce, evolveBlacklist, initialBlacklistState, normalizeIdentity } from './blacklist.ts';

export type BlacklistCommand =
  | {
      type: 'AddToBlacklist';
      data: {
        entryId: string;
        channel: Channel;
        identity: string;
        reason: string;
        expiresAt: string | null;
        byAgentId: string | null;
        contactId: string | null;
      };
      metadata: CommandMetadata;
    }
  | { type: 'RemoveBlacklistEntry'; data: { entryId: string }; metadata: CommandMetadata };

type Add = Extract<BlacklistCommand, { type: 'AddToBlacklist' }>;

/**
 * A customer has at most one entry in force per channel. Adding them again while it is in force changes
 * nothing (`[]`): the caller gets the entry in force back, with its own reason and expiry. To change
 * either, a supervisor removes the entry and someone adds a new one; entries are never edited, so the
 * history of who blacklisted whom, and why, stays readable.
 */
function addToBlacklist(command: Add, state: BlacklistState): BlacklistEvent[] {
  const d = command.data;
  if (state.entries.has(d.entryId)) return [];
  const identity = normalizeIdentity(d.identity);
  if (identity === '') throw new ValidationError('identity', 'must not be empty');
  const reason = d.reason.trim();
  if (reason === '') throw new ValidationError('reason', 'must not be empty');
  if (d.expiresAt !== null && Date.parse(d.expiresAt) <= Date.parse(command.metadata.now)) {
    throw new ValidationError('expiresAt', 'must be in the future');
  }
  if (entryInForce(state, d.channel, identity, command.metadata.now)) return [];
  return [
    {
      type: 'CustomerBlacklisted',
      data: { entryId: d.entryId, channel: d.channel, identity, reason, expiresAt: d.expiresAt, byAgentId: d.byAgentId, contactId: d.contactId },
    },
  ];
}

function removeBlacklistEntry(command: Extract<BlacklistCommand, { type: 'RemoveBlacklistEntry' }>, state: BlacklistState): BlacklistEvent[] {
  const entry = state.entries.get(command.data.entryId);
  if (!entry) throw new NotFoundError('Blacklist entry', command.data.entryId);
  if (entry.removed) return [];
  return [{ type: 'BlacklistEntryRemoved', data: { entryId: entry.entryId, by: command.metadata.actor } }];
}

export function decideBlacklist(command: BlacklistCommand, state: BlacklistState): BlacklistEvent[] {
  switch (command.type) {
    case 'AddToBlacklist':
      return addToBlacklist(command, state);
    case 'RemoveBlacklistEntry':
      return removeBlacklistEntry(command, state);
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const blacklistDecider = { initialState: initialBlacklistState, evolve: evolveBlacklist, decide: decideBlacklist };
