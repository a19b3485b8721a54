// Call control on the contact (PH-4) as a specification: hold and resume are idempotent and belong to the
// serving agent (or a supervisor, acting as null); a warm transfer is a consultation that holds the customer,
// is answered by its target, and is completed (the target serves) or cancelled (back to the agent). The
// router's workload rule keeps the consulted agent reserved, then connected, and gives the handing-over agent
// after-call work.
import { describe, expect, it } from 'vitest';
import type { ActiveAgent } from '../../src/domain/agent/agent.ts';
import type { ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { CallInfo, ContactEvent, ContactState, Customer } from '../../src/domain/contact/contact.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { reconcileWorkload } from '../../src/domain/routing/reconcile-workload.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(contactDecider);

const T0 = '2026-11-25T09:00:00.000Z';
const T1 = '2026-11-25T09:00:05.000Z';
const T2 = '2026-11-25T09:00:08.000Z';
const T3 = '2026-11-25T09:00:20.000Z';
const EXPIRES = '2026-11-25T09:00:40.000Z';

const contactId = 'contact-1';
const caller: Customer = { kind: 'PHONE', id: '+15550123', name: null };
const call: CallInfo = { callId: 'sip-call-1@trunk', direction: 'IN', from: '+15550123', to: '+864001234567', trunkId: 'trunk-1', node: 'node-a' };

const created: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'PHONE', direction: 'IN', customer: caller, data: {}, createdAt: T0 } };
const callStarted: ContactEvent = { type: 'CallStarted', data: { ...call, at: T0 } };
const queued: ContactEvent = { type: 'ContactQueued', data: { skillGroupId: 'sales', priority: 0, queuedAt: T0 } };
const offered: ContactEvent = { type: 'ContactOffered', data: { offerId: 'offer-1', agentIds: ['ann'], expiresAt: EXPIRES, transfer: null } };
const accepted: ContactEvent = { type: 'ContactAccepted', data: { offerId: 'offer-1', agentId: 'ann', at: T1 } };
const talking = [created, callStarted, queued, offered, accepted];
const chat: ContactEvent[] = [
  { type: 'ContactCreated', data: { contactId, channel: 'ONLINE', direction: 'IN', customer: caller, data: {}, createdAt: T0 } },
  queued,
  offered,
  accepted,
];

const held = (agentId: string | null = 'ann', at = T2): ContactEvent => ({ type: 'CallHeld', data: { agentId, at } });
const resumed = (agentId: string | null = 'ann', at = T3): ContactEvent => ({ type: 'CallResumed', data: { agentId, at } });
const consultStarted: ContactEvent = { type: 'ConsultStarted', data: { consultId: 'consult-1', fromAgentId: 'ann', toAgentId: 'bob', expiresAt: EXPIRES, at: T2 } };
const consultAnswered: ContactEvent = { type: 'ConsultAnswered', data: { consultId: 'consult-1', agentId: 'bob', device: 'SIP_PHONE', address: 'udp:127.0.0.1:5062', at: T2 } };

const cmd = (command: Omit<ContactCommand, 'metadata'> & { now?: string }): ContactCommand =>
  ({ type: command.type, data: { ...command.data, contactId }, metadata: meta({ now: command.now ?? T2 }) }) as ContactCommand;
const hold = (agentId: string | null = 'ann') => cmd({ type: 'HoldCall', data: { contactId, agentId } });
const resume = (agentId: string | null = 'ann') => cmd({ type: 'ResumeCall', data: { contactId, agentId }, now: T3 });
const startConsult = (toAgentId = 'bob', agentId: string | null = 'ann', consultId = 'consult-1') =>
  cmd({ type: 'StartConsult', data: { contactId, agentId, consultId, toAgentId, expiresAt: EXPIRES } });
const answerConsult = (agentId = 'bob', consultId = 'consult-1') =>
  cmd({ type: 'AnswerConsult', data: { contactId, consultId, agentId, device: 'SIP_PHONE', address: 'udp:127.0.0.1:5062' } });
const cancelConsult = (consultId: string | null = null, agentId: string | null = 'ann') =>
  cmd({ type: 'CancelConsult', data: { contactId, agentId, consultId, reason: consultId ? 'NO_ANSWER' : 'CANCELLED' }, now: T3 });
const completeConsult = (agentId: string | null = 'ann') => cmd({ type: 'CompleteConsult', data: { contactId, agentId }, now: T3 });

const stateOf = (events: ContactEvent[]): ContactState => events.reduce(contactDecider.evolve, contactDecider.initialState());

describe('hold and resume', () => {
  describe('when connected', () => {
    it('holds for the serving agent, or for a supervisor (null)', () => {
      spec.given(talking).when(hold()).then([held()]);
      spec.given(talking).when(hold(null)).then([held(null)]);
    });
    it('refuses another agent', () => spec.given(talking).when(hold('bob')).thenThrows(ConflictError, /does not hold/));
    it('resumes nothing when not on hold', () => spec.given(talking).when(resume()).then([]));
  });

  describe('when on hold', () => {
    it('holds again as a no-op, and resumes', () => {
      spec.given([...talking, held()]).when(hold()).then([]);
      spec.given([...talking, held()]).when(resume()).then([resumed()]);
      expect(stateOf([...talking, held()])).toMatchObject({ held: true });
      expect(stateOf([...talking, held(), resumed()])).toMatchObject({ held: false });
    });
  });

  describe('when not a connected call', () => {
    it('refuses a queued call, a chat, an ended call and a missing contact', () => {
      spec.given([created, callStarted, queued]).when(hold()).thenThrows(ConflictError, /not connected/);
      spec.given(chat).when(hold()).thenThrows(ConflictError, /not a call/);
      spec.given([...talking, { type: 'ContactEnded', data: { reason: 'ok', endedBy: 'CUSTOMER', agentId: 'ann', at: T2 } }]).when(hold()).thenThrows(ConflictError, /ended/);
      spec.given([]).when(hold()).thenThrows(NotFoundError);
    });
  });
});

describe('warm transfer', () => {
  describe('when connected', () => {
    it('starts a consultation, holding the customer', () => {
      spec.given(talking).when(startConsult()).then([held(), consultStarted]);
    });
    it('does not hold twice when already on hold', () => {
      spec.given([...talking, held()]).when(startConsult()).then([consultStarted]);
    });
    it('refuses the agent themselves, and another agent acting', () => {
      spec.given(talking).when(startConsult('ann')).thenThrows(ValidationError);
      spec.given(talking).when(startConsult('carl', 'bob')).thenThrows(ConflictError);
    });
    it('has nothing to complete or cancel', () => {
      spec.given(talking).when(completeConsult()).thenThrows(ConflictError, /no consultation/);
      spec.given(talking).when(cancelConsult()).thenThrows(ConflictError, /no consultation/);
    });
  });

  describe('when consulting', () => {
    const consulting = [...talking, held(), consultStarted];
    it('is a retry for the same consultation, a conflict for another', () => {
      spec.given(consulting).when(startConsult()).then([]);
      spec.given(consulting).when(startConsult('carl', 'ann', 'consult-2')).thenThrows(ConflictError, /already/);
    });
    it('cannot complete before the target answers', () => spec.given(consulting).when(completeConsult()).thenThrows(ConflictError, /not answered/));
    it('takes the answer of the target only, once', () => {
      spec.given(consulting).when(answerConsult()).then([consultAnswered]);
      spec.given([...consulting, consultAnswered]).when(answerConsult()).then([]);
      spec.given(consulting).when(answerConsult('carl')).thenThrows(ConflictError);
    });
    it('keeps the customer on hold: resume is refused, blind transfer too', () => {
      spec.given(consulting).when(resume()).thenThrows(ConflictError, /consultation/);
      spec
        .given(consulting)
        .when(cmd({ type: 'TransferContact', data: { contactId, agentId: 'ann', toAgentId: 'carl', toSkillGroupId: null, note: null } }))
        .thenThrows(ConflictError, /consultation/);
    });
    it('cancels (by the API) back to the agent, resuming the customer', () => {
      spec
        .given(consulting)
        .when(cancelConsult())
        .then([{ type: 'ConsultCancelled', data: { consultId: 'consult-1', toAgentId: 'bob', reason: 'CANCELLED', at: T3 } }, resumed()]);
    });
    it('cancels by the call session only the consultation it names', () => {
      spec.given(consulting).when(cancelConsult('consult-0')).then([]);
      spec
        .given(consulting)
        .when(cancelConsult('consult-1', null))
        .then([{ type: 'ConsultCancelled', data: { consultId: 'consult-1', toAgentId: 'bob', reason: 'NO_ANSWER', at: T3 } }, resumed(null)]);
    });
    it('completes once answered: the target serves the call and the customer is off hold', () => {
      const answered = [...consulting, consultAnswered];
      const completed: ContactEvent = { type: 'ConsultCompleted', data: { consultId: 'consult-1', fromAgentId: 'ann', toAgentId: 'bob', at: T3 } };
      spec.given(answered).when(completeConsult()).then([completed, resumed('bob')]);
      spec.given(answered).when(completeConsult(null)).then([completed, resumed('bob')]);
      expect(stateOf([...answered, completed, resumed('bob')])).toMatchObject({ status: 'connected', agentId: 'bob', held: false, consult: null, handedOverBy: ['ann'] });
      // Bob now holds the call: Ann can no longer act on it.
      spec.given([...answered, completed, resumed('bob')]).when(hold('ann')).thenThrows(ConflictError);
      spec.given([...answered, completed, resumed('bob')]).when(hold('bob')).then([held('bob', T2)]);
    });
  });
});

describe('workload of the agents in a warm transfer (the router\'s reconcile rule)', () => {
  const agent = (id: string, contact: { offerId: string; state: 'offered' | 'connected' }): ActiveAgent => ({
    status: 'active',
    id,
    name: id,
    login: id,
    phone: null,
    role: 'AGENT',
    passwordHash: '',
    presence: 'AVAILABLE',
    breakReason: null,
    forcedOffline: null,
    workload: { contacts: { [contactId]: { channel: 'PHONE', skillGroupId: 'sales', expiresAt: EXPIRES, ...contact } }, wrapUp: null },
  });
  const fixes = (a: ActiveAgent, events: ContactEvent[]) => reconcileWorkload(a, new Map([[contactId, stateOf(events)]]), T2);
  const consulting = [...talking, held(), consultStarted];

  it('keeps the consulted agent reserved while it rings, and connects them when they answer', () => {
    expect(fixes(agent('bob', { offerId: 'consult-1', state: 'offered' }), consulting)).toEqual([]);
    expect(fixes(agent('bob', { offerId: 'consult-1', state: 'offered' }), [...consulting, consultAnswered])).toEqual([{ type: 'ConnectContact', contactId }]);
    expect(fixes(agent('bob', { offerId: 'consult-1', state: 'connected' }), [...consulting, consultAnswered])).toEqual([]);
  });

  it('keeps the consulting agent connected meanwhile', () => {
    expect(fixes(agent('ann', { offerId: 'offer-1', state: 'connected' }), [...consulting, consultAnswered])).toEqual([]);
  });

  it('frees the consulted agent when the consultation is cancelled', () => {
    const cancelled: ContactEvent = { type: 'ConsultCancelled', data: { consultId: 'consult-1', toAgentId: 'bob', reason: 'CANCELLED', at: T3 } };
    expect(fixes(agent('bob', { offerId: 'consult-1', state: 'offered' }), [...consulting, cancelled])).toEqual([
      { type: 'ReleaseReservation', contactId, offerId: 'consult-1', reason: 'WITHDRAWN' },
    ]);
    expect(fixes(agent('bob', { offerId: 'consult-1', state: 'connected' }), [...consulting, consultAnswered, cancelled])).toEqual([
      { type: 'FinishContact', contactId, afterCallWork: false },
    ]);
  });

  it('on completion, finishes the consulting agent with after-call work and keeps the target', () => {
    const completed: ContactEvent = { type: 'ConsultCompleted', data: { consultId: 'consult-1', fromAgentId: 'ann', toAgentId: 'bob', at: T3 } };
    const after = [...consulting, consultAnswered, completed];
    expect(fixes(agent('ann', { offerId: 'offer-1', state: 'connected' }), after)).toEqual([{ type: 'FinishContact', contactId, afterCallWork: true }]);
    expect(fixes(agent('bob', { offerId: 'consult-1', state: 'connected' }), after)).toEqual([]);
  });
});
