// An agent's SIP extension (PH-1): the username and digest HA1 their SIP phone registers with. One
// stream per agent: `sipextension-<instanceId>.<agentId>`. The username is claimed globally first
// (sip-username.ts).
import type { DomainEvent } from '../decider.ts';

export type SipExtensionEvent = DomainEvent<'AgentSipCredentialsSet', { agentId: string; username: string; ha1: string }>;

export type SipExtensionState = { status: 'none' } | { status: 'set'; agentId: string; username: string; ha1: string };

export const initialSipExtensionState = (): SipExtensionState => ({ status: 'none' });

export function evolveSipExtension(_state: SipExtensionState, event: SipExtensionEvent): SipExtensionState {
  switch (event.type) {
    case 'AgentSipCredentialsSet':
      return { status: 'set', ...event.data };
    default: {
      const unknown: never = event.type;
      return unknown;
    }
  }
}
