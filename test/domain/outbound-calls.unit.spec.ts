// Outbound calls and mobile answering (PH-2, PH-3) as a specification: an outbound contact is its agent's
// from the start and steps through agent leg → customer dialled → customer answered; the agent's line is
// taken like an offer (a second call is refused); an offline agent answering on the mobile takes phone
// offers only; the outbound rules choose the caller number, build the trunk's Request-URI and name the end.
import { describe, expect, it } from 'vitest';
import { agentDecider, type AgentCommand } from '../../src/domain/agent/agent.decide.ts';
import type { AgentEvent } from '../../src/domain/agent/agent.ts';
import { contactDecider, type ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import type { CallInfo, ContactEvent } from '../../src/domain/contact/contact.ts';
import { fold } from '../../src/domain/decider.ts';
import { ConflictError, ForbiddenError, ValidationError } from '../../src/domain/errors.ts';
import { hasCapacity } from '../../src/domain/routing/capacity.ts';
import { reconcileWorkload } from '../../src/domain/routing/reconcile-workload.ts';
import type { RoutableAgent } from '../../src/domain/routing/routing-state.ts';
import { skillGroupDecider, type SkillGroupCommand } from '../../src/domain/skill-group/skill-group.decide.ts';
import type { SkillGroupEvent } from '../../src/domain/skill-group/skill-group.ts';
import { callerNumber, failedCallEndStatus, trunkRequestUri } from '../../src/domain/telephony/outbound-rules.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const T0 = '2026-11-25T09:00:00.000Z';
const T1 = '2026-11-25T09:00:04.000Z';
const T2 = '2026-11-25T09:00:09.000Z';
const EXPIRES = '2026-11-25T09:02:00.000Z';
const contactId = 'contact-1';
const agentId = 'agent-1';
const call: CallInfo = { callId: contactId, direction: 'OUT', from: '+861012345678', to: '13900000001', trunkId: 'trunk-1', node: 'node-a' };

describe('an outbound call on the contact', () => {
  const spec = deciderSpec(contactDecider);
  const start = (skillGroupId: string | null = 'sales'): ContactCommand => ({
    type: 'StartOutboundCall',
    data: { contactId, agentId, skillGroupId, customer: { kind: 'PHONE', id: '13900000001', name: null }, data: {}, call },
    metadata: meta({ now: T0 }),
  });
  const created: ContactEvent = {
    type: 'ContactCreated',
    data: { contactId, channel: 'PHONE', direction: 'OUT', customer: { kind: 'PHONE', id: '13900000001', name: null }, data: {}, createdAt: T0 },
  };
  const started: ContactEvent[] = [created, { type: 'CallStarted', data: { ...call, at: T0 } }, { type: 'ContactAssigned', data: { agentId, skillGroupId: 'sales', at: T0 } }];
  const agentAnswered: ContactEvent = { type: 'CallAgentLegAnswered', data: { agentId, at: T1 } };
  const dialled: ContactEvent = { type: 'CallCustomerDialled', data: { callId: 'sip-1', at: T1 } };
  const cmd = (c: Omit<ContactCommand, 'metadata'>, now = T1) => ({ ...c, metadata: meta({ now }) }) as ContactCommand;

  it('starts as the agent\'s contact, with its call, outside any queue', () => {
    spec.given([]).when(start()).then(started);
    expect(fold(contactDecider, started)).toMatchObject({ status: 'connected', direction: 'OUT', agentId, skillGroupId: 'sales', call, outbound: { agentAnsweredAt: null } });
  });

  it('ignores the same start again (a retry)', () => {
    spec.given(started).when(start()).then([]);
  });

  it('refuses a call that does not go out', () => {
    spec.given([]).when({ ...start(), data: { ...(start().data as object), call: { ...call, direction: 'IN' } } } as ContactCommand).thenThrows(ValidationError);
  });

  it('records the agent\'s leg ringing under the contact id, and its answer once', () => {
    spec
      .given(started)
      .when(cmd({ type: 'RingAgentLeg', data: { contactId, offerId: contactId, agentId, device: 'MOBILE', address: 'mobile ***1' } }))
      .then([{ type: 'CallAgentLegRinging', data: { offerId: contactId, agentId, device: 'MOBILE', address: 'mobile ***1', at: T1 } }]);
    spec.given(started).when(cmd({ type: 'AnswerAgentLeg', data: { contactId, agentId } })).then([agentAnswered]);
    spec.given([...started, agentAnswered]).when(cmd({ type: 'AnswerAgentLeg', data: { contactId, agentId } })).then([]);
    spec.given(started).when(cmd({ type: 'AnswerAgentLeg', data: { contactId, agentId: 'agent-2' } })).thenThrows(ConflictError);
  });

  it('dials the customer only after the agent answered, and once', () => {
    spec.given(started).when(cmd({ type: 'DialCustomer', data: { contactId, callId: 'sip-1' } })).thenThrows(ConflictError, /has not answered/);
    spec.given([...started, agentAnswered]).when(cmd({ type: 'DialCustomer', data: { contactId, callId: 'sip-1' } })).then([dialled]);
    spec.given([...started, agentAnswered, dialled]).when(cmd({ type: 'DialCustomer', data: { contactId, callId: 'sip-1' } })).then([]);
    spec.given([...started, agentAnswered, dialled]).when(cmd({ type: 'DialCustomer', data: { contactId, callId: 'sip-2' } })).thenThrows(ConflictError);
  });

  it('records the customer\'s answer after they were dialled', () => {
    spec.given([...started, agentAnswered]).when(cmd({ type: 'AnswerCustomerLeg', data: { contactId } })).thenThrows(ConflictError);
    spec.given([...started, agentAnswered, dialled]).when(cmd({ type: 'AnswerCustomerLeg', data: { contactId } }, T2)).then([{ type: 'CallCustomerAnswered', data: { at: T2 } }]);
  });

  it('ends when the agent hangs up, and is not transferred', () => {
    spec
      .given([...started, agentAnswered])
      .when(cmd({ type: 'EndContact', data: { contactId, reason: 'ok', endedBy: 'AGENT', agentId } }, T2))
      .then([{ type: 'ContactEnded', data: { reason: 'ok', endedBy: 'AGENT', agentId, at: T2 } }]);
    spec
      .given(started)
      .when(cmd({ type: 'TransferContact', data: { contactId, agentId, toAgentId: null, toSkillGroupId: 'billing', note: null } }))
      .thenThrows(ConflictError, /outbound/);
  });

  it('makes the agent holding the call connected (reconciled like an accepted offer), and finished with after-call work when it ends', () => {
    const agent = fold(agentDecider, [
      { type: 'AgentCreated', data: { agentId, name: 'Ann', login: 'ann', passwordHash: 'h', phone: null, role: 'AGENT' } },
      { type: 'AgentReserved', data: { contactId, offerId: contactId, channel: 'PHONE', skillGroupId: 'sales', expiresAt: EXPIRES } },
    ]);
    if (agent.status !== 'active') throw new Error('no agent');
    expect(reconcileWorkload(agent, new Map([[contactId, fold(contactDecider, started)]]), T1)).toEqual([{ type: 'ConnectContact', contactId }]);
  });
});

describe('the agent\'s line and mobile answering', () => {
  const spec = deciderSpec(agentDecider);
  const created: AgentEvent = { type: 'AgentCreated', data: { agentId, name: 'Ann', login: 'ann', passwordHash: 'h', phone: null, role: 'AGENT' } };
  const take = (id = contactId): AgentCommand => ({ type: 'TakeOutboundCall', data: { agentId, contactId: id, skillGroupId: null, expiresAt: EXPIRES }, metadata: meta({ now: T0 }) });
  const taken = (id = contactId): AgentEvent => ({ type: 'AgentReserved', data: { contactId: id, offerId: id, channel: 'PHONE', skillGroupId: '', expiresAt: EXPIRES } });
  const mobileSet = (mode: 'NEVER' | 'WHEN_OFFLINE' | 'ALWAYS', mobileNumber: string | null = '13700000001'): AgentEvent => ({ type: 'AgentMobileAnsweringSet', data: { mode, mobileNumber } });
  const setMobile = (mode: 'NEVER' | 'WHEN_OFFLINE' | 'ALWAYS', mobileNumber: string | null = '13700000001'): AgentCommand => ({
    type: 'SetMobileAnswering',
    data: { agentId, mode, mobileNumber },
    metadata: meta(),
  });
  const reserve = (channel: 'PHONE' | 'ONLINE'): AgentCommand => ({
    type: 'ReserveAgent',
    data: { agentId, contactId: 'in-1', offerId: 'offer-1', channel, skillGroupId: 'sales', maxConcurrency: 1, expiresAt: EXPIRES },
    metadata: meta({ now: T0 }),
  });

  it('takes the line for an outbound call whatever the presence, once', () => {
    spec.given([created]).when(take()).then([taken()]);
    spec.given([created, taken()]).when(take()).then([]);
  });

  it('refuses a second call while one holds the line, and calls while forced offline', () => {
    spec.given([created, taken()]).when(take('contact-2')).thenThrows(ConflictError, /already on a call/);
    spec.given([created, { type: 'AgentForcedOffline', data: { reason: 'audit' } }]).when(take()).thenThrows(ForbiddenError);
  });

  it('keeps an inbound offer off an agent on an outbound call', () => {
    spec.given([created, { type: 'AgentWentAvailable', data: {} }, taken()]).when(reserve('PHONE')).thenThrows(ConflictError, /no room/);
  });

  it('sets mobile answering, needs a number for it, and ignores the same setting again', () => {
    spec.given([created]).when(setMobile('WHEN_OFFLINE')).then([mobileSet('WHEN_OFFLINE')]);
    spec.given([created]).when(setMobile('ALWAYS', null)).thenThrows(ValidationError, /mobileNumber/);
    spec.given([created, mobileSet('WHEN_OFFLINE')]).when(setMobile('WHEN_OFFLINE')).then([]);
    spec.given([created]).when(setMobile('NEVER', null)).then([]);
  });

  it('offers phone contacts to an offline agent who answers on the mobile, and nothing else', () => {
    spec.given([created, mobileSet('WHEN_OFFLINE')]).when(reserve('PHONE')).then([
      { type: 'AgentReserved', data: { contactId: 'in-1', offerId: 'offer-1', channel: 'PHONE', skillGroupId: 'sales', expiresAt: EXPIRES } },
    ]);
    spec.given([created, mobileSet('ALWAYS')]).when(reserve('ONLINE')).thenThrows(ConflictError, /offline/);
    spec.given([created]).when(reserve('PHONE')).thenThrows(ConflictError, /offline/);
  });

  it('still blocks offers on a break and when forced offline', () => {
    spec.given([created, mobileSet('WHEN_OFFLINE'), { type: 'AgentWentOnBreak', data: { reason: 'Meal' } }]).when(reserve('PHONE')).thenThrows(ConflictError, /break/);
    spec.given([created, mobileSet('ALWAYS'), { type: 'AgentForcedOffline', data: { reason: 'audit' } }]).when(reserve('PHONE')).thenThrows(ConflictError, /forced offline/);
  });

  it('routes an offline mobile agent for PHONE groups only', () => {
    const agent: RoutableAgent = { agentId, available: true, phoneOnly: true, held: { PHONE: 0, ONLINE: 0, AV: 0 }, idleSince: T0, contactsToday: 0, talkSecondsToday: 0, lastOfferedAt: null };
    expect(hasCapacity(agent, 'PHONE', 1)).toBe(true);
    expect(hasCapacity(agent, 'ONLINE', 3)).toBe(false);
    expect(hasCapacity(agent, 'AV', 1)).toBe(false);
  });
});

describe('a skill group\'s outbound numbers', () => {
  const spec = deciderSpec(skillGroupDecider);
  const created = (channel: 'PHONE' | 'ONLINE'): SkillGroupEvent => ({
    type: 'SkillGroupCreated',
    data: { skillGroupId: 'sg-1', name: 'Sales', channel, strategy: 'LONGEST_IDLE', maxConcurrency: 1, ringTimeoutSeconds: 20, wrapUpSeconds: 0 },
  });
  const set = (numbers: string[]): SkillGroupCommand => ({ type: 'SetSkillGroupOutboundNumbers', data: { skillGroupId: 'sg-1', numbers }, metadata: meta() });

  it('keeps them in order without duplicates, and ignores the same list again', () => {
    spec.given([created('PHONE')]).when(set(['+8610', '+8620', '+8610'])).then([{ type: 'SkillGroupOutboundNumbersSet', data: { numbers: ['+8610', '+8620'] } }]);
    spec.given([created('PHONE'), { type: 'SkillGroupOutboundNumbersSet', data: { numbers: ['+8610'] } }]).when(set(['+8610'])).then([]);
    spec.given([created('PHONE')]).when(set([])).then([]);
  });

  it('are for PHONE groups', () => {
    spec.given([created('ONLINE')]).when(set(['+8610'])).thenThrows(ValidationError, /PHONE/);
  });
});

describe('outbound rules', () => {
  const instanceNumbers = ['+861012340000', '+861012345678'];

  it('uses the requested number when it is allowed, else the first allowed', () => {
    expect(callerNumber({ requested: '+861012345678', allowed: [], instanceNumbers })).toBe('+861012345678');
    expect(callerNumber({ requested: null, allowed: ['+861012345678'], instanceNumbers })).toBe('+861012345678');
    expect(callerNumber({ requested: null, allowed: [], instanceNumbers })).toBe('+861012340000');
  });

  it('refuses numbers outside the outbound numbers or the instance, and an instance with none', () => {
    expect(() => callerNumber({ requested: '+861012340000', allowed: ['+861012345678'], instanceNumbers })).toThrow(ForbiddenError);
    expect(() => callerNumber({ requested: '+869999', allowed: [], instanceNumbers })).toThrow(/not a number of this instance/);
    expect(() => callerNumber({ requested: null, allowed: [], instanceNumbers: [] })).toThrow(ForbiddenError);
  });

  it('sends a number to the trunk\'s gateway, keeping its port and parameters', () => {
    expect(trunkRequestUri('sip:gateway.example:5060', '13900000001')).toBe('sip:13900000001@gateway.example:5060');
    expect(trunkRequestUri('sip:kefu@10.0.0.1;transport=tcp', '+8613900000001')).toBe('sip:+8613900000001@10.0.0.1;transport=tcp');
    expect(() => trunkRequestUri('http://x', '1')).toThrow(ValidationError);
  });

  it('names a failed customer leg as users know it', () => {
    expect([486, 600, 603, 408, 480, 487, 404, 403, 503].map(failedCallEndStatus)).toEqual([
      'busy',
      'busy',
      'declined',
      'notAnswered',
      'notAnswered',
      'notAnswered',
      'invalidNumber',
      'clientError',
      'networkError',
    ]);
  });
});
