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

/** How a group's queue behaves beyond choosing an agent. Groups created before an option existed get its default. */
export interface RoutingOptions {
  /** OL-3: an offer is connected without the agent accepting. */
  autoAccept: boolean;
  /** PH-12: a returning customer waits this long for the agent who served them last (0: off). */
  lastAgentFirstSeconds: number;
  /** Contacts that may wait at once; one more is rejected QUEUE_FULL (0: no limit). */
  maxQueueLength: number;
  /** Longest wait; then overflow to overflowSkillGroupId, or reject QUEUE_TIMEOUT (0: no limit). */
  maxWaitSeconds: number;
  overflowSkillGroupId: string | null;
  /** With no member online: keep waiting, or reject NO_AGENT. */
  whenNoAgentOnline: 'WAIT' | 'REJECT';
  /** An agent who lets an offer ring out goes on break "Missed". */
  breakAfterMissedOffer: boolean;
  /** OL-8: a chat ends this long after the agent's last message if the customer has not replied (0: off). */
  chatIdleEndSeconds: number;
  /** PHONE: when the serving agent's device vanishes mid-call (a closed browser), end the call or put it back in this group's queue. */
  onAgentDeviceLost: AgentDeviceLost;
}

export const agentDeviceLostOptions = ['END', 'REQUEUE'] as const;
export type AgentDeviceLost = (typeof agentDeviceLostOptions)[number];

export const defaultRoutingOptions: RoutingOptions = {
  autoAccept: false,
  lastAgentFirstSeconds: 0,
  maxQueueLength: 0,
  maxWaitSeconds: 0,
  overflowSkillGroupId: null,
  whenNoAgentOnline: 'WAIT',
  breakAfterMissedOffer: false,
  chatIdleEndSeconds: 0,
  onAgentDeviceLost: 'END',
};

export interface SkillGroupSettings extends Partial<RoutingOptions> {
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
  | DomainEvent<'SkillGroupMemberRemoved', { agentId: string }>
  /** PH-2: the numbers this group's agents call out from (the first is the default). */
  | DomainEvent<'SkillGroupOutboundNumbersSet', { numbers: string[] }>;

export interface ActiveSkillGroup extends Omit<SkillGroupSettings, keyof RoutingOptions>, RoutingOptions {
  status: 'active';
  id: string;
  /** agentId → level (1 is the highest skill). */
  members: Map<string, number>;
  /** PH-2 outbound numbers; absent until first set (none). */
  outboundNumbers?: string[];
}

export type SkillGroupState = { status: 'none' } | ActiveSkillGroup | { status: 'deleted'; id: string };

export const initialSkillGroupState = (): SkillGroupState => ({ status: 'none' });

export function evolveSkillGroup(state: SkillGroupState, event: SkillGroupEvent): SkillGroupState {
  if (event.type === 'SkillGroupCreated') {
    const { skillGroupId, ...settings } = event.data;
    return { status: 'active', id: skillGroupId, ...defaultRoutingOptions, ...settings, members: new Map() };
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
    case 'SkillGroupOutboundNumbersSet':
      return { ...state, outboundNumbers: event.data.numbers };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
