// A synthetic routing snapshot of the size (by default 5,000 agents in 50 skill groups, 10,000
// waiting contacts), built from a seeded generator so every run decides over the same state.
import type { RoutingSnapshot } from '../../src/domain/routing/assign.ts';
import type { RoutableAgent, SkillGroupRouting, WaitingContact } from '../../src/domain/routing/routing-state.ts';
import type { Channel, RoutingStrategy } from '../../src/domain/skill-group/skill-group.ts';

/** mulberry32: a small seeded generator, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SnapshotSize {
  agents: number;
  groups: number;
  waiting: number;
  seed: number;
}

export interface Snapshot extends RoutingSnapshot {
  /** The decision time every measurement uses. */
  now: string;
  /** Memberships over all groups (an agent in 3 groups counts 3 times). */
  memberships: number;
  strategies: Record<string, number>;
}

/** The time of the decision; everything in the snapshot happened in the two hours before it. */
export const snapshotNow = '2026-03-02T10:00:00.000Z';

const phoneStrategies: RoutingStrategy[] = ['RING_ALL', 'LONGEST_IDLE', 'FEWEST_CONTACTS', 'LEAST_TALK_TIME', 'ROUND_ROBIN', 'RANDOM', 'SKILL_LEVEL'];
const onlineStrategies: RoutingStrategy[] = ['SATURATION', 'LONGEST_IDLE', 'SATURATION', 'FEWEST_CONTACTS', 'SATURATION', 'ROUND_ROBIN', 'SKILL_LEVEL', 'RANDOM'];
const avStrategies: RoutingStrategy[] = ['LONGEST_IDLE', 'SKILL_LEVEL', 'ROUND_ROBIN', 'RANDOM', 'LEAST_TALK_TIME'];

/**
 * Channel and strategy of group i: 40% PHONE (RING_ALL every 7th), 40% ONLINE (SATURATION in 3 of 8, chats
 * up to 2-5 at once), 20% AV. Every strategy occurs.
 */
function groupShape(i: number, groups: number, random: () => number): { channel: Channel; strategy: RoutingStrategy; maxConcurrency: number } {
  const phone = Math.round(groups * 0.4);
  const online = Math.round(groups * 0.4);
  if (i < phone) return { channel: 'PHONE', strategy: phoneStrategies[i % phoneStrategies.length]!, maxConcurrency: 1 };
  if (i < phone + online) {
    const j = i - phone;
    return { channel: 'ONLINE', strategy: onlineStrategies[j % onlineStrategies.length]!, maxConcurrency: 2 + Math.floor(random() * 4) };
  }
  return { channel: 'AV', strategy: avStrategies[(i - phone - online) % avStrategies.length]!, maxConcurrency: 1 };
}

export function buildSnapshot(size: SnapshotSize): Snapshot {
  const random = seededRandom(size.seed);
  const nowMs = Date.parse(snapshotNow);
  const iso = (msBefore: number) => new Date(nowMs - Math.floor(msBefore)).toISOString();
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

  const shapes = Array.from({ length: size.groups }, (_, i) => ({ id: `sg-${String(i).padStart(2, '0')}`, ...groupShape(i, size.groups, random) }));
  const members = shapes.map(() => new Map<string, number>());
  const agents = new Map<string, RoutableAgent>();
  let memberships = 0;
  for (let i = 0; i < size.agents; i++) {
    const agentId = `agent-${String(i).padStart(5, '0')}`;
    // 1 to 3 distinct groups.
    const count = 1 + Math.floor(random() * 3);
    const chosen = new Set<number>();
    while (chosen.size < Math.min(count, size.groups)) chosen.add(Math.floor(random() * size.groups));
    for (const g of chosen) {
      members[g]!.set(agentId, 1 + Math.floor(random() * 5));
      memberships++;
    }
    // A line (phone or AV) is busy for 40% of agents; chats held 0-4.
    const lineBusy = random() < 0.4;
    agents.set(agentId, {
      agentId,
      available: random() < 0.75,
      held: { PHONE: lineBusy && random() < 0.7 ? 1 : 0, AV: 0, ONLINE: Math.floor(random() * 5) },
      idleSince: iso(random() * 2 * 3600_000),
      contactsToday: Math.floor(random() * 40),
      talkSecondsToday: Math.floor(random() * 20_000),
      lastOfferedAt: random() < 0.1 ? null : iso(random() * 2 * 3600_000),
    });
    if (lineBusy && agents.get(agentId)!.held.PHONE === 0) agents.get(agentId)!.held.AV = 1;
  }
  const groups = new Map<string, SkillGroupRouting>();
  const strategies: Record<string, number> = {};
  shapes.forEach((s, i) => {
    groups.set(s.id, { skillGroupId: s.id, channel: s.channel, strategy: s.strategy, maxConcurrency: s.maxConcurrency, members: members[i]! });
    strategies[s.strategy] = (strategies[s.strategy] ?? 0) + 1;
  });

  const waiting: WaitingContact[] = [];
  for (let i = 0; i < size.waiting; i++) {
    const shape = pick(shapes);
    const groupMembers = [...members[shapes.indexOf(shape)]!.keys()];
    const r = random();
    const tried = random() < 0.1 && groupMembers.length > 0 ? [pick(groupMembers), ...(random() < 0.3 ? [pick(groupMembers)] : [])] : [];
    waiting.push({
      contactId: `contact-${String(i).padStart(6, '0')}`,
      channel: shape.channel,
      skillGroupId: shape.id,
      priority: r < 0.8 ? 0 : r < 0.95 ? 1 : 2,
      queuedAt: iso(random() * 1800_000),
      sequence: i + 1,
      customerKey: `PHONE:+86138${String(Math.floor(random() * 1e8)).padStart(8, '0')}`,
      triedAgentIds: tried,
      // Last agent first (PH-12) for 5% of contacts, with 20 s still to wait.
      preferredAgent: random() < 0.05 && groupMembers.length > 0 ? { agentId: pick(groupMembers), until: new Date(nowMs + 20_000).toISOString() } : null,
    });
  }
  return { groups, agents, waiting, now: snapshotNow, memberships, strategies };
}
