// Small builders for routing specifications: a free agent idle since 09:00, a PHONE group, a contact
// queued at 10:00. Each example overrides only what it is about.
import type { RoutableAgent, SkillGroupRouting, WaitingContact } from '../../src/domain/routing/routing-state.ts';
import type { RoutingContext } from '../../src/domain/routing/select-agent.ts';
import type { RoutingStrategy } from '../../src/domain/skill-group/skill-group.ts';

export const now = '2025-03-01T10:05:00.000Z';

/** ISO time on the example day, e.g. at('09:30') or at('10:00:00.001'). */
export const at = (time: string): string => new Date(`2025-03-01T${time}Z`).toISOString();

export const ctx = (overrides: Partial<RoutingContext> = {}): RoutingContext => ({ now, random: () => 0, ...overrides });

export const agent = (agentId: string, overrides: Partial<RoutableAgent> = {}): RoutableAgent => ({
  agentId,
  available: true,
  held: { PHONE: 0, ONLINE: 0, AV: 0 },
  idleSince: at('09:00'),
  contactsToday: 0,
  talkSecondsToday: 0,
  lastOfferedAt: null,
  ...overrides,
});

export const agentsOf = (...agents: RoutableAgent[]): Map<string, RoutableAgent> => new Map(agents.map((a) => [a.agentId, a]));

/** Members at level 1 unless given as [agentId, level]. */
export const group = (
  strategy: RoutingStrategy,
  members: (string | [string, number])[],
  overrides: Partial<Omit<SkillGroupRouting, 'strategy' | 'members'>> = {},
): SkillGroupRouting => ({
  skillGroupId: 'sg-1',
  channel: 'PHONE',
  maxConcurrency: 1,
  ...overrides,
  strategy,
  members: new Map(members.map((m): [string, number] => (typeof m === 'string' ? [m, 1] : m))),
});

export const contact = (contactId: string, overrides: Partial<WaitingContact> = {}): WaitingContact => ({
  contactId,
  channel: 'PHONE',
  skillGroupId: 'sg-1',
  priority: 0,
  queuedAt: at('10:00'),
  sequence: 1,
  customerKey: `customer-of-${contactId}`,
  triedAgentIds: [],
  preferredAgent: null,
  ...overrides,
});
