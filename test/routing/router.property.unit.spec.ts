// The router under random traffic: random skill groups and agents, arrivals with priorities and times,
// then routing passes mixed with accepts, declines, ring timeouts, presence changes, abandoned and ended
// contacts. A small model plays the rest of the contact center; after every pass the invariants of issue 3
// are checked: no agent over capacity, no contact offered twice at once, first come first served, and
// every contact ends or still waits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Assignment } from '../../src/domain/routing/assign.ts';
import { assignWaiting } from '../../src/domain/routing/assign.ts';
import type { RoutableAgent, SkillGroupRouting, WaitingContact } from '../../src/domain/routing/routing-state.ts';
import type { Channel, RoutingStrategy } from '../../src/domain/skill-group/skill-group.ts';

// ---- generated scenario -------------------------------------------------------------------------------

const strategiesFor: Record<Channel, RoutingStrategy[]> = {
  PHONE: ['LONGEST_IDLE', 'FEWEST_CONTACTS', 'LEAST_TALK_TIME', 'ROUND_ROBIN', 'RANDOM', 'SKILL_LEVEL', 'RING_ALL'],
  AV: ['LONGEST_IDLE', 'FEWEST_CONTACTS', 'LEAST_TALK_TIME', 'ROUND_ROBIN', 'RANDOM', 'SKILL_LEVEL'],
  ONLINE: ['LONGEST_IDLE', 'FEWEST_CONTACTS', 'LEAST_TALK_TIME', 'ROUND_ROBIN', 'RANDOM', 'SKILL_LEVEL', 'SATURATION'],
};

const groupSpec = fc
  .record({
    channel: fc.constantFrom<Channel>('PHONE', 'ONLINE', 'AV'),
    strategyPick: fc.nat(),
    maxChats: fc.integer({ min: 1, max: 4 }),
    members: fc.array(fc.record({ agent: fc.nat(), level: fc.integer({ min: 1, max: 3 }) }), { maxLength: 6, size: 'max' }),
  })
  .map(({ channel, strategyPick, maxChats, members }) => {
    const strategies = strategiesFor[channel];
    return {
      channel,
      strategy: strategies[strategyPick % strategies.length] as RoutingStrategy,
      maxConcurrency: channel === 'ONLINE' ? maxChats : 1,
      members,
    };
  });

const agentSpec = fc.record({
  available: fc.constantFrom(true, true, true, false),
  line: fc.constantFrom<'none' | 'PHONE' | 'AV'>('none', 'none', 'PHONE', 'AV'),
  chats: fc.integer({ min: 0, max: 3 }),
  idleMinutes: fc.integer({ min: 0, max: 120 }),
  contactsToday: fc.integer({ min: 0, max: 5 }),
  talkSecondsToday: fc.integer({ min: 0, max: 600 }),
  offeredMinutesAgo: fc.option(fc.integer({ min: 0, max: 120 })),
});

const action = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('arrive' as const),
      group: fc.nat(),
      priority: fc.integer({ min: 0, max: 2 }),
      // Often 0 or 1 ms apart: contacts queued in the same millisecond are ordered by sequence.
      afterMs: fc.constantFrom(0, 0, 1, 250, 5000),
      // Events from several API nodes: a contact can be queued a little before the one queued just ahead of it.
      backdatedMs: fc.constantFrom(0, 0, 0, 1, 300),
      // Contact ids whose text order says nothing about the queue order.
      idTag: fc.integer({ min: 0, max: 999 }),
      // The customer's last agent: mostly a member of the group, sometimes anyone.
      lastAgent: fc.option(fc.record({ member: fc.boolean(), agent: fc.nat(), waitSeconds: fc.integer({ min: 1, max: 60 }) })),
    }),
  },
  { weight: 5, arbitrary: fc.constant({ kind: 'route' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('accept' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('decline' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ringTimeout' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('presence' as const), agent: fc.nat(), available: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('end' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abandon' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 90 }) }) },
);
type Action = typeof action extends fc.Arbitrary<infer A> ? A : never;

const scenario = fc.record({
  agents: fc.array(agentSpec, { minLength: 1, maxLength: 6, size: 'max' }),
  groups: fc.array(groupSpec, { minLength: 1, maxLength: 3, size: 'max' }),
  // The router lists only routable agents; with this off, unavailable ones are listed too, flagged.
  listUnavailable: fc.boolean(),
  randomSeed: fc.integer({ min: 1, max: 0x7fffffff }),
  actions: fc.array(action, { minLength: 10, maxLength: 120, size: 'max' }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

// ---- the model of the rest of the contact center ------------------------------------------------------

type Status = 'waiting' | 'offered' | 'connected' | 'ended';

interface ModelContact extends WaitingContact {
  triedAgentIds: string[];
  status: Status;
  ringing: string[];
  agentId: string | null;
  connectedAt: number;
}

const start = Date.parse('2025-03-01T10:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();
/** The queue order, restated here rather than imported, so that the check does not trust the code it checks. */
const queuedAhead = (a: WaitingContact, b: WaitingContact): boolean => {
  if (a.priority !== b.priority) return a.priority > b.priority;
  const [ta, tb] = [Date.parse(a.queuedAt), Date.parse(b.queuedAt)];
  return ta !== tb ? ta < tb : a.sequence < b.sequence;
};
const lineHeld = (agent: RoutableAgent): number => agent.held.PHONE + agent.held.AV;

/** A seeded generator for ctx.random: a 32-bit linear congruential generator (the Numerical Recipes constants). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 0x1_0000_0000;
  };
}

class ContactCenter {
  now = start;
  readonly agents = new Map<string, RoutableAgent>();
  readonly groups = new Map<string, SkillGroupRouting>();
  readonly contacts = new Map<string, ModelContact>();
  /** The most chats an agent may ever hold: what they held at the start or the largest limit of their chat groups. */
  readonly chatCeiling = new Map<string, number>();
  private sequence = 0;
  private readonly random: () => number;
  private readonly s: Scenario;

  constructor(s: Scenario) {
    this.s = s;
    this.random = seededRandom(s.randomSeed);
    s.agents.forEach((spec, i) => {
      const agentId = `agent-${i}`;
      this.agents.set(agentId, {
        agentId,
        available: spec.available,
        held: { PHONE: 0, ONLINE: 0, AV: 0 },
        idleSince: iso(start - spec.idleMinutes * 60_000),
        contactsToday: spec.contactsToday,
        talkSecondsToday: spec.talkSecondsToday,
        lastOfferedAt: spec.offeredMinutesAgo === null ? null : iso(start - spec.offeredMinutesAgo * 60_000),
      });
      // What agents already hold when the scenario starts: contacts routed before, connected.
      if (spec.line !== 'none') this.preExisting(agentId, spec.line);
      for (let n = 0; n < spec.chats; n++) this.preExisting(agentId, 'ONLINE');
      this.chatCeiling.set(agentId, spec.chats);
    });
    s.groups.forEach((spec, i) => {
      const skillGroupId = `group-${i}`;
      const members = new Map(spec.members.map((m): [string, number] => [this.agentAt(m.agent), m.level]));
      this.groups.set(skillGroupId, { skillGroupId, channel: spec.channel, strategy: spec.strategy, maxConcurrency: spec.maxConcurrency, members });
      if (spec.channel === 'ONLINE') {
        for (const agentId of members.keys()) {
          this.chatCeiling.set(agentId, Math.max(this.chatCeiling.get(agentId) ?? 0, spec.maxConcurrency));
        }
      }
    });
  }

  private agentAt(index: number): string {
    return `agent-${index % this.s.agents.length}`;
  }

  private agent(agentId: string): RoutableAgent {
    const agent = this.agents.get(agentId);
    if (!agent) throw new Error(`no agent ${agentId}`);
    return agent;
  }

  private preExisting(agentId: string, channel: Channel): void {
    const contactId = `before-${this.contacts.size}`;
    this.contacts.set(contactId, {
      ...this.newContact(contactId, 'none', channel, 0),
      status: 'connected',
      agentId,
    });
    this.hold(agentId, channel, +1);
  }

  private newContact(contactId: string, skillGroupId: string, channel: Channel, priority: number): ModelContact {
    return {
      contactId,
      channel,
      skillGroupId,
      priority,
      queuedAt: iso(this.now),
      sequence: ++this.sequence,
      customerKey: `customer-${contactId}`,
      triedAgentIds: [],
      preferredAgent: null,
      status: 'waiting',
      ringing: [],
      agentId: null,
      connectedAt: this.now,
    };
  }

  private hold(agentId: string, channel: Channel, delta: 1 | -1): void {
    const agent = this.agent(agentId);
    const held = { ...agent.held, [channel]: agent.held[channel] + delta };
    const free = held.PHONE + held.ONLINE + held.AV === 0;
    this.agents.set(agentId, { ...agent, held, idleSince: free ? iso(this.now) : agent.idleSince });
  }

  private pick(status: Status, n: number): ModelContact | undefined {
    const matching = [...this.contacts.values()].filter((c) => c.status === status);
    return matching[n % Math.max(1, matching.length)];
  }

  /** PH-12: the agent this contact is reserved for right now, if any (wait not over, member, available, not yet tried). */
  private lastAgentFor(contact: WaitingContact): string | null {
    const preferred = contact.preferredAgent;
    if (!preferred || !(this.now < Date.parse(preferred.until))) return null;
    const group = this.groups.get(contact.skillGroupId) as SkillGroupRouting;
    if (!group.members.has(preferred.agentId) || contact.triedAgentIds.includes(preferred.agentId)) return null;
    return this.agents.get(preferred.agentId)?.available ? preferred.agentId : null;
  }

  /** Members who could take a contact of the group right now. */
  private eligibleFor(group: SkillGroupRouting): string[] {
    return [...group.members.keys()].filter((agentId) => {
      const agent = this.agent(agentId);
      const room = group.channel === 'ONLINE' ? agent.held.ONLINE < group.maxConcurrency : lineHeld(agent) === 0;
      return agent.available && room;
    });
  }

  waiting(): ModelContact[] {
    return [...this.contacts.values()].filter((c) => c.status === 'waiting');
  }

  apply(a: Action): void {
    switch (a.kind) {
      case 'arrive': {
        this.now += a.afterMs;
        const skillGroupId = `group-${a.group % this.s.groups.length}`;
        const group = this.groups.get(skillGroupId) as SkillGroupRouting;
        const contact = this.newContact(`contact-${a.idTag}-${this.contacts.size}`, skillGroupId, group.channel, a.priority);
        contact.queuedAt = iso(this.now - a.backdatedMs);
        if (a.lastAgent) {
          const members = [...group.members.keys()];
          const agentId = a.lastAgent.member && members.length > 0 ? (members[a.lastAgent.agent % members.length] as string) : this.agentAt(a.lastAgent.agent);
          contact.preferredAgent = { agentId, until: iso(this.now + a.lastAgent.waitSeconds * 1000) };
        }
        this.contacts.set(contact.contactId, contact);
        return;
      }
      case 'route':
        this.route();
        return;
      case 'accept': {
        const contact = this.pick('offered', a.pick);
        if (!contact) return;
        const winner = contact.ringing[a.pick % contact.ringing.length] as string;
        // The first to accept wins; the other offers of a RING_ALL are withdrawn.
        for (const agentId of contact.ringing) if (agentId !== winner) this.hold(agentId, contact.channel, -1);
        Object.assign(contact, { status: 'connected', agentId: winner, ringing: [], connectedAt: this.now });
        return;
      }
      case 'decline': {
        const contact = this.pick('offered', a.pick);
        if (!contact) return;
        const decliner = contact.ringing[a.pick % contact.ringing.length] as string;
        this.hold(decliner, contact.channel, -1);
        contact.ringing = contact.ringing.filter((id) => id !== decliner);
        contact.triedAgentIds.push(decliner);
        if (contact.ringing.length === 0) contact.status = 'waiting';
        return;
      }
      case 'ringTimeout': {
        const contact = this.pick('offered', a.pick);
        if (!contact) return;
        for (const agentId of contact.ringing) this.hold(agentId, contact.channel, -1);
        contact.triedAgentIds.push(...contact.ringing);
        Object.assign(contact, { status: 'waiting', ringing: [] });
        return;
      }
      case 'presence': {
        const agentId = this.agentAt(a.agent);
        this.agents.set(agentId, { ...this.agent(agentId), available: a.available });
        return;
      }
      case 'end': {
        const contact = this.pick('connected', a.pick);
        if (contact) this.end(contact);
        return;
      }
      case 'abandon': {
        const contact = this.pick('waiting', a.pick);
        if (contact) contact.status = 'ended';
        return;
      }
      case 'tick':
        this.now += a.seconds * 1000;
        return;
      default: {
        const unknown: never = a;
        throw new Error(`unknown action ${JSON.stringify(unknown)}`);
      }
    }
  }

  end(contact: ModelContact): void {
    const agentId = contact.agentId as string;
    this.hold(agentId, contact.channel, -1);
    const agent = this.agent(agentId);
    const talked = Math.round((this.now - contact.connectedAt) / 1000);
    this.agents.set(agentId, { ...agent, contactsToday: agent.contactsToday + 1, talkSecondsToday: agent.talkSecondsToday + talked });
    Object.assign(contact, { status: 'ended', agentId: null });
  }

  /** One routing pass, checked, then its offers made. */
  route(): Assignment[] {
    const waiting = this.waiting().map(({ status: _s, ringing: _r, agentId: _a, connectedAt: _c, ...contact }) => ({
      ...contact,
      triedAgentIds: [...contact.triedAgentIds],
    }));
    const listed = [...this.agents.values()].filter((agent) => agent.available || this.s.listUnavailable);
    const ctx = { now: iso(this.now), random: this.random };
    const assignments = assignWaiting({ groups: this.groups, agents: new Map(listed.map((a) => [a.agentId, a])), waiting }, ctx);

    this.checkFirstComeFirstServed(waiting, assignments);
    const offeredNow = new Set<string>();
    for (const assignment of assignments) {
      const contact = this.contacts.get(assignment.contactId);
      // No contact offered twice at once: only a waiting contact gets an offer, and once per pass.
      expect(contact?.status).toBe('waiting');
      expect(offeredNow.has(assignment.contactId)).toBe(false);
      offeredNow.add(assignment.contactId);
      if (!contact) continue;
      const group = this.groups.get(contact.skillGroupId) as SkillGroupRouting;
      expect(assignment.skillGroupId).toBe(group.skillGroupId);
      expect(assignment.agentIds.length).toBeGreaterThan(0);
      if (group.strategy !== 'RING_ALL') expect(assignment.agentIds).toHaveLength(1);
      expect(new Set(assignment.agentIds).size).toBe(assignment.agentIds.length);
      this.checkWhoIsOffered(contact, group, assignment.agentIds);
      for (const agentId of assignment.agentIds) {
        const agent = this.agent(agentId);
        expect(group.members.has(agentId)).toBe(true);
        expect(agent.available).toBe(true);
        // No agent over capacity: checked against everything already held, this pass's offers included.
        if (group.channel === 'ONLINE') expect(agent.held.ONLINE).toBeLessThan(group.maxConcurrency);
        else expect(lineHeld(agent)).toBe(0);
        this.hold(agentId, contact.channel, +1);
        this.agents.set(agentId, { ...this.agent(agentId), lastOfferedAt: ctx.now });
      }
      Object.assign(contact, { status: 'offered', ringing: [...assignment.agentIds] });
    }
    this.checkNoAgentLeftIdle();
    this.checkState();
    return assignments;
  }

  /**
   * Within a group, a contact is never offered before an earlier one (higher priority, or same priority
   * and queued before) that could have had one of the same agents. The one exception is a returning
   * customer who waits for their last agent (PH-12): that agent is a member, available, has not missed
   * this contact, the wait is not over, and it is not the agent offered to the later contact.
   */
  private checkFirstComeFirstServed(waiting: WaitingContact[], assignments: Assignment[]): void {
    const assigned = new Set(assignments.map((a) => a.contactId));
    for (const assignment of assignments) {
      const later = waiting.find((c) => c.contactId === assignment.contactId) as WaitingContact;
      for (const earlier of waiting) {
        if (earlier.skillGroupId !== later.skillGroupId || assigned.has(earlier.contactId)) continue;
        if (!queuedAhead(earlier, later)) continue;
        const lastAgent = this.lastAgentFor(earlier);
        const waitsForLastAgent = lastAgent !== null && !assignment.agentIds.includes(lastAgent);
        expect(waitsForLastAgent, `${later.contactId} went before ${earlier.contactId}`).toBe(true);
      }
    }
  }

  /**
   * Checked at the contact's turn in the pass (the offers before it already made): the last agent alone
   * when they can take it; otherwise agents who already missed the contact only when no one else can;
   * RING_ALL rings all of them.
   */
  private checkWhoIsOffered(contact: WaitingContact, group: SkillGroupRouting, agentIds: string[]): void {
    const eligible = this.eligibleFor(group);
    const lastAgent = this.lastAgentFor(contact);
    if (lastAgent !== null) {
      // A last agent with no room makes the contact wait, so an offer means they had room.
      expect(agentIds).toEqual([lastAgent]);
      return;
    }
    const untried = eligible.filter((agentId) => !contact.triedAgentIds.includes(agentId));
    const pool = untried.length > 0 ? untried : eligible;
    if (group.strategy === 'RING_ALL') expect([...agentIds].sort()).toEqual([...pool].sort());
    else expect(pool).toContain(agentIds[0]);
  }

  /**
   * After a pass, no contact waits while a member of its group could still take it, unless it waits for
   * its last agent (PH-12).
   */
  private checkNoAgentLeftIdle(): void {
    for (const contact of this.waiting()) {
      const group = this.groups.get(contact.skillGroupId) as SkillGroupRouting;
      if (this.lastAgentFor(contact) !== null) continue;
      expect(this.eligibleFor(group), `${contact.contactId} waits while agents are free`).toEqual([]);
    }
  }

  /** The agents' workloads match the contacts the model holds for them, and stay within capacity. */
  checkState(): void {
    const expected = new Map<string, Record<Channel, number>>();
    for (const agentId of this.agents.keys()) expected.set(agentId, { PHONE: 0, ONLINE: 0, AV: 0 });
    for (const contact of this.contacts.values()) {
      const holders = contact.status === 'offered' ? contact.ringing : contact.status === 'connected' ? [contact.agentId as string] : [];
      for (const agentId of holders) (expected.get(agentId) as Record<Channel, number>)[contact.channel] += 1;
    }
    for (const agent of this.agents.values()) {
      expect(agent.held).toEqual(expected.get(agent.agentId));
      expect(lineHeld(agent)).toBeLessThanOrEqual(1);
      expect(agent.held.ONLINE).toBeLessThanOrEqual(this.chatCeiling.get(agent.agentId) ?? 0);
    }
  }

  /** Everyone comes back and every call ends: what still waits must have no one who could ever serve it. */
  drain(): void {
    for (const agentId of this.agents.keys()) this.agents.set(agentId, { ...this.agent(agentId), available: true });
    const endConnected = () => {
      for (const contact of this.contacts.values()) if (contact.status === 'connected') this.end(contact);
    };
    const acceptOffers = () => {
      while (this.pick('offered', 0)) this.apply({ kind: 'accept', pick: 0 });
    };
    acceptOffers();
    // Each round serves at least the first waiting contact of every group that has members.
    for (let round = 0; round <= this.contacts.size && this.waiting().length > 0; round++) {
      this.now += 1000;
      endConnected();
      this.route();
      acceptOffers();
    }
    endConnected();
    this.checkState();
    for (const contact of this.waiting()) {
      const group = this.groups.get(contact.skillGroupId) as SkillGroupRouting;
      expect(group.members.size, `${contact.contactId} still waits in ${group.skillGroupId}`).toBe(0);
    }
  }
}

describe('router under random traffic', () => {
  it('keeps every agent within capacity, offers no contact twice, serves first come first, and loses no contact', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const center = new ContactCenter(s);
        const arrivals = s.actions.filter((a) => a.kind === 'arrive').length;
        for (const a of s.actions) {
          center.apply(a);
          center.checkState();
        }
        // None lost or duplicated: each contact that arrived is in exactly one state.
        const routed = [...center.contacts.values()].filter((c) => c.skillGroupId !== 'none');
        expect(routed).toHaveLength(arrivals);
        expect(new Set(routed.map((c) => c.contactId)).size).toBe(arrivals);
        center.drain();
        expect(routed.every((c) => c.status === 'ended' || c.status === 'waiting')).toBe(true);
      }),
      { seed: 20250301, numRuns: 200 },
    );
  });
});
