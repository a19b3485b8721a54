// Who gets a waiting contact: eligibility, each routing strategy, agents who already missed the contact,
// and last agent first (PH-12).
import { describe, expect, it } from 'vitest';
import { selectAgents } from '../../src/domain/routing/select-agent.ts';
import { routingStrategies } from '../../src/domain/skill-group/skill-group.ts';
import { agent, agentsOf, at, contact, ctx, group, now } from './routing-fixtures.ts';

const waiting = contact('c-1');
const onCall = { held: { PHONE: 1, ONLINE: 0, AV: 0 } };
const chats = (n: number) => ({ held: { PHONE: 0, ONLINE: n, AV: 0 } });

describe('selectAgents', () => {
  describe('eligibility', () => {
    it('offers only to members of the group', () => {
      const agents = agentsOf(agent('outsider', { idleSince: at('08:00') }), agent('member'));
      expect(selectAgents(group('LONGEST_IDLE', ['member']), waiting, agents, ctx())).toEqual(['member']);
    });

    it('skips members who are not available', () => {
      const agents = agentsOf(agent('away', { available: false, idleSince: at('08:00') }), agent('here'));
      expect(selectAgents(group('LONGEST_IDLE', ['away', 'here']), waiting, agents, ctx())).toEqual(['here']);
    });

    it('skips members with no room on the group channel', () => {
      const agents = agentsOf(agent('busy', { ...onCall, idleSince: at('08:00') }), agent('free'));
      expect(selectAgents(group('LONGEST_IDLE', ['busy', 'free']), waiting, agents, ctx())).toEqual(['free']);
    });

    it('skips members the router has no live state for (offline agents are not listed)', () => {
      const agents = agentsOf(agent('listed'));
      expect(selectAgents(group('LONGEST_IDLE', ['unlisted', 'listed']), waiting, agents, ctx())).toEqual(['listed']);
    });

    it('returns no one when no member is eligible: the contact waits', () => {
      const agents = agentsOf(agent('busy', onCall), agent('away', { available: false }));
      expect(selectAgents(group('LONGEST_IDLE', ['busy', 'away', 'gone']), waiting, agents, ctx())).toEqual([]);
    });

    it('returns no one for a group without members', () => {
      expect(selectAgents(group('RING_ALL', []), waiting, agentsOf(agent('a-1')), ctx())).toEqual([]);
    });

    it.each(routingStrategies.filter((s) => s !== 'RING_ALL'))('%s offers to exactly one agent', (strategy) => {
      const agents = agentsOf(agent('a-1'), agent('a-2'), agent('a-3'));
      const online = strategy === 'SATURATION' ? { channel: 'ONLINE' as const, maxConcurrency: 3 } : {};
      expect(selectAgents(group(strategy, ['a-1', 'a-2', 'a-3'], online), waiting, agents, ctx())).toHaveLength(1);
    });
  });

  describe('LONGEST_IDLE', () => {
    it('offers to the agent idle the longest', () => {
      const agents = agentsOf(agent('recent', { idleSince: at('09:50') }), agent('longest', { idleSince: at('09:10') }), agent('mid', { idleSince: at('09:30') }));
      expect(selectAgents(group('LONGEST_IDLE', ['recent', 'longest', 'mid']), waiting, agents, ctx())).toEqual(['longest']);
    });

    it('breaks a tie by agent id, so the same state always gives the same offer', () => {
      const agents = agentsOf(agent('b'), agent('a'));
      expect(selectAgents(group('LONGEST_IDLE', ['b', 'a']), waiting, agents, ctx())).toEqual(['a']);
    });
  });

  describe('FEWEST_CONTACTS', () => {
    it('offers to the agent who handled the fewest contacts today', () => {
      const agents = agentsOf(agent('many', { contactsToday: 9, idleSince: at('08:00') }), agent('few', { contactsToday: 2 }));
      expect(selectAgents(group('FEWEST_CONTACTS', ['many', 'few']), waiting, agents, ctx())).toEqual(['few']);
    });

    it('then the agent idle the longest', () => {
      const agents = agentsOf(agent('recent', { contactsToday: 2, idleSince: at('09:50') }), agent('longest', { contactsToday: 2, idleSince: at('09:10') }));
      expect(selectAgents(group('FEWEST_CONTACTS', ['recent', 'longest']), waiting, agents, ctx())).toEqual(['longest']);
    });
  });

  describe('LEAST_TALK_TIME', () => {
    it('offers to the agent who talked the least today', () => {
      const agents = agentsOf(agent('talkative', { talkSecondsToday: 3600, idleSince: at('08:00') }), agent('quiet', { talkSecondsToday: 600 }));
      expect(selectAgents(group('LEAST_TALK_TIME', ['talkative', 'quiet']), waiting, agents, ctx())).toEqual(['quiet']);
    });

    it('then the agent idle the longest', () => {
      const agents = agentsOf(agent('recent', { talkSecondsToday: 60, idleSince: at('09:50') }), agent('longest', { talkSecondsToday: 60, idleSince: at('09:10') }));
      expect(selectAgents(group('LEAST_TALK_TIME', ['recent', 'longest']), waiting, agents, ctx())).toEqual(['longest']);
    });
  });

  describe('ROUND_ROBIN', () => {
    it('offers to the agent whose last offer is the oldest', () => {
      const agents = agentsOf(agent('just', { lastOfferedAt: at('10:04') }), agent('while-ago', { lastOfferedAt: at('09:40') }));
      expect(selectAgents(group('ROUND_ROBIN', ['just', 'while-ago']), waiting, agents, ctx())).toEqual(['while-ago']);
    });

    it('offers first to an agent who was never offered anything', () => {
      const agents = agentsOf(agent('offered', { lastOfferedAt: at('08:00') }), agent('never'));
      expect(selectAgents(group('ROUND_ROBIN', ['offered', 'never']), waiting, agents, ctx())).toEqual(['never']);
    });

    it('breaks a tie by agent id, not by idle time', () => {
      const agents = agentsOf(agent('b', { idleSince: at('08:00') }), agent('a', { idleSince: at('09:59') }));
      expect(selectAgents(group('ROUND_ROBIN', ['b', 'a']), waiting, agents, ctx())).toEqual(['a']);
    });
  });

  describe('RANDOM', () => {
    const members = ['c', 'a', 'b'];
    const agents = agentsOf(agent('a'), agent('b'), agent('c'));

    it('picks uniformly among the eligible agents with the random number it is given', () => {
      const pick = (r: number) => selectAgents(group('RANDOM', members), waiting, agents, ctx({ random: () => r }));
      expect([0, 0.34, 0.67].map(pick)).toEqual([['a'], ['b'], ['c']]);
      expect(pick(0.999999)).toEqual(['c']);
    });

    it('never picks an ineligible member', () => {
      const withBusy = agentsOf(agent('a', onCall), agent('b'), agent('c', { available: false }));
      for (const r of [0, 0.5, 0.99]) {
        expect(selectAgents(group('RANDOM', members), waiting, withBusy, ctx({ random: () => r }))).toEqual(['b']);
      }
    });

    it('draws one random number per decision', () => {
      let draws = 0;
      selectAgents(group('RANDOM', members), waiting, agents, ctx({ random: () => (draws++, 0.5) }));
      expect(draws).toBe(1);
    });
  });

  describe('SKILL_LEVEL', () => {
    it('offers to the member with the best level (1 is best)', () => {
      const agents = agentsOf(agent('junior', { idleSince: at('08:00') }), agent('senior'));
      expect(selectAgents(group('SKILL_LEVEL', [['junior', 3], ['senior', 1]]), waiting, agents, ctx())).toEqual(['senior']);
    });

    it('then the agent idle the longest', () => {
      const agents = agentsOf(agent('recent', { idleSince: at('09:50') }), agent('longest', { idleSince: at('09:10') }), agent('junior', { idleSince: at('08:00') }));
      const sg = group('SKILL_LEVEL', [['recent', 2], ['longest', 2], ['junior', 5]]);
      expect(selectAgents(sg, waiting, agents, ctx())).toEqual(['longest']);
    });

    it('goes down a level when the best are busy', () => {
      const agents = agentsOf(agent('senior', onCall), agent('junior'));
      expect(selectAgents(group('SKILL_LEVEL', [['senior', 1], ['junior', 4]]), waiting, agents, ctx())).toEqual(['junior']);
    });
  });

  describe('RING_ALL', () => {
    it('offers to every eligible member at once, longest idle first', () => {
      const agents = agentsOf(agent('a', { idleSince: at('09:30') }), agent('b', { idleSince: at('09:10') }), agent('busy', onCall), agent('away', { available: false }), agent('c'));
      expect(selectAgents(group('RING_ALL', ['a', 'b', 'busy', 'away', 'c']), waiting, agents, ctx())).toEqual(['c', 'b', 'a']);
    });

    it('does not ring again the agents who missed or declined the contact while others are free', () => {
      const agents = agentsOf(agent('a'), agent('b'), agent('c'));
      const back = contact('c-1', { triedAgentIds: ['a'] });
      expect(selectAgents(group('RING_ALL', ['a', 'b', 'c']), back, agents, ctx())).toEqual(['b', 'c']);
    });

    it('rings the agents who missed it when no one else is free', () => {
      const agents = agentsOf(agent('a'), agent('b'), agent('c', onCall));
      const back = contact('c-1', { triedAgentIds: ['a', 'b'] });
      expect(selectAgents(group('RING_ALL', ['a', 'b', 'c']), back, agents, ctx())).toEqual(['a', 'b']);
    });
  });

  describe('SATURATION', () => {
    const chatGroup = (members: string[]) => group('SATURATION', members, { channel: 'ONLINE', maxConcurrency: 4 });
    const chat = contact('chat-1', { channel: 'ONLINE' });

    it('offers to the agent with the lowest load', () => {
      const agents = agentsOf(agent('half', { ...chats(2), idleSince: at('08:00') }), agent('quarter', chats(1)), agent('three-quarters', chats(3)));
      expect(selectAgents(chatGroup(['half', 'quarter', 'three-quarters']), chat, agents, ctx())).toEqual(['quarter']);
    });

    it('then the agent idle the longest', () => {
      const agents = agentsOf(agent('recent', { ...chats(1), idleSince: at('09:50') }), agent('longest', { ...chats(1), idleSince: at('09:10') }));
      expect(selectAgents(chatGroup(['recent', 'longest']), chat, agents, ctx())).toEqual(['longest']);
    });

    it('never offers to an agent at the limit', () => {
      const agents = agentsOf(agent('full', { ...chats(4), idleSince: at('08:00') }), agent('busy', chats(3)));
      expect(selectAgents(chatGroup(['full', 'busy']), chat, agents, ctx())).toEqual(['busy']);
      expect(selectAgents(chatGroup(['full']), chat, agents, ctx())).toEqual([]);
    });

    it('lets an agent on a phone call take chats', () => {
      const agents = agentsOf(agent('on-call', { ...onCall, idleSince: at('08:00') }), agent('chatting', chats(1)));
      expect(selectAgents(chatGroup(['on-call', 'chatting']), chat, agents, ctx())).toEqual(['on-call']);
    });
  });

  describe('agents who already missed or declined the contact', () => {
    const back = contact('c-1', { triedAgentIds: ['declined'] });

    it('go after everyone else, whatever the strategy says', () => {
      const agents = agentsOf(agent('declined', { idleSince: at('08:00') }), agent('other', { idleSince: at('09:59') }));
      expect(selectAgents(group('LONGEST_IDLE', ['declined', 'other']), back, agents, ctx())).toEqual(['other']);
    });

    it('are not drawn by RANDOM while someone else is eligible', () => {
      const agents = agentsOf(agent('declined'), agent('other'));
      for (const r of [0, 0.5, 0.99]) {
        expect(selectAgents(group('RANDOM', ['declined', 'other']), back, agents, ctx({ random: () => r }))).toEqual(['other']);
      }
    });

    it('are still offered the contact when no one else is eligible', () => {
      const agents = agentsOf(agent('declined'), agent('other', onCall));
      expect(selectAgents(group('LONGEST_IDLE', ['declined', 'other']), back, agents, ctx())).toEqual(['declined']);
    });

    it('are ranked by the strategy among themselves', () => {
      const twice = contact('c-1', { triedAgentIds: ['first', 'second'] });
      const agents = agentsOf(agent('first', { contactsToday: 5 }), agent('second', { contactsToday: 1 }));
      expect(selectAgents(group('FEWEST_CONTACTS', ['first', 'second']), twice, agents, ctx())).toEqual(['second']);
    });
  });

  describe('last agent first (PH-12)', () => {
    const returning = (agentId: string, until = at('10:10')) => contact('c-1', { preferredAgent: { agentId, until } });
    const members = ['last', 'idle-longest'];
    const free = () => agentsOf(agent('last', { idleSince: at('09:59') }), agent('idle-longest', { idleSince: at('08:00') }));

    it('offers only to the last agent while the wait lasts, if they can take it', () => {
      expect(selectAgents(group('LONGEST_IDLE', members), returning('last'), free(), ctx())).toEqual(['last']);
    });

    it('offers only to the last agent even in a RING_ALL group', () => {
      expect(selectAgents(group('RING_ALL', members), returning('last'), free(), ctx())).toEqual(['last']);
    });

    it('waits while the last agent is available but busy', () => {
      const agents = agentsOf(agent('last', onCall), agent('idle-longest'));
      expect(selectAgents(group('LONGEST_IDLE', members), returning('last'), agents, ctx())).toEqual([]);
    });

    it('waits while the last agent is available but full of chats', () => {
      const agents = agentsOf(agent('last', chats(2)), agent('idle-longest'));
      const sg = group('SATURATION', members, { channel: 'ONLINE', maxConcurrency: 2 });
      expect(selectAgents(sg, { ...returning('last'), channel: 'ONLINE' }, agents, ctx())).toEqual([]);
    });

    it('uses the strategy when the last agent is not available', () => {
      const agents = agentsOf(agent('last', { available: false }), agent('idle-longest'));
      expect(selectAgents(group('LONGEST_IDLE', members), returning('last'), agents, ctx())).toEqual(['idle-longest']);
    });

    it('uses the strategy when the last agent is offline (not listed)', () => {
      const agents = agentsOf(agent('idle-longest'));
      expect(selectAgents(group('LONGEST_IDLE', members), returning('last'), agents, ctx())).toEqual(['idle-longest']);
    });

    it('uses the strategy when the last agent is no longer a member of the group', () => {
      expect(selectAgents(group('LONGEST_IDLE', ['idle-longest']), returning('last'), free(), ctx())).toEqual(['idle-longest']);
    });

    it('uses the strategy once the wait is over', () => {
      expect(selectAgents(group('LONGEST_IDLE', members), returning('last', at('10:04:59.999')), free(), ctx())).toEqual(['idle-longest']);
    });

    it('uses the strategy at the very instant the wait ends', () => {
      expect(selectAgents(group('LONGEST_IDLE', members), returning('last', now), free(), ctx())).toEqual(['idle-longest']);
    });

    it('stops waiting for a last agent who missed or declined this contact', () => {
      const declined = { ...returning('last'), triedAgentIds: ['last'] };
      expect(selectAgents(group('LONGEST_IDLE', members), declined, free(), ctx())).toEqual(['idle-longest']);
      const agents = agentsOf(agent('last', onCall), agent('idle-longest'));
      expect(selectAgents(group('LONGEST_IDLE', members), declined, agents, ctx())).toEqual(['idle-longest']);
    });
  });
});
