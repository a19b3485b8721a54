import type { CommandMetadata } from '../decider.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.ts';
import type { ActiveAgent, AgentEvent, AgentRole, AgentState, PresenceChoice } from './agent.ts';
import { evolveAgent, initialAgentState } from './agent.ts';

export type AgentCommand =
  | {
      type: 'CreateAgent';
      data: { agentId: string; name: string; login: string; passwordHash: string; phone: string | null; role: AgentRole };
      metadata: CommandMetadata;
    }
  | { type: 'UpdateAgent'; data: { agentId: string; name?: string; login?: string; phone?: string | null; role?: AgentRole }; metadata: CommandMetadata }
  | { type: 'ChangeAgentPassword'; data: { agentId: string; passwordHash: string }; metadata: CommandMetadata }
  | { type: 'DeleteAgent'; data: { agentId: string }; metadata: CommandMetadata }
  | {
      type: 'SetPresence';
      data: { agentId: string; presence: PresenceChoice; reason: string | null; breakReasons: string[] };
      metadata: CommandMetadata;
    }
  | { type: 'ForceAgentOffline'; data: { agentId: string; reason: string }; metadata: CommandMetadata }
  | { type: 'RestoreAgent'; data: { agentId: string }; metadata: CommandMetadata };

function active(state: AgentState, agentId: string): ActiveAgent {
  if (state.status !== 'active') throw new NotFoundError('Agent', agentId);
  return state;
}

function setPresence(agent: ActiveAgent, presence: PresenceChoice, reason: string | null, breakReasons: string[]): AgentEvent[] {
  if (agent.forcedOffline && presence !== 'OFFLINE') {
    throw new ForbiddenError(`Agent ${agent.id} was forced offline (${agent.forcedOffline.reason}) and cannot go online until restored`);
  }
  switch (presence) {
    case 'AVAILABLE':
      return agent.presence === 'AVAILABLE' ? [] : [{ type: 'AgentWentAvailable', data: {} }];
    case 'OFFLINE':
      return agent.presence === 'OFFLINE' ? [] : [{ type: 'AgentWentOffline', data: {} }];
    case 'BREAK': {
      if (reason !== null && !breakReasons.includes(reason)) {
        throw new ValidationError('reason', `"${reason}" is not a break reason of this instance (${breakReasons.join(', ')})`);
      }
      if (agent.presence === 'BREAK' && agent.breakReason === reason) return [];
      return [{ type: 'AgentWentOnBreak', data: { reason } }];
    }
  }
}

export function decideAgent(command: AgentCommand, state: AgentState): AgentEvent[] {
  switch (command.type) {
    case 'CreateAgent': {
      if (state.status === 'active' && state.login === command.data.login) return [];
      if (state.status !== 'none') throw new ConflictError(`Agent ${command.data.agentId} already exists`);
      return [{ type: 'AgentCreated', data: command.data }];
    }
    case 'UpdateAgent': {
      const agent = active(state, command.data.agentId);
      const changes: Extract<AgentEvent, { type: 'AgentUpdated' }>['data'] = {};
      if (command.data.name !== undefined && command.data.name !== agent.name) changes.name = command.data.name;
      if (command.data.login !== undefined && command.data.login !== agent.login) changes.login = command.data.login;
      if (command.data.phone !== undefined && command.data.phone !== agent.phone) changes.phone = command.data.phone;
      if (command.data.role !== undefined && command.data.role !== agent.role) changes.role = command.data.role;
      return Object.keys(changes).length === 0 ? [] : [{ type: 'AgentUpdated', data: changes }];
    }
    case 'ChangeAgentPassword': {
      active(state, command.data.agentId);
      return [{ type: 'AgentPasswordChanged', data: { passwordHash: command.data.passwordHash } }];
    }
    case 'DeleteAgent': {
      if (state.status === 'deleted') return [];
      const agent = active(state, command.data.agentId);
      const events: AgentEvent[] = agent.presence === 'OFFLINE' ? [] : [{ type: 'AgentWentOffline', data: {} }];
      return [...events, { type: 'AgentDeleted', data: {} }];
    }
    case 'SetPresence': {
      const agent = active(state, command.data.agentId);
      return setPresence(agent, command.data.presence, command.data.reason, command.data.breakReasons);
    }
    case 'ForceAgentOffline': {
      const agent = active(state, command.data.agentId);
      if (agent.forcedOffline) return [];
      return [{ type: 'AgentForcedOffline', data: { reason: command.data.reason } }];
    }
    case 'RestoreAgent': {
      const agent = active(state, command.data.agentId);
      if (!agent.forcedOffline) return [];
      return [{ type: 'AgentRestored', data: {} }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const agentDecider = { initialState: initialAgentState, evolve: evolveAgent, decide: decideAgent };
