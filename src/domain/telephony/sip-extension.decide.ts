import type { CommandMetadata } from '../decider.ts';
import { ValidationError } from '../errors.ts';
import type { SipExtensionEvent, SipExtensionState } from './sip-extension.ts';
import { evolveSipExtension, initialSipExtensionState } from './sip-extension.ts';

/** `username` must already be claimed for the agent (sip-username.decide.ts). */
export type SipExtensionCommand = { type: 'SetAgentSipCredentials'; data: { agentId: string; username: string; ha1: string }; metadata: CommandMetadata };

export function decideSipExtension(command: SipExtensionCommand, state: SipExtensionState): SipExtensionEvent[] {
  switch (command.type) {
    case 'SetAgentSipCredentials': {
      const d = command.data;
      if (!/^[0-9a-f]{32}$/.test(d.ha1)) throw new ValidationError('ha1', 'an md5 digest in hex');
      if (state.status === 'set' && state.username === d.username && state.ha1 === d.ha1) return [];
      return [{ type: 'AgentSipCredentialsSet', data: { agentId: d.agentId, username: d.username, ha1: d.ha1 } }];
    }
    default: {
      const unknown: never = command.type;
      throw new Error(`Unknown command ${String(unknown)}`);
    }
  }
}

export const sipExtensionDecider = { initialState: initialSipExtensionState, evolve: evolveSipExtension, decide: decideSipExtension };
