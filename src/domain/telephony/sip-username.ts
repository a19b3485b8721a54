// SIP usernames are unique platform-wide (agents register as <username>@<realm>), so each is claimed on
// a global stream: `sipuser-global.<username>`; its events name the instance and agent holding it.
import type { DomainEvent } from '../decider.ts';

export interface SipUsernameHolder {
  username: string;
  instanceId: string;
  agentId: string;
}

export type SipUsernameEvent = DomainEvent<'SipUsernameClaimed', SipUsernameHolder> | DomainEvent<'SipUsernameReleased', SipUsernameHolder>;

export type SipUsernameState = { status: 'free' } | ({ status: 'claimed' } & SipUsernameHolder);

export const initialSipUsernameState = (): SipUsernameState => ({ status: 'free' });

export function evolveSipUsername(_state: SipUsernameState, event: SipUsernameEvent): SipUsernameState {
  switch (event.type) {
    case 'SipUsernameClaimed':
      return { status: 'claimed', ...event.data };
    case 'SipUsernameReleased':
      return { status: 'free' };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** Lower case: SIP phones and people disagree on case; one name, one holder. */
export const normalizeSipUsername = (raw: string) => raw.trim().toLowerCase();
export const sipUsernamePattern = /^[a-z0-9][a-z0-9._-]{2,63}$/;
