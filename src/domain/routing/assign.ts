// One routing pass: every waiting contact, in queue order, gets an offer if its group has an eligible
// agent. The pass reserves as it goes on its own copy of the agents, so one pass never offers an agent
// beyond capacity, and it offers each contact at most once.
import type { Channel } from '../skill-group/skill-group.ts';
import { orderQueue } from './queue-order.ts';
import type { RoutableAgent, SkillGroupRouting, WaitingContact } from './routing-state.ts';
import type { RoutingContext } from './select-agent.ts';
import { chooseOffer } from './select-agent.ts';

export interface RoutingSnapshot {
  groups: ReadonlyMap<string, SkillGroupRouting>;
  agents: ReadonlyMap<string, RoutableAgent>;
  waiting: readonly WaitingContact[];
}

export interface Assignment {
  contactId: string;
  skillGroupId: string;
  /** One agent, or every ringing agent for RING_ALL. */
  agentIds: string[];
}

/** The agent as the rest of the pass sees them once offered a contact: holding it, just offered, no longer idle. */
function reserve(agent: RoutableAgent, channel: Channel, now: string): RoutableAgent {
  return {
    ...agent,
    held: { ...agent.held, [channel]: agent.held[channel] + 1 },
    lastOfferedAt: now,
    idleSince: Date.parse(agent.idleSince) < Date.parse(now) ? now : agent.idleSince,
  };
}

/**
 * Offers for the waiting contacts, in the order they are to be made. All groups' contacts are walked in
 * one queue order (priority, then age), so the oldest contact anywhere comes first for an agent in two
 * groups. Within a group nobody overtakes: once a contact finds no eligible agent its group is done for
 * this pass (the pool only shrinks as the pass goes on). A contact that waits for its last agent
 * (PH-12) does not hold the others up.
 */
export function assignWaiting(state: RoutingSnapshot, ctx: RoutingContext): Assignment[] {
  // Nobody available (a queue with every agent away, or none yet): no contact can be offered, so the queue is not even ordered.
  if (![...state.agents.values()].some((a) => a.available)) return [];
  const agents = new Map(state.agents);
  const exhaustedGroups = new Set<string>();
  const offered = new Set<string>();
  const assignments: Assignment[] = [];

  for (const contact of orderQueue(state.waiting)) {
    const skillGroupId = contact.skillGroupId;
    if (offered.has(contact.contactId) || exhaustedGroups.has(skillGroupId)) continue;
    const group = state.groups.get(skillGroupId);
    if (!group) continue;

    const choice = chooseOffer(group, contact, agents, ctx);
    if (choice.kind === 'noEligibleAgent') exhaustedGroups.add(skillGroupId);
    if (choice.kind !== 'offer') continue;

    offered.add(contact.contactId);
    for (const agentId of choice.agentIds) {
      const agent = agents.get(agentId);
      if (agent) agents.set(agentId, reserve(agent, group.channel, ctx.now));
    }
    assignments.push({ contactId: contact.contactId, skillGroupId, agentIds: choice.agentIds });
  }
  return assignments;
}
