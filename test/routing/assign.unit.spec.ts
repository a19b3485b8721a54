// One routing pass over all waiting contacts: queue order, reservations as the pass goes, no overtaking.
import { describe, expect, it } from 'vitest';
import type { RoutingSnapshot } from '../../src/domain/routing/assign.ts';
import { assignWaiting } from '../../src/domain/routing/assign.ts';
import type { RoutableAgent, SkillGroupRouting, WaitingContact } from '../../src/domain/routing/routing-state.ts';
import { agent, agentsOf, at, contact, ctx, group } from './routing-fixtures.ts';

const snapshot = (groups: SkillGroupRouting[], agents: RoutableAgent[], waiting: WaitingContact[]): RoutingSnapshot => ({
  groups: new Map(groups.map((g) => [g.skillGroupId, g])),
  agents: agentsOf(...agents),
  waiting,
});
const offers = (state: RoutingSnapshot) => assignWaiting(state, ctx()).map((a) => `${a.contactId}→${a.agentIds.join('+')}`);
const queued = (contactId: string, sequence: number, overrides: Partial<WaitingContact> = {}) =>
  contact(contactId, { sequence, queuedAt: at(`10:00:0${sequence}`), ...overrides });

describe('assignWaiting', () => {
  it('gives the best agent to the first contact in queue order', () => {
    const state = snapshot(
      [group('LONGEST_IDLE', ['a-1', 'a-2'])],
      [agent('a-1', { idleSince: at('09:00') }), agent('a-2', { idleSince: at('09:30') })],
      [queued('normal', 1), queued('urgent', 2, { priority: 9 })],
    );
    expect(offers(state)).toEqual(['urgent→a-1', 'normal→a-2']);
  });

  it('says which group each offer is for', () => {
    const state = snapshot([group('LONGEST_IDLE', ['a-1'])], [agent('a-1')], [queued('c-1', 1)]);
    expect(assignWaiting(state, ctx())).toEqual([{ contactId: 'c-1', skillGroupId: 'sg-1', agentIds: ['a-1'] }]);
  });

  it('offers one phone agent one call per pass; the next caller waits', () => {
    const state = snapshot([group('LONGEST_IDLE', ['a-1'])], [agent('a-1')], [queued('c-1', 1), queued('c-2', 2)]);
    expect(offers(state)).toEqual(['c-1→a-1']);
  });

  it('offers a chat agent no more chats in one pass than the group allows', () => {
    const chatGroup = group('LONGEST_IDLE', ['a-1'], { channel: 'ONLINE', maxConcurrency: 3 });
    const chats = [1, 2, 3, 4].map((n) => queued(`chat-${n}`, n, { channel: 'ONLINE' }));
    const state = snapshot([chatGroup], [agent('a-1', { held: { PHONE: 0, ONLINE: 1, AV: 0 } })], chats);
    expect(offers(state)).toEqual(['chat-1→a-1', 'chat-2→a-1']);
  });

  it('spreads chats by load under SATURATION', () => {
    const chatGroup = group('SATURATION', ['a-1', 'a-2'], { channel: 'ONLINE', maxConcurrency: 2 });
    const chats = [1, 2, 3, 4, 5].map((n) => queued(`chat-${n}`, n, { channel: 'ONLINE' }));
    const state = snapshot([chatGroup], [agent('a-1', { idleSince: at('09:00') }), agent('a-2', { idleSince: at('09:30') })], chats);
    expect(offers(state)).toEqual(['chat-1→a-1', 'chat-2→a-2', 'chat-3→a-1', 'chat-4→a-2']);
  });

  it('rotates ROUND_ROBIN within one pass: an agent just offered goes to the back', () => {
    const chatGroup = group('ROUND_ROBIN', ['a-1', 'a-2'], { channel: 'ONLINE', maxConcurrency: 5 });
    const chats = [1, 2, 3].map((n) => queued(`chat-${n}`, n, { channel: 'ONLINE' }));
    const state = snapshot([chatGroup], [agent('a-1', { lastOfferedAt: at('09:00') }), agent('a-2', { lastOfferedAt: at('09:30') })], chats);
    expect(offers(state)).toEqual(['chat-1→a-1', 'chat-2→a-2', 'chat-3→a-1']);
  });

  it('counts an agent just offered a chat as no longer idle under LONGEST_IDLE', () => {
    const chatGroup = group('LONGEST_IDLE', ['a-1', 'a-2'], { channel: 'ONLINE', maxConcurrency: 5 });
    const chats = [1, 2].map((n) => queued(`chat-${n}`, n, { channel: 'ONLINE' }));
    const state = snapshot([chatGroup], [agent('a-1', { idleSince: at('09:00') }), agent('a-2', { idleSince: at('09:30') })], chats);
    expect(offers(state)).toEqual(['chat-1→a-1', 'chat-2→a-2']);
  });

  it('reserves every ringing agent of a RING_ALL offer', () => {
    const state = snapshot([group('RING_ALL', ['a-1', 'a-2'])], [agent('a-1'), agent('a-2')], [queued('c-1', 1), queued('c-2', 2)]);
    expect(offers(state)).toEqual(['c-1→a-1+a-2']);
  });

  it('keeps an agent in a phone group and an AV group to one line', () => {
    const av = group('LONGEST_IDLE', ['a-1'], { skillGroupId: 'sg-av', channel: 'AV' });
    const state = snapshot(
      [group('LONGEST_IDLE', ['a-1']), av],
      [agent('a-1')],
      [queued('call', 2), queued('video', 1, { skillGroupId: 'sg-av', channel: 'AV' })],
    );
    expect(offers(state)).toEqual(['video→a-1']);
  });

  it('lets an agent in two groups take the oldest contact of either group first', () => {
    const other = group('LONGEST_IDLE', ['a-1'], { skillGroupId: 'sg-2' });
    const state = snapshot([group('LONGEST_IDLE', ['a-1']), other], [agent('a-1')], [queued('newer', 2), queued('older', 1, { skillGroupId: 'sg-2' })]);
    expect(offers(state)).toEqual(['older→a-1']);
  });

  it('serves other groups when one group has no eligible agent', () => {
    const other = group('LONGEST_IDLE', ['a-2'], { skillGroupId: 'sg-2' });
    const state = snapshot(
      [group('LONGEST_IDLE', ['a-1']), other],
      [agent('a-1', { available: false }), agent('a-2')],
      [queued('stuck', 1), queued('served', 2, { skillGroupId: 'sg-2' })],
    );
    expect(offers(state)).toEqual(['served→a-2']);
  });

  it('keeps the contacts behind the head of a group waiting when the head finds no agent', () => {
    const state = snapshot(
      [group('LONGEST_IDLE', ['a-1', 'a-2'])],
      [agent('a-1', { held: { PHONE: 1, ONLINE: 0, AV: 0 } }), agent('a-2', { available: false })],
      [queued('head', 1), queued('behind', 2), queued('urgent-behind', 3, { priority: 1, triedAgentIds: ['a-1'] })],
    );
    expect(offers(state)).toEqual([]);
  });

  it('serves the contacts behind a head that waits for its last agent', () => {
    const state = snapshot(
      [group('LONGEST_IDLE', ['last', 'a-2'])],
      [agent('last', { held: { PHONE: 1, ONLINE: 0, AV: 0 } }), agent('a-2')],
      [queued('returning', 1, { preferredAgent: { agentId: 'last', until: at('10:10') } }), queued('behind', 2)],
    );
    expect(offers(state)).toEqual(['behind→a-2']);
  });

  it('serves an earlier contact first, even with the agent a returning customer waits for', () => {
    // The returning customer then waits for their last agent, though a-2 is free.
    const state = snapshot(
      [group('LONGEST_IDLE', ['last', 'a-2'])],
      [agent('last', { idleSince: at('08:00') }), agent('a-2', { idleSince: at('09:00') })],
      [queued('first', 1), queued('returning', 2, { preferredAgent: { agentId: 'last', until: at('10:10') } })],
    );
    expect(offers(state)).toEqual(['first→last']);
  });

  it('leaves a contact of an unknown group waiting', () => {
    const state = snapshot([group('LONGEST_IDLE', ['a-1'])], [agent('a-1')], [queued('lost', 1, { skillGroupId: 'sg-gone' }), queued('c-2', 2)]);
    expect(offers(state)).toEqual(['c-2→a-1']);
  });

  it('offers a contact listed twice only once', () => {
    const state = snapshot([group('LONGEST_IDLE', ['a-1', 'a-2'])], [agent('a-1'), agent('a-2')], [queued('c-1', 1), queued('c-1', 1)]);
    expect(offers(state)).toEqual(['c-1→a-1']);
  });

  it('changes nothing in the state it is given', () => {
    const a1 = agent('a-1');
    const state = snapshot([group('LONGEST_IDLE', ['a-1'])], [a1], [queued('c-2', 2), queued('c-1', 1)]);
    assignWaiting(state, ctx());
    expect(state.agents.get('a-1')).toEqual(agent('a-1'));
    expect(state.waiting.map((c) => c.contactId)).toEqual(['c-2', 'c-1']);
  });
});
