// What the router knows when it decides who gets which waiting contact. Pure data: the router process
// builds it from events; selection (select-agent.ts) and queue order (queue-order.ts) are pure functions
// of it, so they are tested without I/O, by example and by property.
import type { Channel, RoutingStrategy } from '../skill-group/skill-group.ts';

export interface WaitingContact {
  contactId: string;
  channel: Channel;
  skillGroupId: string;
  /** Higher first. */
  priority: number;
  /** ISO time the contact joined this queue; a contact that went back after a missed offer keeps it. */
  queuedAt: string;
  /** Tie-break for contacts queued in the same millisecond: the global order of their ContactQueued events. */
  sequence: number;
  /** The customer's identity, for last-agent-first. */
  customerKey: string;
  /** Agents that already missed or declined this contact: tried last, after everyone else. */
  triedAgentIds: readonly string[];
  /** PH-12: the agent who served this customer last, and until when to wait for them. */
  preferredAgent?: { agentId: string; until: string } | null;
}

export interface RoutableAgent {
  agentId: string;
  /** Only AVAILABLE agents with no wrap-up and not forced offline are routable; others are not listed. */
  available: boolean;
  /** Contacts held (offered or connected) by channel. */
  held: Record<Channel, number>;
  /** ISO time since which the agent has held no contact of any channel (for LONGEST_IDLE). */
  idleSince: string;
  /** Contacts handled today (FEWEST_CONTACTS). */
  contactsToday: number;
  /** Seconds talked today (LEAST_TALK_TIME). */
  talkSecondsToday: number;
  /** ISO time of the last offer made to this agent (ROUND_ROBIN). null if never. */
  lastOfferedAt: string | null;
  /** PH-3: offline but answering on the mobile: routable for PHONE contacts only. */
  phoneOnly?: boolean;
}

export interface SkillGroupRouting {
  skillGroupId: string;
  channel: Channel;
  strategy: RoutingStrategy;
  maxConcurrency: number;
  /** agentId → level, 1 highest. */
  members: ReadonlyMap<string, number>;
}
