// A WeChat delivery failure (issue 13) is told in the chat once per message, also after the chat ended.
import { describe, it } from 'vitest';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import type { ContactEvent } from '../../src/domain/contact/contact.ts';
import { NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(contactDecider);
const created: ContactEvent = { type: 'ContactCreated', data: { contactId: 'c1', channel: 'ONLINE', direction: 'IN', customer: { kind: 'WECHAT', id: 'oX', name: null }, data: {}, createdAt: '2026-11-25T08:00:00.000Z' } };
const agentSaid: ContactEvent = { type: 'ContactMessageRecorded', data: { messageId: 'm1', from: 'AGENT', agentId: 'a1', text: 'hi', at: '2026-11-25T08:01:00.000Z', seq: 1, clientMessageId: 'x', kind: 'TEXT', attachment: null, system: null } };
const fail = (seq = 1): ContactCommand => ({ type: 'RecordDeliveryFailure', data: { contactId: 'c1', seq, agentId: 'a1', errorCode: 45015, reason: 'the 48-hour window closed' }, metadata: meta() });
const told: ContactEvent = {
  type: 'ContactMessageRecorded',
  data: {
    messageId: 'c1:2',
    from: 'SYSTEM',
    agentId: 'a1',
    text: 'Not delivered to WeChat (message 1), error 45015: the 48-hour window closed',
    at: meta().now,
    seq: 2,
    clientMessageId: null,
    kind: 'SYSTEM',
    attachment: null,
    system: { type: 'DELIVERY_FAILED', agentId: 'a1', endStatus: null, promptKey: 'DELIVERY_FAILED:1' },
  },
};

describe('WeChat delivery failures', () => {
  it('are told as a SYSTEM message after the messages so far', () => spec.given([created, agentSaid]).when(fail()).then([told]));
  it('are told once per message', () => spec.given([created, agentSaid, told]).when(fail()).then([]));
  it('are told after the chat ended too', () =>
    spec.given([created, agentSaid, { type: 'ContactEnded', data: { reason: 'agentHangUp', endedBy: 'AGENT', agentId: 'a1', at: '2026-11-25T08:02:00.000Z' } }]).when(fail()).then([told]));
  it('name a message of the chat', () => spec.given([created, agentSaid]).when(fail(5)).thenThrows(ValidationError));
  it('need the chat', () => spec.given([]).when(fail()).thenThrows(NotFoundError));
});
