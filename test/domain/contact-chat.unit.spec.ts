// Chat conversations in the contact decider (issue 11): gap-free seq, client message ids stored once, kinds,
// system messages in the same append as what they tell, read state, web chats started in one append, and
// events recorded before issue 11 read as TEXT numbered by their place.
import { describe, expect, it } from 'vitest';
import type { ContactCommand, NewChatMessage } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { ChatAttachment, ContactEvent, ContactState, WebSource } from '../../src/domain/contact/contact.ts';
import { ConflictError, ValidationError } from '../../src/domain/errors.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(contactDecider);
const contactId = 'chat-1';
const T0 = '2026-12-04T09:00:00.000Z';
const T1 = '2026-12-04T09:00:05.000Z';
const T2 = '2026-12-04T09:00:08.000Z';
const T3 = '2026-12-04T09:00:20.000Z';
const LATER = '2026-12-04T09:30:00.000Z';

const customer = { kind: 'WEB' as const, id: 'v_AAAAAAAAAAAAAAAAAAAAAA', name: 'Ann' };
const source: WebSource = {
  kind: 'WEB',
  webChannelId: 'web-1',
  clientChatId: 'client-chat-1',
  verified: false,
  pageUrl: 'https://shop.example/cart',
  referrer: null,
  userAgent: 'Test/1.0',
  address: '203.0.113.9',
};
const photo: ChatAttachment = { fileId: 'file-1', name: 'cat.jpg', contentType: 'image/jpeg', bytes: 1234, width: 64, height: 48, thumbnail: true };

const fold = (events: ContactEvent[]): ContactState => events.reduce(contactDecider.evolve, contactDecider.initialState());

const system = (seq: number, type: 'QUEUED' | 'CONNECTED' | 'TRANSFERRED' | 'ENDED', at: string, agentId: string | null = null, endStatus: string | null = null): ContactEvent =>
  ({
    type: 'ContactMessageRecorded',
    data: { messageId: `${contactId}:${seq}`, from: 'SYSTEM', agentId, text: '', at, seq, clientMessageId: null, kind: 'SYSTEM', attachment: null, system: { type, agentId, endStatus } },
  }) as ContactEvent;

const said = (seq: number, from: 'AGENT' | 'CUSTOMER', clientMessageId: string, text: string, at: string, agentId: string | null = null): ContactEvent => ({
  type: 'ContactMessageRecorded',
  data: { messageId: `m-${clientMessageId}`, from, agentId, text, at, seq, clientMessageId, kind: 'TEXT', attachment: null, system: null },
});

const created: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'ONLINE', direction: 'IN', customer, data: { plan: 'gold' }, createdAt: T0, source } };
const queued: ContactEvent = { type: 'ContactQueued', data: { skillGroupId: 'chat', priority: 0, queuedAt: T0 } };
const offered = (offerId: string, agentId: string): ContactEvent => ({ type: 'ContactOffered', data: { offerId, agentIds: [agentId], expiresAt: LATER, transfer: null } });
const accepted = (offerId: string, agentId: string, at = T1): ContactEvent => ({ type: 'ContactAccepted', data: { offerId, agentId, at } });

const waiting: ContactEvent[] = [created, queued, system(1, 'QUEUED', T0)];
const talking: ContactEvent[] = [...waiting, offered('o1', 'alice'), accepted('o1', 'alice'), system(2, 'CONNECTED', T1, 'alice')];

const send = (from: 'AGENT' | 'CUSTOMER', clientMessageId: string | null, text: string, now: string, extra: Partial<NewChatMessage> & { agentId?: string | null } = {}): ContactCommand => ({
  type: 'RecordMessage',
  data: { contactId, messageId: `m-${clientMessageId ?? 'none'}`, clientMessageId, from, agentId: extra.agentId ?? (from === 'AGENT' ? 'alice' : null), text, ...extra },
  metadata: meta({ now }),
});

describe('contact decider: chat conversations', () => {
  describe('StartChat', () => {
    const start = (reject: 'BLACKLISTED' | null, firstMessage: NewChatMessage | null = null): ContactCommand => ({
      type: 'StartChat',
      data: { contactId, customer, data: { plan: 'gold' }, source, skillGroupId: 'chat', priority: 0, reject, firstMessage },
      metadata: meta({ now: T0 }),
    });

    it('creates the chat with its source and queues it, with the QUEUED notice as message 1', () => {
      spec.given([]).when(start(null)).then(waiting);
    });

    it("stores the customer's first message before the queue notice", () => {
      spec
        .given([])
        .when(start(null, { messageId: 'm-first', clientMessageId: 'first', text: 'Hello 👋', kind: 'TEXT', attachment: null }))
        .then([created, said(1, 'CUSTOMER', 'first', 'Hello 👋', T0), queued, system(2, 'QUEUED', T0)]);
    });

    it('turns a refused chat away at once: rejected, with an ENDED notice', () => {
      spec.given([]).when(start('BLACKLISTED')).then([created, { type: 'ContactRejected', data: { reason: 'BLACKLISTED' } }, system(1, 'ENDED', T0, null, 'BLACKLISTED')]);
    });

    it('is a retry when the chat exists: nothing', () => {
      spec.given(waiting).when(start(null)).then([]);
    });
  });

  describe('messages', () => {
    it('numbers messages from both sides without a gap, after the system notices', () => {
      const events = contactDecider.decide(send('CUSTOMER', 'c1', 'Hi', T2), fold(talking));
      expect(events).toEqual([said(3, 'CUSTOMER', 'c1', 'Hi', T2)]);
      const reply = contactDecider.decide(send('AGENT', 'a1', 'Hello! How can I help?', T2), fold([...talking, ...events]));
      expect(reply).toEqual([said(4, 'AGENT', 'a1', 'Hello! How can I help?', T2, 'alice')]);
    });

    it('stores a repeated client message id once, per sender, even after the chat ended', () => {
      const history = [...talking, said(3, 'CUSTOMER', 'c1', 'Hi', T2)];
      spec.given(history).when(send('CUSTOMER', 'c1', 'Hi', T3)).then([]);
      // The same id from the agent is another message.
      spec.given(history).when(send('AGENT', 'c1', 'Hi', T3)).then([said(4, 'AGENT', 'c1', 'Hi', T3, 'alice')]);
      const ended: ContactEvent = { type: 'ContactEnded', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: 'alice', at: T3 } };
      spec.given([...history, ended]).when(send('CUSTOMER', 'c1', 'Hi', LATER)).then([]);
      spec.given([...history, ended]).when(send('CUSTOMER', 'c2', 'Still there?', LATER)).thenThrows(ConflictError, /ended/);
    });

    it('keeps what each folded state saw: a state folded further, or branched off an older one, never changes it', () => {
      // The ids seen are a log shared by states folded one after another; a fold from an older state that
      // takes another path copies its part, so neither state sees the other's later ids.
      const base = fold([...talking, said(3, 'CUSTOMER', 'c1', 'Hi', T2)]);
      const seen = (s: ContactState, clientMessageId: string) => contactDecider.decide(send('CUSTOMER', clientMessageId, 'x', T3), s).length === 0;
      const left = contactDecider.evolve(base, said(4, 'CUSTOMER', 'c2', 'Left', T3));
      const right = contactDecider.evolve(base, said(4, 'CUSTOMER', 'c3', 'Right', T3));
      const leftAgain = contactDecider.evolve(base, said(4, 'CUSTOMER', 'c2', 'Left', T3));
      expect([seen(base, 'c1'), seen(base, 'c2'), seen(base, 'c3')]).toEqual([true, false, false]);
      expect([seen(left, 'c2'), seen(left, 'c3')]).toEqual([true, false]);
      expect([seen(right, 'c2'), seen(right, 'c3')]).toEqual([false, true]);
      expect([seen(leftAgain, 'c2'), seen(leftAgain, 'c3')]).toEqual([true, false]);
      // A long chat: every id of 3,000 messages is still known, and none of the messages after a state.
      let s = base;
      const states: ContactState[] = [];
      for (let i = 0; i < 3000; i++) {
        s = contactDecider.evolve(s, said(4 + i, 'CUSTOMER', `long-${i}`, 'Hello', T3));
        states.push(s);
      }
      expect(seen(s, 'long-0') && seen(s, 'long-2999') && seen(s, 'c1')).toBe(true);
      expect([seen(states[1499]!, 'long-1499'), seen(states[1499]!, 'long-1500')]).toEqual([true, false]);
    });

    it('lets the customer write while queued, but only the agent holding the chat', () => {
      spec.given(waiting).when(send('CUSTOMER', 'c1', 'Anyone?', T1)).then([said(2, 'CUSTOMER', 'c1', 'Anyone?', T1)]);
      spec.given(waiting).when(send('AGENT', 'a1', 'Hi', T1)).thenThrows(ConflictError, /does not hold/);
      spec.given(talking).when(send('AGENT', 'b1', 'Hi', T2, { agentId: 'bob' })).thenThrows(ConflictError, /does not hold/);
    });

    it('carries images and files; a file message needs its file, a text message its text', () => {
      const image = contactDecider.decide(send('CUSTOMER', 'c1', '', T2, { kind: 'IMAGE', attachment: photo }), fold(talking));
      expect(image).toEqual([
        {
          type: 'ContactMessageRecorded',
          data: { messageId: 'm-c1', from: 'CUSTOMER', agentId: null, text: '', at: T2, seq: 3, clientMessageId: 'c1', kind: 'IMAGE', attachment: photo, system: null },
        },
      ]);
      spec.given(talking).when(send('CUSTOMER', 'c1', '', T2, { kind: 'IMAGE', attachment: null })).thenThrows(ValidationError);
      spec.given(talking).when(send('CUSTOMER', 'c1', '', T2)).thenThrows(ValidationError);
      spec.given(talking).when(send('CUSTOMER', 'c1', 'see', T2, { kind: 'TEXT', attachment: photo })).thenThrows(ValidationError);
    });

    it('reads messages recorded before issue 11 as TEXT numbered by their place', () => {
      const old: ContactEvent[] = [
        { type: 'ContactCreated', data: { contactId, channel: 'ONLINE', direction: 'IN', customer, data: {}, createdAt: T0 } },
        { type: 'ContactQueued', data: { skillGroupId: 'chat', priority: 0, queuedAt: T0 } },
        { type: 'ContactMessageRecorded', data: { messageId: 'old-1', from: 'CUSTOMER', agentId: null, text: 'old', at: T1 } },
        { type: 'ContactMessageRecorded', data: { messageId: 'old-2', from: 'CUSTOMER', agentId: null, text: 'older', at: T1 } },
      ];
      const state = fold(old);
      expect(state.status !== 'none' && state.messageCount).toBe(2);
      expect(state.status !== 'none' && state.source).toBeNull();
      spec.given(old).when(send('CUSTOMER', 'c1', 'new', T2)).then([said(3, 'CUSTOMER', 'c1', 'new', T2)]);
    });

    it('does not count system notices as anyone speaking (idle chats end from the last real words)', () => {
      const s = fold(talking);
      expect(s.status === 'connected' && [s.lastAgentMessageAt, s.lastCustomerMessageAt]).toEqual([null, null]);
    });
  });

  describe('system notices', () => {
    it('tells connected, transferred, connected again and ended (TRANSFERRED) in the same appends', () => {
      spec
        .given(talking)
        .when({ type: 'TransferContact', data: { contactId, agentId: 'alice', toAgentId: 'bob', toSkillGroupId: null, note: 'billing' }, metadata: meta({ now: T2 }) })
        .then([{ type: 'ContactTransferred', data: { fromAgentId: 'alice', toAgentId: 'bob', toSkillGroupId: null, note: 'billing' } }, system(3, 'TRANSFERRED', T2, 'bob')]);
      const afterTransfer: ContactEvent[] = [
        ...talking,
        { type: 'ContactTransferred', data: { fromAgentId: 'alice', toAgentId: 'bob', toSkillGroupId: null, note: 'billing' } },
        system(3, 'TRANSFERRED', T2, 'bob'),
        { type: 'ContactOffered', data: { offerId: 'o2', agentIds: ['bob'], expiresAt: LATER, transfer: { fromAgentId: 'alice', note: 'billing' } } },
      ];
      spec.given(afterTransfer).when({ type: 'AcceptOffer', data: { contactId, offerId: 'o2', agentId: 'bob' }, metadata: meta({ now: T3 }) }).then([accepted('o2', 'bob', T3), system(4, 'CONNECTED', T3, 'bob')]);
      spec
        .given([...afterTransfer, accepted('o2', 'bob', T3), system(4, 'CONNECTED', T3, 'bob')])
        .when({ type: 'EndContact', data: { contactId, reason: 'agentHangUp', endedBy: 'AGENT', agentId: 'bob' }, metadata: meta({ now: LATER }) })
        .then([{ type: 'ContactEnded', data: { reason: 'agentHangUp', endedBy: 'AGENT', agentId: 'bob', at: LATER } }, system(5, 'ENDED', LATER, 'bob', 'TRANSFERRED')]);
    });

    it("tells the customer's own end and an idle chat's end", () => {
      spec
        .given(talking)
        .when({ type: 'EndContact', data: { contactId, reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: null }, metadata: meta({ now: T3 }) })
        .then([{ type: 'ContactEnded', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: 'alice', at: T3 } }, system(3, 'ENDED', T3, 'alice', 'CUSTOMER_ENDED')]);
      const agentSaid = said(3, 'AGENT', 'a1', 'Anything else?', T2, 'alice');
      spec
        .given([...talking, agentSaid])
        .when({ type: 'EndIdleChat', data: { contactId, lastAgentMessageAt: T2, idleSeconds: 60 }, metadata: meta({ now: LATER }) })
        .then([{ type: 'ContactEnded', data: { reason: 'customerIdle', endedBy: 'SYSTEM', agentId: 'alice', at: LATER } }, system(4, 'ENDED', LATER, 'alice', 'CUSTOMER_IDLE')]);
    });

    it('tells a queued chat once: an overflow to another group adds no notice', () => {
      spec.given(waiting).when({ type: 'OverflowContact', data: { contactId, toSkillGroupId: 'overflow' }, metadata: meta({ now: T1 }) }).then([{ type: 'ContactQueued', data: { skillGroupId: 'overflow', priority: 0, queuedAt: T1 } }]);
    });

    it('adds nothing to phone contacts', () => {
      const phone: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'PHONE', direction: 'IN', customer: { kind: 'PHONE', id: '+15550100', name: null }, data: {}, createdAt: T0 } };
      spec.given([phone]).when({ type: 'QueueContact', data: { contactId, skillGroupId: 'sales', priority: 0 }, metadata: meta({ now: T0 }) }).then([{ type: 'ContactQueued', data: { skillGroupId: 'sales', priority: 0, queuedAt: T0 } }]);
    });
  });

  describe('read state', () => {
    const read = (by: 'AGENT' | 'CUSTOMER', seq: number): ContactCommand => ({ type: 'MarkMessagesRead', data: { contactId, by, agentId: by === 'AGENT' ? 'alice' : null, seq }, metadata: meta({ now: T3 }) });
    const history = [...talking, said(3, 'CUSTOMER', 'c1', 'Hi', T2)];

    it('records each side reading up to a seq, only when it advances', () => {
      spec.given(history).when(read('AGENT', 3)).then([{ type: 'ContactMessagesRead', data: { by: 'AGENT', agentId: 'alice', seq: 3, at: T3 } }]);
      const readAll: ContactEvent = { type: 'ContactMessagesRead', data: { by: 'AGENT', agentId: 'alice', seq: 3, at: T3 } };
      spec.given([...history, readAll]).when(read('AGENT', 2)).then([]);
      spec.given([...history, readAll]).when(read('AGENT', 3)).then([]);
      // The customer's read state is their own.
      spec.given([...history, readAll]).when(read('CUSTOMER', 2)).then([{ type: 'ContactMessagesRead', data: { by: 'CUSTOMER', agentId: null, seq: 2, at: T3 } }]);
    });

    it('refuses a seq past the last message', () => {
      spec.given(history).when(read('CUSTOMER', 4)).thenThrows(ValidationError, /3 messages/);
      spec.given(history).when(read('CUSTOMER', -1)).thenThrows(ValidationError);
    });
  });
});
