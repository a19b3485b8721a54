// The media side of the contact decider as a specification (issue 9): a connected call that goes silent on
// one side says so once per side (per agent on the agent's side); each leg's figures are recorded when its
// part ends, even after the call has ended.
import { describe, it } from 'vitest';
import type { ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { CallInfo, CallSide, ContactEvent, MediaFigures } from '../../src/domain/contact/contact.ts';
import { ConflictError, ValidationError } from '../../src/domain/errors.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(contactDecider);

const T0 = '2026-11-25T09:00:00.000Z';
const T1 = '2026-11-25T09:00:05.000Z';
const T2 = '2026-11-25T09:00:08.000Z';
const T3 = '2026-11-25T09:01:00.000Z';
const EXPIRES = '2026-11-25T09:00:40.000Z';

const contactId = 'contact-1';
const call: CallInfo = { callId: 'sip-call-1@trunk', direction: 'IN', from: '+15550123', to: '+864001234567', trunkId: 'trunk-1', node: 'node-a' };

const created: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'PHONE', direction: 'IN', customer: { kind: 'PHONE', id: '+15550123', name: null }, data: {}, createdAt: T0 } };
const callStarted: ContactEvent = { type: 'CallStarted', data: { ...call, at: T0 } };
const queued: ContactEvent = { type: 'ContactQueued', data: { skillGroupId: 'sales', priority: 0, queuedAt: T1 } };
const offered: ContactEvent = { type: 'ContactOffered', data: { offerId: 'offer-1', agentIds: ['agent-1'], expiresAt: EXPIRES, transfer: null } };
const accepted: ContactEvent = { type: 'ContactAccepted', data: { offerId: 'offer-1', agentId: 'agent-1', at: T2 } };
const ended: ContactEvent = { type: 'ContactEnded', data: { reason: 'ok', endedBy: 'CUSTOMER', agentId: 'agent-1', at: T3 } };
const silent = (side: CallSide, agentId: string | null, silentSeconds = 30, at = T3): ContactEvent => ({ type: 'CallMediaSilent', data: { side, agentId, silentSeconds, at } });

const figures: MediaFigures = {
  packetsReceived: 1500,
  packetsSent: 1498,
  packetsLost: 2,
  jitterMs: 3.25,
  silentSeconds: 0,
  dropped: { malformed: 0, wrongSource: 1, unknownPayloadType: 0, beforeNegotiation: 0 },
};

const reportSilence = (side: CallSide, agentId: string | null, silentSeconds = 30): ContactCommand => ({
  type: 'ReportMediaSilence',
  data: { contactId, side, agentId, silentSeconds },
  metadata: meta({ now: T3 }),
});
const recordFigures = (side: CallSide, agentId: string | null, f: MediaFigures = figures): ContactCommand => ({
  type: 'RecordMediaFigures',
  data: { contactId, side, agentId, figures: f },
  metadata: meta({ now: T3 }),
});

const talking = [created, callStarted, queued, offered, accepted];

describe('contact decider: call media', () => {
  describe('when a connected call goes silent', () => {
    it('reports the customer side silent', () => {
      spec.given(talking).when(reportSilence('CUSTOMER', null)).then([silent('CUSTOMER', null)]);
    });

    it("reports the agent's side silent, naming the agent", () => {
      spec.given(talking).when(reportSilence('AGENT', 'agent-1', 12)).then([silent('AGENT', 'agent-1', 12)]);
    });

    it('reports each side once: a second report changes nothing', () => {
      spec.given([...talking, silent('CUSTOMER', null)]).when(reportSilence('CUSTOMER', null, 90)).then([]);
      spec.given([...talking, silent('AGENT', 'agent-1')]).when(reportSilence('AGENT', 'agent-1')).then([]);
    });

    it("reports another agent's side after a transfer, and the customer's even when the agent's was reported", () => {
      spec.given([...talking, silent('AGENT', 'agent-1')]).when(reportSilence('AGENT', 'agent-2')).then([silent('AGENT', 'agent-2')]);
      spec.given([...talking, silent('AGENT', 'agent-1')]).when(reportSilence('CUSTOMER', null)).then([silent('CUSTOMER', null)]);
    });

    it("refuses an agent's side without the agent, and a silence under a second", () => {
      spec.given(talking).when(reportSilence('AGENT', null)).thenThrows(ValidationError, /agent/);
      spec.given(talking).when(reportSilence('CUSTOMER', null, 0)).thenThrows(ValidationError, /at least 1/);
    });
  });

  describe('when the call is not connected', () => {
    it('refuses a silence before an agent answered, or after the end (a late timer lost the race)', () => {
      spec.given([created, callStarted, queued]).when(reportSilence('CUSTOMER', null)).thenThrows(ConflictError, /not a connected call/);
      spec.given([...talking, ended]).when(reportSilence('CUSTOMER', null)).thenThrows(ConflictError, /already ended/);
    });

    it('refuses a silence on a contact that is not a call', () => {
      const chat: ContactEvent = { type: 'ContactCreated', data: { ...(created.data as Extract<ContactEvent, { type: 'ContactCreated' }>['data']), channel: 'ONLINE' } };
      spec.given([chat]).when(reportSilence('CUSTOMER', null)).thenThrows(ConflictError, /not a call/);
    });
  });

  describe("recording a leg's figures", () => {
    it('records them while the call lasts and after it ended (a leg is measured when its part ends)', () => {
      const measured: ContactEvent = { type: 'CallMediaMeasured', data: { side: 'AGENT', agentId: 'agent-1', figures, at: T3 } };
      spec.given(talking).when(recordFigures('AGENT', 'agent-1')).then([measured]);
      spec.given([...talking, ended]).when(recordFigures('AGENT', 'agent-1')).then([measured]);
      spec.given([created, callStarted, ended]).when(recordFigures('CUSTOMER', null)).then([{ type: 'CallMediaMeasured', data: { side: 'CUSTOMER', agentId: null, figures, at: T3 } }]);
    });

    it('refuses figures a counter cannot hold, naming the field', () => {
      spec.given(talking).when(recordFigures('CUSTOMER', null, { ...figures, packetsLost: -1 })).thenThrows(ValidationError, /whole number/);
      spec.given(talking).when(recordFigures('CUSTOMER', null, { ...figures, jitterMs: Number.NaN })).thenThrows(ValidationError, /milliseconds/);
      spec.given(talking).when(recordFigures('CUSTOMER', null, { ...figures, dropped: { ...figures.dropped, malformed: 1.5 } })).thenThrows(ValidationError, /whole number/);
    });
  });
});
