import type { CommandMetadata } from '../decider.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import type { SipUsernameEvent, SipUsernameState } from './sip-username.ts';
import { evolveSipUsername, initialSipUsernameState, normalizeSipUsername, sipUsernamePattern } from './sip-username.ts';

/** The instance is `metadata.instanceId`. */
export type SipUsernameCommand =
  | { type: 'ClaimSipUsername'; data: { username: string; agentId: string }; metadata: CommandMetadata }
  | { type: 'ReleaseSipUsername'; data: { username: string; agentId: string }; metadata: CommandMetadata };

export function decideSipUsername(command: SipUsernameCommand, state: SipUsernameState): SipUsernameEvent[] {
  const holder = { username: normalizeSipUsername(command.data.username), instanceId: command.metadata.instanceId, agentId: command.data.agentId };
  const heldByAsker = state.status === 'claimed' && state.instanceId === holder.instanceId && state.agentId === holder.agentId;
  switch (command.type) {
    case 'ClaimSipUsername':
      if (!sipUsernamePattern.test(holder.username)) throw new ValidationError('username', '3 to 64 of a-z 0-9 . _ -, starting with a letter or digit');
      if (heldByAsker) return [];
      if (state.status === 'claimed') throw new ConflictError('The SIP username is in use');
      return [{ type: 'SipUsernameClaimed', data: holder }];
    case 'ReleaseSipUsername':
      return heldByAsker ? [{ type: 'SipUsernameReleased', data: holder }] : [];
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const sipUsernameDecider = { initialState: initialSipUsernameState, evolve: evolveSipUsername, decide: decideSipUsername };
