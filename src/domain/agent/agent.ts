import type { DomainEvent } from '../decider.ts';

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
  | DomainEvent<'AgentRestored', Record<string, never>>;

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
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
