import type { CommandMetadata } from '../decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { ActiveSkillGroup, SkillGroupEvent, SkillGroupSettings, SkillGroupState } from './skill-group.ts';
import { evolveSkillGroup, initialSkillGroupState } from './skill-group.ts';

export type SkillGroupCommand =
  | { type: 'CreateSkillGroup'; data: SkillGroupSettings & { skillGroupId: string }; metadata: CommandMetadata }
  | { type: 'UpdateSkillGroup'; data: Partial<Omit<SkillGroupSettings, 'channel'>> & { skillGroupId: string }; metadata: CommandMetadata }
  | { type: 'DeleteSkillGroup'; data: { skillGroupId: string }; metadata: CommandMetadata }
  | { type: 'SetSkillGroupMember'; data: { skillGroupId: string; agentId: string; level: number }; metadata: CommandMetadata }
  | { type: 'RemoveSkillGroupMember'; data: { skillGroupId: string; agentId: string }; metadata: CommandMetadata }
  /** `numbers` normalized and bound to the instance (the API checks that); the order is kept, duplicates dropped. */
  | { type: 'SetSkillGroupOutboundNumbers'; data: { skillGroupId: string; numbers: string[] }; metadata: CommandMetadata };

function active(state: SkillGroupState, id: string): ActiveSkillGroup {
  if (state.status !== 'active') throw new NotFoundError('Skill group', id);
  return state;
}

/** Rules that tie settings together; field-level checks (ranges, names) are done by the API's zod schemas. */
export function checkSkillGroupSettings(s: SkillGroupSettings & { skillGroupId?: string; id?: string }): void {
  const self = s.skillGroupId ?? s.id;
  if (s.overflowSkillGroupId && s.overflowSkillGroupId === self) throw new ValidationError('overflowSkillGroupId', 'a skill group cannot overflow into itself');
  if (s.strategy === 'RING_ALL' && s.channel !== 'PHONE') throw new ValidationError('strategy', 'RING_ALL is for PHONE skill groups');
  if (s.strategy === 'SATURATION' && s.channel !== 'ONLINE') throw new ValidationError('strategy', 'SATURATION is for ONLINE skill groups');
  // Calls (PHONE, and customers' AV calls, issue 14) go back to the queue; a chat has no device to lose.
  if (s.onAgentDeviceLost === 'REQUEUE' && s.channel === 'ONLINE') throw new ValidationError('onAgentDeviceLost', 'REQUEUE is for PHONE and AV skill groups');
  if (s.autoAccept && s.strategy === 'RING_ALL') throw new ValidationError('autoAccept', 'RING_ALL rings several agents; one of them must answer');
  if (s.channel !== 'ONLINE' && s.maxConcurrency !== 1) {
    throw new ValidationError('maxConcurrency', `${s.channel} agents hold one contact at a time; maxConcurrency must be 1`);
  }
}

export function decideSkillGroup(command: SkillGroupCommand, state: SkillGroupState): SkillGroupEvent[] {
  switch (command.type) {
    case 'CreateSkillGroup': {
      if (state.status !== 'none') throw new ConflictError(`Skill group ${command.data.skillGroupId} already exists`);
      checkSkillGroupSettings(command.data);
      return [{ type: 'SkillGroupCreated', data: command.data }];
    }
    case 'UpdateSkillGroup': {
      const group = active(state, command.data.skillGroupId);
      const { skillGroupId: _id, ...wanted } = command.data;
      const changes: Partial<Omit<SkillGroupSettings, 'channel'>> = {};
      for (const [key, value] of Object.entries(wanted) as [keyof typeof wanted, never][]) {
        if (value !== undefined && group[key] !== value) changes[key] = value;
      }
      if (Object.keys(changes).length === 0) return [];
      checkSkillGroupSettings({ ...group, ...changes });
      return [{ type: 'SkillGroupUpdated', data: changes }];
    }
    case 'DeleteSkillGroup': {
      if (state.status === 'deleted') return [];
      active(state, command.data.skillGroupId);
      return [{ type: 'SkillGroupDeleted', data: {} }];
    }
    case 'SetSkillGroupMember': {
      const group = active(state, command.data.skillGroupId);
      const current = group.members.get(command.data.agentId);
      if (current === command.data.level) return [];
      const data = { agentId: command.data.agentId, level: command.data.level };
      return [current === undefined ? { type: 'SkillGroupMemberAdded', data } : { type: 'SkillGroupMemberLevelChanged', data }];
    }
    case 'RemoveSkillGroupMember': {
      const group = active(state, command.data.skillGroupId);
      if (!group.members.has(command.data.agentId)) return [];
      return [{ type: 'SkillGroupMemberRemoved', data: { agentId: command.data.agentId } }];
    }
    case 'SetSkillGroupOutboundNumbers': {
      const group = active(state, command.data.skillGroupId);
      const numbers = [...new Set(command.data.numbers)];
      if (numbers.length > 0 && group.channel !== 'PHONE') throw new ValidationError('numbers', `outbound numbers are for PHONE skill groups; this one is ${group.channel}`);
      const current = group.outboundNumbers ?? [];
      if (current.length === numbers.length && current.every((n, i) => n === numbers[i])) return [];
      return [{ type: 'SkillGroupOutboundNumbersSet', data: { numbers } }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`Unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

export const skillGroupDecider = { initialState: initialSkillGroupState, evolve: evolveSkillGroup, decide: decideSkillGroup };
