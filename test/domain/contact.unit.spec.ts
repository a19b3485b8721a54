// The contact decider as a specification, grouped by lifecycle state: none, created, in flow, queued,
// offered (to one agent, to several for ring all), connected, transferred, ended and rejected.
import { describe, expect, it } from 'vitest';
import type { ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { ContactEvent, ContactState, Customer, EndedBy, RejectReason, Transfer } from '../../src/domain/contact/contact.ts';
import { noSentMessages } from '../../src/domain/contact/contact.ts';
import { fold } from '../../src/domain/decider.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(contactDecider);

// A morning on the phone line: each step a few seconds after the last.
const T0 = '2026-11-25T09:00:00.000Z';
const T1 = '2026-11-25T09:00:05.000Z';
const T2 = '2026-11-25T09:00:08.000Z';
const T3 = '2026-11-25T09:00:20.000Z';
const EXPIRES = '2026-11-25T09:00:40.000Z';
const AFTER_EXPIRY = '2026-11-25T09:00:41.000Z';
const LATER = '2026-11-25T09:05:00.000Z';

const contactId = 'contact-1';
const caller: Customer = { kind: 'PHONE', id: '+15550123', name: null };
const reasons: RejectReason[] = ['BLACKLISTED', 'NO_AGENT', 'AFTER_HOURS', 'QUEUE_TIMEOUT', 'QUEUE_FULL'];

// Events.
const created: ContactEvent = {
  type: 'ContactCreated',
  data: { contactId, channel: 'PHONE', direction: 'IN', customer: caller, data: { crmId: 'C-42' }, createdAt: T0 },
};
const flowStarted: ContactEvent = { type: 'ContactFlowStarted', data: { flowId: 'main-menu' } };
const keyPressed = (key: string, label: string | null, at: string): ContactEvent => ({ type: 'ContactKeyPressed', data: { key, label, at } });
const queued = (skillGroupId = 'sales', queuedAt = T1, priority = 0): ContactEvent => ({ type: 'ContactQueued', data: { skillGroupId, priority, queuedAt } });
const offered = (offerId: string, agentIds: string[], transfer: Transfer | null = null, expiresAt = EXPIRES): ContactEvent => ({
  type: 'ContactOffered',
  data: { offerId, agentIds, expiresAt, transfer },
});
const declined = (offerId: string, agentId: string): ContactEvent => ({ type: 'ContactOfferDeclined', data: { offerId, agentId } });
const timedOut = (offerId: string, agentIds: string[]): ContactEvent => ({ type: 'ContactOfferTimedOut', data: { offerId, agentIds } });
const withdrawn = (offerId: string, agentIds: string[]): ContactEvent => ({ type: 'ContactOfferWithdrawn', data: { offerId, agentIds } });
const accepted = (offerId: string, agentId: string, at = T2): ContactEvent => ({ type: 'ContactAccepted', data: { offerId, agentId, at } });
const transferred = (fromAgentId: string, to: { agentId?: string; skillGroupId?: string }, note: string | null = null): ContactEvent => ({
  type: 'ContactTransferred',
  data: { fromAgentId, toAgentId: to.agentId ?? null, toSkillGroupId: to.skillGroupId ?? null, note },
});
const ended = (endedBy: EndedBy, agentId: string | null, reason = 'hung up', at = T3): ContactEvent => ({
  type: 'ContactEnded',
  data: { reason, endedBy, agentId, at },
});
const rejected = (reason: RejectReason): ContactEvent => ({ type: 'ContactRejected', data: { reason } });

// Commands.
const metaAt = (now: string) => meta({ now });
const createContact = (now = T0): ContactCommand => ({
  type: 'CreateContact',
  data: { contactId, channel: 'PHONE', direction: 'IN', customer: caller, data: { crmId: 'C-42' } },
  metadata: metaAt(now),
});
const rejectContact = (reason: RejectReason): ContactCommand => ({ type: 'RejectContact', data: { contactId, reason }, metadata: metaAt(T0) });
const startFlow = (): ContactCommand => ({ type: 'StartFlow', data: { contactId, flowId: 'main-menu' }, metadata: metaAt(T0) });
const pressKey = (key: string, label: string | null, now: string): ContactCommand => ({ type: 'PressKey', data: { contactId, key, label }, metadata: metaAt(now) });
const setVariables = (variables: Record<string, string>): ContactCommand => ({ type: 'SetVariables', data: { contactId, variables }, metadata: metaAt(T0) });
const queueContact = (skillGroupId = 'sales', now = T1, priority = 0): ContactCommand => ({
  type: 'QueueContact',
  data: { contactId, skillGroupId, priority },
  metadata: metaAt(now),
});
const offerContact = (offerId: string, agentIds: string[], expiresAt = EXPIRES): ContactCommand => ({
  type: 'OfferContact',
  data: { contactId, offerId, agentIds, expiresAt },
  metadata: metaAt(T1),
});
const acceptOffer = (offerId: string, agentId: string, now = T2): ContactCommand => ({ type: 'AcceptOffer', data: { contactId, offerId, agentId }, metadata: metaAt(now) });
const declineOffer = (offerId: string, agentId: string, now = T2): ContactCommand => ({ type: 'DeclineOffer', data: { contactId, offerId, agentId }, metadata: metaAt(now) });
const timeOutOffer = (offerId: string, now = EXPIRES): ContactCommand => ({ type: 'TimeOutOffer', data: { contactId, offerId }, metadata: metaAt(now) });
const transferContact = (agentId: string, to: { agentId?: string; skillGroupId?: string }, note: string | null = null, now = T3): ContactCommand => ({
  type: 'TransferContact',
  data: { contactId, agentId, toAgentId: to.agentId ?? null, toSkillGroupId: to.skillGroupId ?? null, note },
  metadata: metaAt(now),
});
const endContact = (endedBy: EndedBy, agentId: string | null, reason = 'hung up', now = T3): ContactCommand => ({
  type: 'EndContact',
  data: { contactId, reason, endedBy, agentId },
  metadata: metaAt(now),
});

const stateOf = (events: ContactEvent[]): ContactState => fold(contactDecider, events);

/** Decides each command on the state its predecessors left, as the command handler would; returns every event. */
function run(commands: ContactCommand[]): ContactEvent[] {
  const history: ContactEvent[] = [];
  for (const command of commands) history.push(...contactDecider.decide(command, stateOf(history)));
  return history;
}

const inQueue = [created, flowStarted, queued()];

describe('contact decider', () => {
  describe('a whole call', () => {
    it('is created, goes through the flow, waits, is answered, transferred, answered again and ended', () => {
      const events = run([
        createContact(T0),
        startFlow(),
        pressKey('1', 'Sales', '2026-11-25T09:00:02.000Z'),
        pressKey('3', 'New order', '2026-11-25T09:00:04.000Z'),
        queueContact('sales', T1),
        offerContact('offer-1', ['agent-1']),
        acceptOffer('offer-1', 'agent-1', T2),
        transferContact('agent-1', { skillGroupId: 'billing' }, 'wants a refund', T3),
        offerContact('offer-2', ['agent-2']),
        acceptOffer('offer-2', 'agent-2', '2026-11-25T09:00:25.000Z'),
        endContact('AGENT', 'agent-2', 'resolved', LATER),
      ]);
      expect(events).toEqual([
        created,
        flowStarted,
        keyPressed('1', 'Sales', '2026-11-25T09:00:02.000Z'),
        keyPressed('3', 'New order', '2026-11-25T09:00:04.000Z'),
        queued('sales', T1),
        offered('offer-1', ['agent-1']),
        accepted('offer-1', 'agent-1', T2),
        transferred('agent-1', { skillGroupId: 'billing' }, 'wants a refund'),
        offered('offer-2', ['agent-2'], { fromAgentId: 'agent-1', note: 'wants a refund' }),
        accepted('offer-2', 'agent-2', '2026-11-25T09:00:25.000Z'),
        ended('AGENT', 'agent-2', 'resolved', LATER),
      ]);
      expect(stateOf(events)).toMatchObject({
        status: 'ended',
        reason: 'resolved',
        endedBy: 'AGENT',
        keyTrail: [
          { key: '1', label: 'Sales', at: '2026-11-25T09:00:02.000Z' },
          { key: '3', label: 'New order', at: '2026-11-25T09:00:04.000Z' },
        ],
      });
    });
  });

  describe('when the contact does not exist', () => {
    it('creates it, with the time it was created', () => {
      spec.given([]).when(createContact()).then([created]);
    });

    it('starts as created with an empty key trail, no variables and nobody tried', () => {
      expect(stateOf([created])).toEqual({
        status: 'created',
        id: contactId,
        channel: 'PHONE',
        direction: 'IN',
        customer: caller,
        data: { crmId: 'C-42' },
        keyTrail: [],
        variables: {},
        triedAgentIds: [],
        pendingTransfer: null,
        directAgentId: null,
        lastOfferId: null,
        missedAgentIds: [],
        lastAgentMessageAt: null,
        lastCustomerMessageAt: null,
        call: null,
        recordingIds: [],
        completedRecordingIds: [],
        held: false,
        consult: null,
        handedOverBy: [],
        silentSides: [],
        // A chat's conversation (issue 11): none on a phone contact.
        source: null,
        messageCount: 0,
        sentMessages: noSentMessages,
        customerLastReadSeq: 0,
        agentLastReadSeq: 0,
        transferred: false,
      });
    });

    it.each<[string, ContactCommand]>([
      ['RejectContact', rejectContact('NO_AGENT')],
      ['StartFlow', startFlow()],
      ['PressKey', pressKey('1', null, T1)],
      ['SetVariables', setVariables({ lang: 'en' })],
      ['QueueContact', queueContact()],
      ['OfferContact', offerContact('offer-1', ['agent-1'])],
      ['AcceptOffer', acceptOffer('offer-1', 'agent-1')],
      ['DeclineOffer', declineOffer('offer-1', 'agent-1')],
      ['TransferContact', transferContact('agent-1', { skillGroupId: 'billing' })],
      ['EndContact', endContact('CUSTOMER', null)],
    ])('refuses %s as not found', (_name, command) => {
      spec.given([]).when(command).thenThrows(NotFoundError, /Contact contact-1 not found/);
    });

    it('ignores an offer timer, which may fire for anything', () => {
      spec.given([]).when(timeOutOffer('offer-1')).then([]);
    });
  });

  describe('when created', () => {
    const fresh = [created];

    it('ignores the same creation again (a retry)', () => {
      spec.given(fresh).when(createContact(T1)).then([]);
    });

    it('starts a flow', () => {
      spec.given(fresh).when(startFlow()).then([flowStarted]);
    });

    it('joins a queue directly, without a flow', () => {
      spec.given(fresh).when(queueContact('sales', T1, 5)).then([queued('sales', T1, 5)]);
    });

    it.each(reasons)('is rejected %s', (reason) => {
      spec.given(fresh).when(rejectContact(reason)).then([rejected(reason)]);
      expect(stateOf([...fresh, rejected(reason)])).toMatchObject({ status: 'rejected', reason });
    });

    it('refuses an offer: it is not waiting in a queue', () => {
      spec.given(fresh).when(offerContact('offer-1', ['agent-1'])).thenThrows(ConflictError, /is created, not waiting in a queue/);
    });

    it('is ended by the customer, by nobody served', () => {
      spec.given(fresh).when(endContact('CUSTOMER', null)).then([ended('CUSTOMER', null)]);
    });
  });

  describe('when in flow', () => {
    const inFlow = [created, flowStarted];

    it('records a key press with its label and the time', () => {
      spec.given(inFlow).when(pressKey('2', 'Support', T1)).then([keyPressed('2', 'Support', T1)]);
    });

    it('records a key press without a label', () => {
      spec.given(inFlow).when(pressKey('#', null, T1)).then([keyPressed('#', null, T1)]);
    });

    it('keeps the key trail in the order the keys were pressed', () => {
      const state = stateOf([...inFlow, keyPressed('1', 'Sales', T0), keyPressed('9', null, T1), keyPressed('1', 'Sales', T2)]);
      expect(state).toMatchObject({
        status: 'inFlow',
        keyTrail: [
          { key: '1', label: 'Sales', at: T0 },
          { key: '9', label: null, at: T1 },
          { key: '1', label: 'Sales', at: T2 },
        ],
      });
    });

    it('sets flow variables, the later value winning', () => {
      spec.given(inFlow).when(setVariables({ lang: 'en' })).then([{ type: 'ContactVariablesSet', data: { variables: { lang: 'en' } } }]);
      const state = stateOf([
        ...inFlow,
        { type: 'ContactVariablesSet', data: { variables: { lang: 'en', tier: 'gold' } } },
        { type: 'ContactVariablesSet', data: { variables: { lang: 'zh' } } },
      ]);
      expect(state).toMatchObject({ variables: { lang: 'zh', tier: 'gold' } });
    });

    it('ignores setting no variables', () => {
      spec.given(inFlow).when(setVariables({})).then([]);
    });

    it('refuses to start a second flow', () => {
      spec.given(inFlow).when(startFlow()).thenThrows(ConflictError, /is inFlow; a flow starts only on a new contact/);
    });

    it('joins a queue, which keeps the key trail', () => {
      spec.given(inFlow).when(queueContact('sales', T1, 2)).then([queued('sales', T1, 2)]);
      const state = stateOf([...inFlow, keyPressed('1', 'Sales', T0), queued('sales', T1, 2)]);
      expect(state).toMatchObject({ status: 'queued', skillGroupId: 'sales', priority: 2, queuedAt: T1, keyTrail: [{ key: '1', label: 'Sales', at: T0 }] });
    });

    it('is rejected BLACKLISTED before it reaches a queue', () => {
      spec.given(inFlow).when(rejectContact('BLACKLISTED')).then([rejected('BLACKLISTED')]);
    });

    it('is ended by the customer hanging up in the menu', () => {
      spec.given(inFlow).when(endContact('CUSTOMER', null)).then([ended('CUSTOMER', null)]);
    });

    it('refuses an agent ending a contact they do not hold', () => {
      spec.given(inFlow).when(endContact('AGENT', 'agent-1')).thenThrows(ConflictError, /Agent agent-1 does not hold contact contact-1/);
    });
  });

  describe('when queued', () => {
    it('ignores queueing again in the same skill group', () => {
      spec.given(inQueue).when(queueContact('sales', T2)).then([]);
    });

    it('refuses starting a flow', () => {
      spec.given(inQueue).when(startFlow()).thenThrows(ConflictError, /is queued; a flow starts only on a new contact/);
    });

    it('still records key presses while waiting', () => {
      spec.given(inQueue).when(pressKey('0', null, T2)).then([keyPressed('0', null, T2)]);
      expect(stateOf([...inQueue, keyPressed('0', null, T2)])).toMatchObject({ status: 'queued', queuedAt: T1 });
    });

    it('is offered to an agent, not as a transfer', () => {
      spec.given(inQueue).when(offerContact('offer-1', ['agent-1'])).then([offered('offer-1', ['agent-1'])]);
    });

    it('refuses an offer to nobody, naming the agentIds field', () => {
      spec.given(inQueue).when(offerContact('offer-1', [])).thenThrows(ValidationError, /^agentIds: an offer goes to at least one agent/);
    });

    it.each<RejectReason>(['QUEUE_TIMEOUT', 'QUEUE_FULL', 'NO_AGENT'])('is rejected %s', (reason) => {
      spec.given(inQueue).when(rejectContact(reason)).then([rejected(reason)]);
    });

    it('is ended by the customer giving up, served by nobody', () => {
      spec.given(inQueue).when(endContact('CUSTOMER', null, 'abandoned')).then([ended('CUSTOMER', null, 'abandoned')]);
    });

    it('refuses an agent ending it', () => {
      spec.given(inQueue).when(endContact('AGENT', 'agent-1')).thenThrows(ConflictError, /Agent agent-1 does not hold contact contact-1/);
    });

    it('refuses an accept or a decline: nothing is offered', () => {
      spec.given(inQueue).when(acceptOffer('offer-1', 'agent-1')).thenThrows(ConflictError, /no longer open to agent agent-1/);
      spec.given(inQueue).when(declineOffer('offer-1', 'agent-1')).thenThrows(ConflictError, /no longer open to agent agent-1/);
    });

    it('ignores an offer timer', () => {
      spec.given(inQueue).when(timeOutOffer('offer-1')).then([]);
    });

    it('refuses a transfer: nobody holds it', () => {
      spec.given(inQueue).when(transferContact('agent-1', { skillGroupId: 'billing' })).thenThrows(ConflictError, /Agent agent-1 does not hold contact contact-1/);
    });
  });

  describe('when offered to one agent', () => {
    const ringing = [...inQueue, offered('offer-1', ['agent-1'])];

    it('ignores the same offer again (a retry)', () => {
      spec.given(ringing).when(offerContact('offer-1', ['agent-1'])).then([]);
    });

    it('refuses a second offer at once', () => {
      spec.given(ringing).when(offerContact('offer-2', ['agent-2'])).thenThrows(ConflictError, /is offered, not waiting in a queue/);
    });

    it('is accepted before it expires: connected', () => {
      spec.given(ringing).when(acceptOffer('offer-1', 'agent-1', T2)).then([accepted('offer-1', 'agent-1', T2)]);
      expect(stateOf([...ringing, accepted('offer-1', 'agent-1', T2)])).toMatchObject({ status: 'connected', agentId: 'agent-1', queuedAt: T1 });
    });

    it('is accepted up to the last millisecond before expiresAt', () => {
      spec.given(ringing).when(acceptOffer('offer-1', 'agent-1', '2026-11-25T09:00:39.999Z')).then([accepted('offer-1', 'agent-1', '2026-11-25T09:00:39.999Z')]);
    });

    it('refuses an accept at expiresAt: the offer timed out', () => {
      spec.given(ringing).when(acceptOffer('offer-1', 'agent-1', EXPIRES)).thenThrows(ConflictError, /timed out at 2026-11-25T09:00:40.000Z/);
    });

    it('refuses an accept after expiresAt, even before the timer fired', () => {
      spec.given(ringing).when(acceptOffer('offer-1', 'agent-1', AFTER_EXPIRY)).thenThrows(ConflictError, /timed out/);
    });

    it('refuses an accept by an agent it was not offered to', () => {
      spec.given(ringing).when(acceptOffer('offer-1', 'agent-2')).thenThrows(ConflictError, /no longer open to agent agent-2/);
    });

    it('refuses an accept of another offerId', () => {
      spec.given(ringing).when(acceptOffer('offer-0', 'agent-1')).thenThrows(ConflictError, /no longer open to agent agent-1/);
    });

    it('refuses a decline by an agent it was not offered to', () => {
      spec.given(ringing).when(declineOffer('offer-1', 'agent-2')).thenThrows(ConflictError, /no longer open to agent agent-2/);
    });

    it('is declined: back to its place in the queue, the agent tried', () => {
      spec.given(ringing).when(declineOffer('offer-1', 'agent-1')).then([declined('offer-1', 'agent-1')]);
      const state = stateOf([...ringing, declined('offer-1', 'agent-1')]);
      expect(state).toMatchObject({ status: 'queued', skillGroupId: 'sales', queuedAt: T1, triedAgentIds: ['agent-1'] });
      expect(state).not.toHaveProperty('offer');
    });

    it('ignores the timer before expiresAt', () => {
      spec.given(ringing).when(timeOutOffer('offer-1', '2026-11-25T09:00:39.999Z')).then([]);
    });

    it('times out at expiresAt, naming the agents still ringing', () => {
      spec.given(ringing).when(timeOutOffer('offer-1', EXPIRES)).then([timedOut('offer-1', ['agent-1'])]);
    });

    it('ignores the timer of another offerId, even late', () => {
      spec.given(ringing).when(timeOutOffer('offer-0', LATER)).then([]);
    });

    it('is ended by the customer hanging up while it rings, served by nobody', () => {
      spec.given(ringing).when(endContact('CUSTOMER', null)).then([ended('CUSTOMER', null)]);
    });

    it('refuses the ringing agent ending it: they do not hold it yet', () => {
      spec.given(ringing).when(endContact('AGENT', 'agent-1')).thenThrows(ConflictError, /Agent agent-1 does not hold contact contact-1/);
    });

    it('refuses a transfer by the ringing agent', () => {
      spec.given(ringing).when(transferContact('agent-1', { agentId: 'agent-2' })).thenThrows(ConflictError, /Agent agent-1 does not hold contact contact-1/);
    });
  });

  describe('after the offer timed out', () => {
    const missed = [...inQueue, offered('offer-1', ['agent-1']), timedOut('offer-1', ['agent-1'])];

    it('is back in the queue at its place, the agent tried', () => {
      expect(stateOf(missed)).toMatchObject({ status: 'queued', queuedAt: T1, triedAgentIds: ['agent-1'] });
    });

    it('ignores the timer fired twice: the timeout takes effect once', () => {
      spec.given(missed).when(timeOutOffer('offer-1', LATER)).then([]);
    });

    it('refuses a late accept', () => {
      spec.given(missed).when(acceptOffer('offer-1', 'agent-1', AFTER_EXPIRY)).thenThrows(ConflictError, /no longer open to agent agent-1/);
    });

    it('is offered again with a new offerId', () => {
      spec.given(missed).when(offerContact('offer-2', ['agent-2'])).then([offered('offer-2', ['agent-2'])]);
    });

    it('ignores the old timer once offered again, and refuses an accept of the old offer', () => {
      const again = [...missed, offered('offer-2', ['agent-2'], null, LATER)];
      spec.given(again).when(timeOutOffer('offer-1', LATER)).then([]);
      spec.given(again).when(acceptOffer('offer-1', 'agent-1', T2)).thenThrows(ConflictError, /no longer open/);
    });
  });

  describe('when offered to three agents (ring all)', () => {
    const ringAll = [...inQueue, offered('offer-1', ['agent-1', 'agent-2', 'agent-3'])];

    it('goes to the first to accept; the other offers are withdrawn in the same decision', () => {
      spec
        .given(ringAll)
        .when(acceptOffer('offer-1', 'agent-2'))
        .then([withdrawn('offer-1', ['agent-1', 'agent-3']), accepted('offer-1', 'agent-2')]);
    });

    it('is connected to the winner, the withdrawn agents not counted as tried', () => {
      const state = stateOf([...ringAll, withdrawn('offer-1', ['agent-1', 'agent-3']), accepted('offer-1', 'agent-2')]);
      expect(state).toMatchObject({ status: 'connected', agentId: 'agent-2', triedAgentIds: [] });
    });

    it('refuses a second accept after the first won', () => {
      const won = [...ringAll, withdrawn('offer-1', ['agent-1', 'agent-3']), accepted('offer-1', 'agent-2')];
      spec.given(won).when(acceptOffer('offer-1', 'agent-3')).thenThrows(ConflictError, /no longer open to agent agent-3/);
    });

    it('ignores the winner accepting again (a retry)', () => {
      const won = [...ringAll, withdrawn('offer-1', ['agent-1', 'agent-3']), accepted('offer-1', 'agent-2')];
      spec.given(won).when(acceptOffer('offer-1', 'agent-2')).then([]);
    });

    it('keeps the others ringing when one declines', () => {
      spec.given(ringAll).when(declineOffer('offer-1', 'agent-1')).then([declined('offer-1', 'agent-1')]);
      const state = stateOf([...ringAll, declined('offer-1', 'agent-1')]);
      expect(state).toMatchObject({
        status: 'offered',
        triedAgentIds: ['agent-1'],
        offer: { offerId: 'offer-1', pendingAgentIds: ['agent-2', 'agent-3'], expiresAt: EXPIRES },
      });
    });

    it('refuses an accept by the agent who declined', () => {
      spec.given([...ringAll, declined('offer-1', 'agent-1')]).when(acceptOffer('offer-1', 'agent-1')).thenThrows(ConflictError, /no longer open to agent agent-1/);
    });

    it('withdraws only the agents still ringing when one accepts after another declined', () => {
      spec
        .given([...ringAll, declined('offer-1', 'agent-1')])
        .when(acceptOffer('offer-1', 'agent-3'))
        .then([withdrawn('offer-1', ['agent-2']), accepted('offer-1', 'agent-3')]);
    });

    it('goes back to the queue, keeping queuedAt, when the last one declines', () => {
      const twoDeclined = [...ringAll, declined('offer-1', 'agent-1'), declined('offer-1', 'agent-3')];
      spec.given(twoDeclined).when(declineOffer('offer-1', 'agent-2')).then([declined('offer-1', 'agent-2')]);
      expect(stateOf([...twoDeclined, declined('offer-1', 'agent-2')])).toMatchObject({
        status: 'queued',
        skillGroupId: 'sales',
        queuedAt: T1,
        triedAgentIds: ['agent-1', 'agent-3', 'agent-2'],
      });
    });

    it('times out for the agents still ringing only', () => {
      spec.given([...ringAll, declined('offer-1', 'agent-2')]).when(timeOutOffer('offer-1')).then([timedOut('offer-1', ['agent-1', 'agent-3'])]);
      expect(stateOf([...ringAll, declined('offer-1', 'agent-2'), timedOut('offer-1', ['agent-1', 'agent-3'])])).toMatchObject({
        status: 'queued',
        queuedAt: T1,
        triedAgentIds: ['agent-2', 'agent-1', 'agent-3'],
      });
    });
  });

  describe('when connected', () => {
    const talking = [...inQueue, offered('offer-1', ['agent-1']), accepted('offer-1', 'agent-1')];

    it('refuses an accept by another agent', () => {
      spec.given(talking).when(acceptOffer('offer-1', 'agent-2')).thenThrows(ConflictError, /no longer open to agent agent-2/);
    });

    it('refuses a decline after accepting', () => {
      spec.given(talking).when(declineOffer('offer-1', 'agent-1')).thenThrows(ConflictError, /no longer open to agent agent-1/);
    });

    it('ignores the offer timer firing after the accept', () => {
      spec.given(talking).when(timeOutOffer('offer-1', LATER)).then([]);
    });

    it('refuses a rejection: it must be ended instead', () => {
      spec.given(talking).when(rejectContact('QUEUE_TIMEOUT')).thenThrows(ConflictError, /connected to an agent; end it instead/);
    });

    it('refuses queueing again', () => {
      spec.given(talking).when(queueContact('billing')).thenThrows(ConflictError, /is connected and cannot join a queue/);
    });

    it('is ended by the agent holding it, with the reason and who ended it', () => {
      spec.given(talking).when(endContact('AGENT', 'agent-1', 'resolved')).then([ended('AGENT', 'agent-1', 'resolved')]);
      expect(stateOf([...talking, ended('AGENT', 'agent-1', 'resolved')])).toMatchObject({ status: 'ended', reason: 'resolved', endedBy: 'AGENT' });
    });

    it('is ended by the customer, naming the agent who served them', () => {
      spec.given(talking).when(endContact('CUSTOMER', null)).then([ended('CUSTOMER', 'agent-1')]);
    });

    it('is ended by the system, naming the agent who served', () => {
      spec.given(talking).when(endContact('SYSTEM', null, 'idle chat')).then([ended('SYSTEM', 'agent-1', 'idle chat')]);
    });

    it('refuses an agent ending a contact they do not hold', () => {
      spec.given(talking).when(endContact('AGENT', 'agent-2')).thenThrows(ConflictError, /Agent agent-2 does not hold contact contact-1/);
    });

    it('is transferred to an agent, with a note', () => {
      spec
        .given(talking)
        .when(transferContact('agent-1', { agentId: 'agent-2' }, 'VIP, knows the case'))
        .then([transferred('agent-1', { agentId: 'agent-2' }, 'VIP, knows the case')]);
    });

    it('is transferred to a skill group, without a note', () => {
      spec.given(talking).when(transferContact('agent-1', { skillGroupId: 'billing' })).then([transferred('agent-1', { skillGroupId: 'billing' })]);
    });

    it('refuses a transfer by an agent who does not hold it', () => {
      spec.given(talking).when(transferContact('agent-2', { agentId: 'agent-3' })).thenThrows(ConflictError, /Agent agent-2 does not hold contact contact-1/);
    });

    it('refuses a transfer to both an agent and a skill group, or to neither', () => {
      spec.given(talking).when(transferContact('agent-1', { agentId: 'agent-2', skillGroupId: 'billing' })).thenThrows(ValidationError, /^to: /);
      spec.given(talking).when(transferContact('agent-1', {})).thenThrows(ValidationError, /^to: /);
    });

    it('refuses a transfer to the agent holding it', () => {
      spec.given(talking).when(transferContact('agent-1', { agentId: 'agent-1' })).thenThrows(ValidationError, /^toAgentId: .*themselves/);
    });
  });

  describe('when transferred to an agent', () => {
    const talking = [...inQueue, offered('offer-1', ['agent-1']), accepted('offer-1', 'agent-1')];
    const toAgent = [...talking, transferred('agent-1', { agentId: 'agent-2' }, 'VIP')];

    it('waits in the same skill group for that agent, the from-agent tried', () => {
      expect(stateOf(toAgent)).toMatchObject({
        status: 'queued',
        skillGroupId: 'sales',
        directAgentId: 'agent-2',
        pendingTransfer: { fromAgentId: 'agent-1', note: 'VIP' },
        triedAgentIds: ['agent-1'],
      });
    });

    it('is offered to that agent only, the offer saying from whom and the note', () => {
      spec.given(toAgent).when(offerContact('offer-2', ['agent-2'])).then([offered('offer-2', ['agent-2'], { fromAgentId: 'agent-1', note: 'VIP' })]);
    });

    it('refuses an offer to another agent', () => {
      spec.given(toAgent).when(offerContact('offer-2', ['agent-3'])).thenThrows(ConflictError, /was transferred to agent agent-2/);
    });

    it('refuses an offer ringing that agent together with others', () => {
      spec.given(toAgent).when(offerContact('offer-2', ['agent-2', 'agent-3'])).thenThrows(ConflictError, /was transferred to agent agent-2/);
    });

    it('refuses the from-agent ending or transferring it again: they no longer hold it', () => {
      spec.given(toAgent).when(endContact('AGENT', 'agent-1')).thenThrows(ConflictError, /Agent agent-1 does not hold contact contact-1/);
      spec.given(toAgent).when(transferContact('agent-1', { skillGroupId: 'billing' })).thenThrows(ConflictError, /Agent agent-1 does not hold contact contact-1/);
    });

    it('is ended by the customer while waiting for the new agent', () => {
      spec.given(toAgent).when(endContact('CUSTOMER', null)).then([ended('CUSTOMER', null)]);
    });

    it('is accepted by the new agent, who then holds it', () => {
      const offeredToB = [...toAgent, offered('offer-2', ['agent-2'], { fromAgentId: 'agent-1', note: 'VIP' })];
      // The transfer travels until the new agent takes the contact.
      expect(stateOf(offeredToB)).toMatchObject({ status: 'offered', pendingTransfer: { fromAgentId: 'agent-1', note: 'VIP' }, directAgentId: null });
      spec.given(offeredToB).when(acceptOffer('offer-2', 'agent-2')).then([accepted('offer-2', 'agent-2')]);
      const connectedToB = [...offeredToB, accepted('offer-2', 'agent-2')];
      expect(stateOf(connectedToB)).toMatchObject({ status: 'connected', pendingTransfer: null });
      spec.given(connectedToB).when(endContact('AGENT', 'agent-2', 'done')).then([ended('AGENT', 'agent-2', 'done')]);
      spec.given(connectedToB).when(endContact('AGENT', 'agent-1', 'done')).thenThrows(ConflictError, /Agent agent-1 does not hold/);
    });
  });

  describe('when transferred to a skill group', () => {
    const talking = [...inQueue, offered('offer-1', ['agent-1']), accepted('offer-1', 'agent-1')];
    const toGroup = [...talking, transferred('agent-1', { skillGroupId: 'billing' }, 'refund')];

    it('is queued there, the from-agent tried so the router tries them last', () => {
      expect(stateOf(toGroup)).toMatchObject({
        status: 'queued',
        skillGroupId: 'billing',
        directAgentId: null,
        pendingTransfer: { fromAgentId: 'agent-1', note: 'refund' },
        triedAgentIds: ['agent-1'],
      });
    });

    it('ignores queueing again in the skill group it was transferred to', () => {
      spec.given(toGroup).when(queueContact('billing')).then([]);
    });

    it('is offered to any agent (ring all too), the offer carrying the transfer', () => {
      spec
        .given(toGroup)
        .when(offerContact('offer-2', ['agent-3', 'agent-4']))
        .then([offered('offer-2', ['agent-3', 'agent-4'], { fromAgentId: 'agent-1', note: 'refund' })]);
    });

    it('carries a transfer without a note as such', () => {
      const noNote = [...talking, transferred('agent-1', { skillGroupId: 'billing' })];
      spec.given(noNote).when(offerContact('offer-2', ['agent-3'])).then([offered('offer-2', ['agent-3'], { fromAgentId: 'agent-1', note: null })]);
    });

    it('still carries the transfer and its note when the first agent offered misses it', () => {
      // The note travels to whoever finally takes the contact, not only to the first agent it rings.
      const missed = [...toGroup, offered('offer-2', ['agent-3'], { fromAgentId: 'agent-1', note: 'refund' }), timedOut('offer-2', ['agent-3'])];
      expect(stateOf(missed)).toMatchObject({ status: 'queued', skillGroupId: 'billing', triedAgentIds: ['agent-1', 'agent-3'] });
      spec.given(missed).when(offerContact('offer-3', ['agent-4'])).then([offered('offer-3', ['agent-4'], { fromAgentId: 'agent-1', note: 'refund' })]);
    });
  });

  describe('when ended', () => {
    const done = [...inQueue, offered('offer-1', ['agent-1']), accepted('offer-1', 'agent-1'), ended('AGENT', 'agent-1', 'resolved')];

    it('refuses ending it twice', () => {
      spec.given(done).when(endContact('AGENT', 'agent-1')).thenThrows(ConflictError, /Contact contact-1 has already ended/);
      spec.given(done).when(endContact('CUSTOMER', null)).thenThrows(ConflictError, /has already ended/);
    });

    it.each<[string, ContactCommand]>([
      ['RejectContact', rejectContact('NO_AGENT')],
      ['StartFlow', startFlow()],
      ['PressKey', pressKey('1', null, LATER)],
      ['SetVariables', setVariables({ lang: 'en' })],
      ['QueueContact', queueContact()],
      ['OfferContact', offerContact('offer-2', ['agent-2'])],
      ['AcceptOffer', acceptOffer('offer-1', 'agent-1')],
      ['DeclineOffer', declineOffer('offer-1', 'agent-1')],
      ['TransferContact', transferContact('agent-1', { skillGroupId: 'billing' })],
    ])('refuses %s', (_name, command) => {
      spec.given(done).when(command).thenThrows(ConflictError, /has already ended/);
    });

    it('ignores a creation retry and a late offer timer', () => {
      spec.given(done).when(createContact()).then([]);
      spec.given(done).when(timeOutOffer('offer-1', LATER)).then([]);
    });

    it('refuses ending a contact ended while queued', () => {
      spec.given([...inQueue, ended('CUSTOMER', null, 'abandoned')]).when(endContact('SYSTEM', null)).thenThrows(ConflictError, /has already ended/);
    });
  });

  describe('when rejected', () => {
    const turnedAway = [...inQueue, rejected('QUEUE_FULL')];

    it('keeps the reason', () => {
      expect(stateOf(turnedAway)).toMatchObject({ status: 'rejected', reason: 'QUEUE_FULL' });
    });

    it.each<[string, ContactCommand]>([
      ['RejectContact', rejectContact('NO_AGENT')],
      ['QueueContact', queueContact('billing')],
      ['OfferContact', offerContact('offer-1', ['agent-1'])],
      ['EndContact', endContact('CUSTOMER', null)],
    ])('refuses %s', (_name, command) => {
      spec.given(turnedAway).when(command).thenThrows(ConflictError, /has already ended/);
    });
  });
});
