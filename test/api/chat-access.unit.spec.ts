// The send path's access check from the command handler's cached chat state (issue 11): it only ever says yes,
// to the chat's own customer (same id, same verified flag) or the agent the chat is connected to; every other
// case (not cached, someone else, a chat not connected to that agent, a WeChat chat) is left to the read model.
import { describe, expect, it } from 'vitest';
import { cachedChatAccess } from '../../src/api/resolvers/chat-access.ts';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import type { ContactState } from '../../src/domain/contact/contact.ts';
import { streams } from '../../src/domain/streams.ts';

const instanceId = 'inst-1';
const contactId = 'chat-1';

function fold(commands: [ContactCommand['type'], Record<string, unknown>][]): ContactState {
  let state = contactDecider.initialState();
  for (const [type, data] of commands) {
    const command = { type, data: { contactId, ...data }, metadata: { now: '2026-03-01T09:00:00.000Z', instanceId, actor: 'test', correlationId: 'c' } } as ContactCommand;
    for (const e of contactDecider.decide(command, state)) state = contactDecider.evolve(state, e);
  }
  return state;
}

const start = (verified: boolean, kind: 'WEB' | 'WECHAT' = 'WEB'): [ContactCommand['type'], Record<string, unknown>] => [
  'StartChat',
  {
    customer: { kind: kind === 'WEB' ? 'WEB' : 'WECHAT', id: 'cust-1', name: null },
    data: {},
    source:
      kind === 'WEB'
        ? { kind: 'WEB', webChannelId: 'web-1', clientChatId: 'cc', verified, pageUrl: null, referrer: null, userAgent: null, address: null }
        : { kind: 'WECHAT', wechatAccountId: 'wx-1', accountKind: 'OFFICIAL_ACCOUNT', appId: 'wx0000000000000001', openId: 'cust-1', unionId: null, sessionFrom: null },
    skillGroupId: 'g',
    priority: 0,
    reject: null,
    firstMessage: null,
  },
];
const offer: [ContactCommand['type'], Record<string, unknown>] = ['OfferContact', { offerId: 'o1', agentIds: ['ann'], expiresAt: '2026-03-02T09:00:00.000Z' }];
const accept: [ContactCommand['type'], Record<string, unknown>] = ['AcceptOffer', { offerId: 'o1', agentId: 'ann' }];

const cache = (state: ContactState | undefined) => ({
  peek: <S>(streamId: string) => (state && streamId === streams.contact(instanceId, contactId) ? { state: state as S, revision: 3 } : undefined),
});

describe('cachedChatAccess', () => {
  it("answers the chat's own customer and the agent holding it from the cached state", () => {
    const state = fold([start(true), offer, accept]);
    expect(cachedChatAccess(cache(state), instanceId, contactId, { kind: 'customer', customerId: 'cust-1', verified: true })).toMatchObject({
      instance_id: instanceId,
      id: contactId,
      channel: 'ONLINE',
      status: 'CONNECTED',
      web_customer_id: 'cust-1',
      web_verified: true,
      web_channel_id: 'web-1',
      agent_id: 'ann',
    });
    expect(cachedChatAccess(cache(state), instanceId, contactId, { kind: 'agent', agentId: 'ann' })).toMatchObject({ status: 'CONNECTED', agent_id: 'ann' });
  });

  it('leaves everything else to the read model: null', () => {
    const connected = fold([start(true), offer, accept]);
    const queued = fold([start(false)]);
    // Another customer, the same id unverified, another agent, an agent of a chat not connected, another chat, not cached.
    expect(cachedChatAccess(cache(connected), instanceId, contactId, { kind: 'customer', customerId: 'cust-2', verified: true })).toBeNull();
    expect(cachedChatAccess(cache(connected), instanceId, contactId, { kind: 'customer', customerId: 'cust-1', verified: false })).toBeNull();
    expect(cachedChatAccess(cache(connected), instanceId, contactId, { kind: 'agent', agentId: 'bob' })).toBeNull();
    expect(cachedChatAccess(cache(queued), instanceId, contactId, { kind: 'agent', agentId: 'ann' })).toBeNull();
    expect(cachedChatAccess(cache(connected), instanceId, 'chat-2', { kind: 'agent', agentId: 'ann' })).toBeNull();
    expect(cachedChatAccess(cache(connected), 'inst-2', contactId, { kind: 'customer', customerId: 'cust-1', verified: true })).toBeNull();
    expect(cachedChatAccess(cache(undefined), instanceId, contactId, { kind: 'customer', customerId: 'cust-1', verified: true })).toBeNull();
    expect(cachedChatAccess(undefined, instanceId, contactId, { kind: 'customer', customerId: 'cust-1', verified: true })).toBeNull();
    // A WeChat chat's customer is no web customer.
    expect(cachedChatAccess(cache(fold([start(false, 'WECHAT')])), instanceId, contactId, { kind: 'customer', customerId: 'cust-1', verified: false })).toBeNull();
    // The customer of a queued chat is answered, with the chat's status.
    expect(cachedChatAccess(cache(queued), instanceId, contactId, { kind: 'customer', customerId: 'cust-1', verified: false })).toMatchObject({ status: 'QUEUED', agent_id: null });
  });

  it('tells an ended chat as ENDED (the send then refuses it)', () => {
    const ended = fold([start(true), offer, accept, ['EndContact', { reason: 'customerLeft', endedBy: 'CUSTOMER', agentId: null }]]);
    expect(cachedChatAccess(cache(ended), instanceId, contactId, { kind: 'customer', customerId: 'cust-1', verified: true })).toMatchObject({ status: 'ENDED' });
  });
});
