import type { DomainEvent } from '../decider.ts';
import type { Channel } from '../skill-group/skill-group.ts';

export type AgentRole = 'AGENT' | 'SUPERVISOR' | 'ADMIN';
/** What an agent chooses. Forced offline is not a choice: it is set and lifted by a supervisor or admin. */
export type PresenceChoice = 'AVAILABLE' | 'BREAK' | 'OFFLINE';
export type Presence = PresenceChoice | 'FORCED_OFFLINE';

export type AgentEvent =
  | DomainEvent<'AgentCreated', { agentId: string; name: string; login: string; passwordHash: string; phone: string | null; role: AgentRole }>
  | DomainEvent<'AgentUpdated', { name?: string; login?: string; phone?: string | null; role?: AgentRole }>
  | DomainEvent<'AgentPasswordChanged', { passwordHash: string }>
  | DomainEvent<'AgentDeleted', Record<string, never>>
  | DomainEvent<'AgentWentAvailable', Record<string, never>>
  | DomainEvent<'AgentWentOnBreak', { reason: string | null }>
  | DomainEvent<'AgentWentOffline', Record<string, never>>
  | DomainEvent<'AgentForcedOffline', { reason: string }>
  | DomainEvent<'AgentRestored', Record<string, never>>
  | DomainEvent<'AgentReserved', { contactId: string; offerId: string; channel: Channel; skillGroupId: string; expiresAt: string }>
  | DomainEvent<'AgentReservationReleased', { contactId: string; offerId: string; reason: ReservationEnd }>
  | DomainEvent<'AgentContactConnected', { contactId: string; at: string }>
  | DomainEvent<'AgentContactFinished', { contactId: string; at: string }>
  | DomainEvent<'AgentWrapUpStarted', { contactId: string; until: string }>
  | DomainEvent<'AgentWrapUpExtended', { contactId: string; until: string }>
  | DomainEvent<'AgentWrapUpEnded', { contactId: string }>
  | DomainEvent<'AgentMobileAnsweringSet', MobileAnswering>;

/**
 * PH-3 mobile answering: NEVER; WHEN_OFFLINE, an offline agent still gets phone offers, rung on the mobile;
 * ALWAYS, the mobile rings with the agent's other devices for every call, and offline too.
 */
export type MobileAnsweringMode = 'NEVER' | 'WHEN_OFFLINE' | 'ALWAYS';

export interface MobileAnswering {
  mode: MobileAnsweringMode;
  /** Digits with an optional leading +; required unless NEVER. */
  mobileNumber: string | null;
}

export type ReservationEnd = 'DECLINED' | 'TIMED_OUT' | 'WITHDRAWN' | 'CONTACT_ENDED';

/** A contact the agent holds: offered (reserved, ringing) or connected. It counts against capacity either way. */
export interface HeldContact {
  channel: Channel;
  skillGroupId: string;
  offerId: string;
  /** When the offer runs out: a reservation its contact never heard of is released after it. */
  expiresAt: string;
  state: 'offered' | 'connected';
}

/** Workload, beside presence: what the agent holds, and the after-call work that blocks new offers. */
export interface Workload {
  contacts: Readonly<Record<string, HeldContact>>;
  wrapUp: { contactId: string; until: string } | null;
}

export interface ActiveAgent {
  status: 'active';
  id: string;
  name: string;
  login: string;
  phone: string | null;
  role: AgentRole;
  passwordHash: string;
  /** The chosen presence; while forced offline the agent is offline whatever this says. */
  presence: PresenceChoice;
  breakReason: string | null;
  forcedOffline: { reason: string } | null;
  workload: Workload;
  /** Absent until first set: NEVER. */
  mobileAnswering?: MobileAnswering;
}

export type AgentState = { status: 'none' } | ActiveAgent | { status: 'deleted'; id: string };

export const initialAgentState = (): AgentState => ({ status: 'none' });

export function effectivePresence(agent: ActiveAgent): Presence {
  return agent.forcedOffline ? 'FORCED_OFFLINE' : agent.presence;
}

export function evolveAgent(state: AgentState, event: AgentEvent): AgentState {
  if (event.type === 'AgentCreated') {
    const d = event.data;
    return {
      status: 'active',
      id: d.agentId,
      name: d.name,
      login: d.login,
      phone: d.phone,
      role: d.role,
      passwordHash: d.passwordHash,
      presence: 'OFFLINE',
      breakReason: null,
      forcedOffline: null,
      workload: { contacts: {}, wrapUp: null },
    };
  }
  if (state.status !== 'active') return state;
  switch (event.type) {
    case 'AgentUpdated':
      return { ...state, ...event.data };
    case 'AgentPasswordChanged':
      return { ...state, passwordHash: event.data.passwordHash };
    case 'AgentDeleted':
      return { status: 'deleted', id: state.id };
    case 'AgentWentAvailable':
      return { ...state, presence: 'AVAILABLE', breakReason: null };
    case 'AgentWentOnBreak':
      return { ...state, presence: 'BREAK', breakReason: event.data.reason };
    case 'AgentWentOffline':
      return { ...state, presence: 'OFFLINE', breakReason: null };
    case 'AgentForcedOffline':
      return { ...state, presence: 'OFFLINE', breakReason: null, forcedOffline: { reason: event.data.reason } };
    case 'AgentRestored':
      return { ...state, forcedOffline: null };
    case 'AgentReserved': {
      const { contactId, offerId, channel, skillGroupId, expiresAt } = event.data;
      return withContacts(state, { ...state.workload.contacts, [contactId]: { channel, skillGroupId, offerId, expiresAt, state: 'offered' } });
    }
    case 'AgentContactConnected': {
      const held = state.workload.contacts[event.data.contactId];
      if (!held) return state;
      return withContacts(state, { ...state.workload.contacts, [event.data.contactId]: { ...held, state: 'connected' } });
    }
    case 'AgentReservationReleased':
    case 'AgentContactFinished': {
      const { [event.data.contactId]: _gone, ...rest } = state.workload.contacts;
      return withContacts(state, rest);
    }
    case 'AgentWrapUpStarted':
    case 'AgentWrapUpExtended':
      return { ...state, workload: { ...state.workload, wrapUp: { contactId: event.data.contactId, until: event.data.until } } };
    case 'AgentWrapUpEnded':
      return { ...state, workload: { ...state.workload, wrapUp: null } };
    case 'AgentMobileAnsweringSet':
      return { ...state, mobileAnswering: event.data };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

function withContacts(state: ActiveAgent, contacts: Record<string, HeldContact>): ActiveAgent {
  return { ...state, workload: { ...state.workload, contacts } };
}

/** Contacts held on a channel. */
export function heldOn(workload: Workload, channel: Channel): number {
  return Object.values(workload.contacts).filter((c) => c.channel === channel).length;
}

/**
 * Room for one more contact of `channel`: a phone or audio/video contact blocks other phone and AV
 * offers; chats fill up to the skill group's limit.
 */
export function hasRoomFor(workload: Workload, channel: Channel, maxConcurrency: number): boolean {
  if (channel === 'ONLINE') return heldOn(workload, 'ONLINE') < maxConcurrency;
  return heldOn(workload, 'PHONE') + heldOn(workload, 'AV') === 0;
}

/** PH-3: an agent who chose to be offline but answers on the mobile still takes phone offers (breaks still block). */
export function answersOfflineOnMobile(agent: ActiveAgent): boolean {
  const mode = agent.mobileAnswering?.mode ?? 'NEVER';
  return mode !== 'NEVER' && agent.presence === 'OFFLINE' && !agent.forcedOffline;
}
