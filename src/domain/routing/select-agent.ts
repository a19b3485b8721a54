// Who gets a waiting contact: eligible members of its skill group (available, with room on the group's
// channel), ranked by the group's strategy; agents who already missed or declined the contact only when
// no one else is eligible; and last agent first (PH-12) ahead of the strategy while the wait lasts.
import type { RoutingStrategy } from '../skill-group/skill-group.ts';
import { hasCapacity, load } from './capacity.ts';
import type { RoutableAgent, SkillGroupRouting, WaitingContact } from './routing-state.ts';

/** Time and randomness come in from outside: the domain reads no clock and calls no Math.random. */
export interface RoutingContext {
  /** ISO time of the decision. */
  now: string;
  /** Uniform in [0, 1), for RANDOM. */
  random: () => number;
}

export type OfferChoice =
  | { kind: 'offer'; agentIds: string[] }
  /** Last agent first: the customer's last agent is available but busy, and the wait has not run out. */
  | { kind: 'waitForPreferredAgent'; agentId: string }
  | { kind: 'noEligibleAgent' };

interface Candidate {
  agentId: string;
  agent: RoutableAgent;
  level: number;
  idleSince: number;
}

type Ranking = (a: Candidate, b: Candidate, group: SkillGroupRouting) => number;

// Explicit comparison rather than subtraction: never-offered agents rank at -Infinity, and
// -Infinity - -Infinity is NaN.
const ascending = (x: number, y: number): number => (x < y ? -1 : x > y ? 1 : 0);
const byAgentId = (a: Candidate, b: Candidate): number => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0);
const longestIdle = (a: Candidate, b: Candidate): number => ascending(a.idleSince, b.idleSince);
const lastOffered = (agent: RoutableAgent): number =>
  agent.lastOfferedAt === null ? Number.NEGATIVE_INFINITY : Date.parse(agent.lastOfferedAt);

const rankings: Record<Exclude<RoutingStrategy, 'RANDOM'>, Ranking> = {
  LONGEST_IDLE: longestIdle,
  FEWEST_CONTACTS: (a, b) => ascending(a.agent.contactsToday, b.agent.contactsToday) || longestIdle(a, b),
  LEAST_TALK_TIME: (a, b) => ascending(a.agent.talkSecondsToday, b.agent.talkSecondsToday) || longestIdle(a, b),
  ROUND_ROBIN: (a, b) => ascending(lastOffered(a.agent), lastOffered(b.agent)),
  SKILL_LEVEL: (a, b) => ascending(a.level, b.level) || longestIdle(a, b),
  // Every eligible agent rings; the order only decides the order of the offers.
  RING_ALL: longestIdle,
  SATURATION: (a, b, group) =>
    ascending(load(a.agent, group.channel, group.maxConcurrency), load(b.agent, group.channel, group.maxConcurrency)) ||
    longestIdle(a, b),
};

function eligibleCandidates(group: SkillGroupRouting, agents: ReadonlyMap<string, RoutableAgent>): Candidate[] {
  const candidates: Candidate[] = [];
  for (const [agentId, level] of group.members) {
    const agent = agents.get(agentId);
    if (agent && hasCapacity(agent, group.channel, group.maxConcurrency)) {
      candidates.push({ agentId, agent, level, idleSince: Date.parse(agent.idleSince) });
    }
  }
  return candidates;
}

/**
 * PH-12: while the wait lasts, the customer's last agent gets the contact if they can take it, and the
 * contact waits for them if they are available but busy. An agent who is away or no longer a member, or
 * who already missed or declined this contact, is not waited for: the strategy applies.
 */
function lastAgentFirst(
  group: SkillGroupRouting,
  contact: WaitingContact,
  agents: ReadonlyMap<string, RoutableAgent>,
  now: string,
): OfferChoice | undefined {
  const preferred = contact.preferredAgent;
  if (!preferred || !(Date.parse(now) < Date.parse(preferred.until))) return undefined;
  if (!group.members.has(preferred.agentId) || contact.triedAgentIds.includes(preferred.agentId)) return undefined;
  const agent = agents.get(preferred.agentId);
  if (!agent?.available) return undefined;
  return hasCapacity(agent, group.channel, group.maxConcurrency)
    ? { kind: 'offer', agentIds: [preferred.agentId] }
    : { kind: 'waitForPreferredAgent', agentId: preferred.agentId };
}

/** The whole decision for one contact, with the reason when no offer is made (the router needs it). */
export function chooseOffer(
  group: SkillGroupRouting,
  contact: WaitingContact,
  agents: ReadonlyMap<string, RoutableAgent>,
  ctx: RoutingContext,
): OfferChoice {
  const preferred = lastAgentFirst(group, contact, agents, ctx.now);
  if (preferred) return preferred;

  const eligible = eligibleCandidates(group, agents);
  if (eligible.length === 0) return { kind: 'noEligibleAgent' };
  const tried = new Set(contact.triedAgentIds);
  const untried = eligible.filter((candidate) => !tried.has(candidate.agentId));
  const pool = untried.length > 0 ? untried : eligible;

  if (group.strategy === 'RANDOM') {
    // Sorted first so that the same random number picks the same agent whatever the map order.
    pool.sort(byAgentId);
    const index = Math.min(pool.length - 1, Math.max(0, Math.floor(ctx.random() * pool.length)));
    return { kind: 'offer', agentIds: [(pool[index] as Candidate).agentId] };
  }

  const ranking = rankings[group.strategy];
  const compare = (a: Candidate, b: Candidate): number => ranking(a, b, group) || byAgentId(a, b);
  if (group.strategy === 'RING_ALL') return { kind: 'offer', agentIds: pool.sort(compare).map((c) => c.agentId) };

  let best = pool[0] as Candidate;
  for (const candidate of pool) if (compare(candidate, best) < 0) best = candidate;
  return { kind: 'offer', agentIds: [best.agentId] };
}

/**
 * The agents to offer the contact to, in order, or [] when it must wait: one agent for every strategy
 * except RING_ALL, which offers to all of them (the first to accept wins).
 */
export function selectAgents(
  group: SkillGroupRouting,
  contact: WaitingContact,
  agents: ReadonlyMap<string, RoutableAgent>,
  ctx: RoutingContext,
): string[] {
  const choice = chooseOffer(group, contact, agents, ctx);
  return choice.kind === 'offer' ? choice.agentIds : [];
}
