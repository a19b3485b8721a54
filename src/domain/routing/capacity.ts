// Workload against capacity, apart from presence (STYLE.md): a phone or AV contact occupies the agent's
// one voice/video line, so either blocks the other; chats fill up to the skill group's maxConcurrency.
import type { Channel } from '../skill-group/skill-group.ts';
import type { RoutableAgent } from './routing-state.ts';

/** The contacts that count against the agent's limit for this channel. */
export function heldFor(agent: RoutableAgent, channel: Channel): number {
  return channel === 'ONLINE' ? agent.held.ONLINE : agent.held.PHONE + agent.held.AV;
}

/** How many contacts of this channel an agent may hold at once: one line for PHONE and AV, N chats. */
export function channelLimit(channel: Channel, maxConcurrency: number): number {
  return channel === 'ONLINE' ? maxConcurrency : 1;
}

export function hasCapacity(agent: RoutableAgent, channel: Channel, maxConcurrency: number): boolean {
  if (!agent.available || (agent.phoneOnly && channel !== 'PHONE')) return false;
  return heldFor(agent, channel) < channelLimit(channel, maxConcurrency);
}

/** held / limit, for SATURATION; an agent with no room at all counts as fully loaded. */
export function load(agent: RoutableAgent, channel: Channel, maxConcurrency: number): number {
  const limit = channelLimit(channel, maxConcurrency);
  const held = heldFor(agent, channel);
  return limit > 0 ? held / limit : Number.POSITIVE_INFINITY;
}
