import type { DomainEvent } from '../decider.ts';

export type Channel = 'PHONE' | 'ONLINE' | 'AV';
export const routingStrategies = [
  'LONGEST_IDLE',
  'FEWEST_CONTACTS',
  'LEAST_TALK_TIME',
  'ROUND_ROBIN',
  'RANDOM',
  'SKILL_LEVEL',
  'RING_ALL',
  'SATURATION',
] as const;
export type RoutingStrategy = (typeof routingStrategies)[number];

export interface SkillGroupSettings {
  name: string;
  channel: Channel;
  strategy: RoutingStrategy;
  /** The most contacts of this group one agent holds at once: 1 for PHONE and AV, N chats for ONLINE (OL-10). */
  maxConcurrency: number;
  ringTimeoutSeconds: number;
  wrapUpSeconds: number;
}

export type SkillGroupEvent =
  | DomainEvent<'SkillGroupCreated', SkillGroupSettings & { skillGroupId: string }>
  | DomainEvent<'SkillGroupUpdated', Partial<Omit<SkillGroupSettings, 'channel'>>>
  | DomainEvent<'SkillGroupDeleted', Record<string, never>>
  | DomainEvent<'SkillGroupMemberAdded', { agentId: string; level: number }>
  | DomainEvent<'SkillGroupMemberLevelChanged', { agentId: string; level: number }>
  | DomainEvent<'SkillGroupMemberRemoved', { agentId: string }>;

export interface ActiveSkillGroup extends SkillGroupSettings {
  status: 'active';
  id: string;
  /** agentId → level (1 is the highest skill). */
  members: Map<string, number>;
}

export type SkillGroupState = { status: 'none' } | ActiveSkillGroup | { status: 'deleted'; id: string };

export const initialSkillGroupState = (): SkillGroupState => ({ status: 'none' });

export function evolveSkillGroup(state: SkillGroupState, event: SkillGroupEvent): SkillGroupState {
  if (event.type === 'SkillGroupCreated') {
    const { skillGroupId, ...settings } = event.data;
    return { status: 'active', id: skillGroupId, ...settings, members: new Map() };
  }
  if (state.status !== 'active') return state;
  switch (event.type) {
    case 'SkillGroupUpdated':
      return { ...state, ...event.data };
    case 'SkillGroupDeleted':
      return { status: 'deleted', id: state.id };
    case 'SkillGroupMemberAdded':
    case 'SkillGroupMemberLevelChanged': {
      const members = new Map(state.members);
      members.set(event.data.agentId, event.data.level);
      return { ...state, members };
    }
    case 'SkillGroupMemberRemoved': {
      const members = new Map(state.members);
      members.delete(event.data.agentId);
      return { ...state, members };
    }
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
