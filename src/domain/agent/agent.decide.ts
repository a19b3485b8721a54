import type { CommandMetadata } from '../decider.ts';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.ts';
import type { Channel } from '../skill-group/skill-group.ts';
import type { ActiveAgent, AgentEvent, AgentRole, AgentState, MobileAnswering, PresenceChoice, ReservationEnd } from './agent.ts';
import { answersOfflineOnMobile, evolveAgent, hasRoomFor, initialAgentState } from './agent.ts';

function addSeconds(iso: string, seconds: number): string {
  return new Date(Date.parse(iso) + seconds * 1000).toISOString();
}

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
  | { type: 'RestoreAgent'; data: { agentId: string }; metadata: CommandMetadata }
  | {
      type: 'ReserveAgent';
      data: { agentId: string; contactId: string; offerId: string; channel: Channel; skillGroupId: string; maxConcurrency: number; expiresAt: string };
      metadata: CommandMetadata;
    }
  | {
      type: 'ReleaseReservation';
      /** breakReason: put the agent on break in the same decision (a missed offer, when the group says so). */
      data: { agentId: string; contactId: string; offerId: string; reason: ReservationEnd; breakReason?: string | null };
      metadata: CommandMetadata;
    }
  | { type: 'ConnectContact'; data: { agentId: string; contactId: string }; metadata: CommandMetadata }
  | { type: 'FinishContact'; data: { agentId: string; contactId: string; wrapUpSeconds: number }; metadata: CommandMetadata }
  | { type: 'ExtendWrapUp'; data: { agentId: string; seconds: number }; metadata: CommandMetadata }
  | { type: 'EndWrapUp'; data: { agentId: string; contactId: string | null }; metadata: CommandMetadata }
  | { type: 'SetMobileAnswering'; data: { agentId: string } & MobileAnswering; metadata: CommandMetadata }
  /** PH-2: the agent starts an outbound call; it holds their phone line like an offer, connected once the contact is theirs. */
  | { type: 'TakeOutboundCall'; data: { agentId: string; contactId: string; skillGroupId: string | null; expiresAt: string }; metadata: CommandMetadata };

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
    case 'ReserveAgent': {
      const agent = active(state, command.data.agentId);
      const { contactId, offerId, channel, skillGroupId, maxConcurrency, expiresAt } = command.data;
      const held = agent.workload.contacts[contactId];
      if (held?.offerId === offerId) return [];
      if (held) throw new ConflictError(`Agent ${agent.id} already holds contact ${contactId}`);
      const onMobile = channel === 'PHONE' && answersOfflineOnMobile(agent);
      if (agent.forcedOffline || (agent.presence !== 'AVAILABLE' && !onMobile)) {
        throw new ConflictError(`Agent ${agent.id} is ${agent.forcedOffline ? 'forced offline' : agent.presence.toLowerCase()} and gets no offers`);
      }
      if (agent.workload.wrapUp && Date.parse(command.metadata.now) < Date.parse(agent.workload.wrapUp.until)) {
        throw new ConflictError(`Agent ${agent.id} is in after-call work until ${agent.workload.wrapUp.until}`);
      }
      if (!hasRoomFor(agent.workload, channel, maxConcurrency)) throw new ConflictError(`Agent ${agent.id} has no room for another ${channel} contact`);
      return [{ type: 'AgentReserved', data: { contactId, offerId, channel, skillGroupId, expiresAt } }];
    }
    case 'ReleaseReservation': {
      const agent = active(state, command.data.agentId);
      const held = agent.workload.contacts[command.data.contactId];
      // Only the reservation it names, and only while it is still an offer.
      if (!held || held.offerId !== command.data.offerId || held.state !== 'offered') return [];
      const events: AgentEvent[] = [
        { type: 'AgentReservationReleased', data: { contactId: command.data.contactId, offerId: held.offerId, reason: command.data.reason } },
      ];
      if (command.data.breakReason && agent.presence === 'AVAILABLE' && !agent.forcedOffline) {
        events.push({ type: 'AgentWentOnBreak', data: { reason: command.data.breakReason } });
      }
      return events;
    }
    case 'ConnectContact': {
      const agent = active(state, command.data.agentId);
      const held = agent.workload.contacts[command.data.contactId];
      if (!held) throw new ConflictError(`Agent ${agent.id} holds no offer of contact ${command.data.contactId}`);
      if (held.state === 'connected') return [];
      return [{ type: 'AgentContactConnected', data: { contactId: command.data.contactId, at: command.metadata.now } }];
    }
    case 'FinishContact': {
      const agent = active(state, command.data.agentId);
      const held = agent.workload.contacts[command.data.contactId];
      if (!held) return [];
      if (held.state === 'offered') {
        return [{ type: 'AgentReservationReleased', data: { contactId: command.data.contactId, offerId: held.offerId, reason: 'CONTACT_ENDED' } }];
      }
      const events: AgentEvent[] = [{ type: 'AgentContactFinished', data: { contactId: command.data.contactId, at: command.metadata.now } }];
      if (command.data.wrapUpSeconds > 0) {
        events.push({ type: 'AgentWrapUpStarted', data: { contactId: command.data.contactId, until: addSeconds(command.metadata.now, command.data.wrapUpSeconds) } });
      }
      return events;
    }
    case 'ExtendWrapUp': {
      const agent = active(state, command.data.agentId);
      const wrapUp = agent.workload.wrapUp;
      if (!wrapUp) throw new ConflictError(`Agent ${agent.id} is not in after-call work`);
      const from = Date.parse(wrapUp.until) > Date.parse(command.metadata.now) ? wrapUp.until : command.metadata.now;
      return [{ type: 'AgentWrapUpExtended', data: { contactId: wrapUp.contactId, until: addSeconds(from, command.data.seconds) } }];
    }
    case 'EndWrapUp': {
      const agent = active(state, command.data.agentId);
      const wrapUp = agent.workload.wrapUp;
      // The timer names the contact: a wrap-up of a later contact is not ended by an earlier timer.
      if (!wrapUp || (command.data.contactId !== null && wrapUp.contactId !== command.data.contactId)) return [];
      return [{ type: 'AgentWrapUpEnded', data: { contactId: wrapUp.contactId } }];
    }
    case 'SetMobileAnswering': {
      const agent = active(state, command.data.agentId);
      const { mode, mobileNumber } = command.data;
      if (mode !== 'NEVER' && !mobileNumber) throw new ValidationError('mobileNumber', `a mobile number is needed to answer on the mobile (${mode})`);
      const current = agent.mobileAnswering ?? { mode: 'NEVER', mobileNumber: null };
      if (current.mode === mode && current.mobileNumber === mobileNumber) return [];
      return [{ type: 'AgentMobileAnsweringSet', data: { mode, mobileNumber } }];
    }
    case 'TakeOutboundCall': {
      const agent = active(state, command.data.agentId);
      const { contactId, skillGroupId, expiresAt } = command.data;
      const held = agent.workload.contacts[contactId];
      if (held?.offerId === contactId) return [];
      if (agent.forcedOffline) throw new ForbiddenError(`Agent ${agent.id} was forced offline (${agent.forcedOffline.reason}) and cannot make calls`);
      if (!hasRoomFor(agent.workload, 'PHONE', 1)) throw new ConflictError(`Agent ${agent.id} is already on a call`);
      // No skill group: the held contact names none (no after-call work settings apply).
      return [{ type: 'AgentReserved', data: { contactId, offerId: contactId, channel: 'PHONE', skillGroupId: skillGroupId ?? '', expiresAt } }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const agentDecider = { initialState: initialAgentState, evolve: evolveAgent, decide: decideAgent };
