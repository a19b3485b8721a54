// Chat end statuses (CCC's meanings) from what the contact decider actually emits: the ContactEnded of an
// idle chat, of an agent's and a customer's end, of a system failure, and each rejection reason.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chatEndStatuses, chatEndStatusOf } from '../../src/domain/contact/chat-end-status.ts';
import type { ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { ContactEvent, ContactState, EndedBy, RejectReason } from '../../src/domain/contact/contact.ts';
import { meta } from '../support/decider-spec.ts';

const contactId = 'chat-1';
const T0 = '2026-12-04T09:00:00.000Z';
const T1 = '2026-12-04T09:00:05.000Z';
const T2 = '2026-12-04T09:00:08.000Z';
const T3 = '2026-12-04T09:00:20.000Z';
const LATER = '2026-12-04T09:30:00.000Z';

const base: ContactEvent[] = [
  { type: 'ContactCreated', data: { contactId, channel: 'ONLINE', direction: 'IN', customer: { kind: 'WEB', id: 'v_visitor', name: 'Ann' }, data: {}, createdAt: T0 } },
  { type: 'ContactQueued', data: { skillGroupId: 'chat', priority: 0, queuedAt: T0 } },
  { type: 'ContactOffered', data: { offerId: 'o1', agentIds: ['alice'], expiresAt: T3, transfer: null } },
  { type: 'ContactAccepted', data: { offerId: 'o1', agentId: 'alice', at: T1 } },
];
const agentSaid = { type: 'ContactMessageRecorded', data: { messageId: 'm1', from: 'AGENT', agentId: 'alice', text: 'Anything else?', at: T2 } } as ContactEvent;

const fold = (events: ContactEvent[]): ContactState => events.reduce(contactDecider.evolve, contactDecider.initialState());

/** Runs one command on the chat's state; returns the ContactEnded or ContactRejected the decider emitted. */
function ending(events: ContactEvent[], command: ContactCommand) {
  const out = contactDecider.decide(command, fold(events));
  const ended = out.find((e) => e.type === 'ContactEnded');
  const rejected = out.find((e) => e.type === 'ContactRejected');
  return {
    ended: ended?.type === 'ContactEnded' ? { reason: ended.data.reason, endedBy: ended.data.endedBy } : null,
    rejected: rejected?.type === 'ContactRejected' ? rejected.data.reason : null,
  };
}

const endContact = (endedBy: EndedBy, agentId: string | null, reason: string, now = T3): ContactCommand => ({
  type: 'EndContact',
  data: { contactId, reason, endedBy, agentId },
  metadata: meta({ now }),
});

const transferredAndTakenBack: ContactEvent[] = [
  ...base,
  { type: 'ContactTransferred', data: { fromAgentId: 'alice', toAgentId: 'bob', toSkillGroupId: null, note: 'billing' } },
  { type: 'ContactOffered', data: { offerId: 'o2', agentIds: ['bob'], expiresAt: LATER, transfer: { fromAgentId: 'alice', note: 'billing' } } },
  { type: 'ContactAccepted', data: { offerId: 'o2', agentId: 'bob', at: T2 } },
];

describe('chatEndStatusOf', () => {
  it('is null while the chat is open', () => {
    expect(chatEndStatusOf(null, null, false)).toBeNull();
    expect(chatEndStatusOf(null, null, true)).toBeNull();
  });

  it("reads the idle auto-end the decider emits (EndIdleChat) as CUSTOMER_IDLE", () => {
    const { ended, rejected } = ending([...base, agentSaid], {
      type: 'EndIdleChat',
      data: { contactId, lastAgentMessageAt: T2, idleSeconds: 60 },
      metadata: meta({ now: LATER }),
    });
    expect(ended).not.toBeNull();
    expect(chatEndStatusOf(ended, rejected, false)).toBe('CUSTOMER_IDLE');
    // Idle is idle, transferred or not.
    expect(chatEndStatusOf(ended, rejected, true)).toBe('CUSTOMER_IDLE');
  });

  it("reads the API's default reasons of an agent's and a customer's end by who ended it", () => {
    const byAgent = ending(base, endContact('AGENT', 'alice', 'agentHangUp'));
    expect(chatEndStatusOf(byAgent.ended, byAgent.rejected, false)).toBe('AGENT_ENDED');
    const byCustomer = ending(base, endContact('CUSTOMER', null, 'customerHangUp'));
    expect(chatEndStatusOf(byCustomer.ended, byCustomer.rejected, false)).toBe('CUSTOMER_ENDED');
    // An integration's own reason text does not change who ended it.
    const custom = ending(base, endContact('CUSTOMER', null, 'closed the tab'));
    expect(chatEndStatusOf(custom.ended, custom.rejected, false)).toBe('CUSTOMER_ENDED');
    // A customer who leaves the queue before any agent: ended by the customer too.
    const fromQueue = ending(base.slice(0, 2), endContact('CUSTOMER', null, 'customerHangUp'));
    expect(chatEndStatusOf(fromQueue.ended, fromQueue.rejected, false)).toBe('CUSTOMER_ENDED');
  });

  it('says TRANSFERRED for a chat transferred on its way and then ended by a person', () => {
    const byAgent = ending(transferredAndTakenBack, endContact('AGENT', 'bob', 'agentHangUp'));
    expect(chatEndStatusOf(byAgent.ended, byAgent.rejected, true)).toBe('TRANSFERRED');
    const byCustomer = ending(transferredAndTakenBack, endContact('CUSTOMER', null, 'customerHangUp'));
    expect(chatEndStatusOf(byCustomer.ended, byCustomer.rejected, true)).toBe('TRANSFERRED');
  });

  it('reads system ends: a failure is SYSTEM_ERROR, a supervisor ending it is AGENT_ENDED', () => {
    for (const reason of ['systemError', 'agentDeviceLost', 'flowError', 'something new']) {
      const { ended, rejected } = ending(base, endContact('SYSTEM', null, reason));
      expect(chatEndStatusOf(ended, rejected, false), reason).toBe('SYSTEM_ERROR');
    }
    const { ended, rejected } = ending(base, endContact('SYSTEM', null, 'supervisorHangUp'));
    expect(chatEndStatusOf(ended, rejected, false)).toBe('AGENT_ENDED');
    // A reason that merely looks like an Object property is not a known reason.
    expect(chatEndStatusOf({ reason: 'toString', endedBy: 'SYSTEM' }, null, false)).toBe('SYSTEM_ERROR');
  });

  it('maps every rejection reason, whatever happened before', () => {
    const expected: Record<RejectReason, string> = {
      BLACKLISTED: 'BLACKLISTED',
      NO_AGENT: 'NO_AGENT_ONLINE',
      AFTER_HOURS: 'NO_AGENT_ONLINE',
      QUEUE_TIMEOUT: 'QUEUE_TIMEOUT',
      QUEUE_FULL: 'QUEUE_TIMEOUT',
    };
    for (const reason of Object.keys(expected) as RejectReason[]) {
      const { ended, rejected } = ending(base.slice(0, 2), { type: 'RejectContact', data: { contactId, reason }, metadata: meta({ now: T1 }) });
      expect(rejected).toBe(reason);
      expect(chatEndStatusOf(ended, rejected, false)).toBe(expected[reason]);
      expect(chatEndStatusOf(ended, rejected, true)).toBe(expected[reason]);
    }
  });

  it('names exactly the ChatEndStatus values of the GraphQL schema', () => {
    const schema = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    const body = /enum ChatEndStatus \{([^}]*)\}/.exec(schema)?.[1] ?? '';
    const values = body
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^[A-Z_]+$/.test(l));
    expect(values.sort()).toEqual([...chatEndStatuses].sort());
  });
});
