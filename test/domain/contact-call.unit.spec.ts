// The phone side of the contact decider as a specification: a contact created with a call starts the call;
// agent legs ring only for the open offer; recordings start once and complete once, even after the call.
import { describe, it } from 'vitest';
import type { ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { CallInfo, ContactEvent, Customer } from '../../src/domain/contact/contact.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(contactDecider);

const T0 = '2026-11-25T09:00:00.000Z';
const T1 = '2026-11-25T09:00:05.000Z';
const T2 = '2026-11-25T09:00:08.000Z';
const T3 = '2026-11-25T09:00:20.000Z';
const EXPIRES = '2026-11-25T09:00:40.000Z';
const LATER = '2026-11-25T09:05:00.000Z';

const contactId = 'contact-1';
const caller: Customer = { kind: 'PHONE', id: '+15550123', name: null };
const call: CallInfo = { callId: 'sip-call-1@trunk', direction: 'IN', from: '+15550123', to: '+864001234567', trunkId: 'trunk-1', node: 'node-a' };

// Events.
const created: ContactEvent = { type: 'ContactCreated', data: { contactId, channel: 'PHONE', direction: 'IN', customer: caller, data: {}, createdAt: T0 } };
const callStarted: ContactEvent = { type: 'CallStarted', data: { ...call, at: T0 } };
const queued: ContactEvent = { type: 'ContactQueued', data: { skillGroupId: 'sales', priority: 0, queuedAt: T1 } };
const offered = (offerId: string, agentIds: string[]): ContactEvent => ({ type: 'ContactOffered', data: { offerId, agentIds, expiresAt: EXPIRES, transfer: null } });
const timedOut = (offerId: string, agentIds: string[]): ContactEvent => ({ type: 'ContactOfferTimedOut', data: { offerId, agentIds } });
const accepted = (offerId: string, agentId: string): ContactEvent => ({ type: 'ContactAccepted', data: { offerId, agentId, at: T2 } });
const ringing = (offerId: string, agentId: string, at = T1): ContactEvent => ({
  type: 'CallAgentLegRinging',
  data: { offerId, agentId, device: 'WEBRTC', address: 'sip:ann@kefu', at },
});
const recordingStarted = (recordingId: string, agentId: string | null = 'agent-1'): ContactEvent => ({
  type: 'CallRecordingStarted',
  data: { recordingId, agentId, at: T2 },
});
const recordingCompleted = (recordingId: string, at = LATER): ContactEvent => ({
  type: 'CallRecordingCompleted',
  data: { recordingId, durationMs: 12_000, bytes: 192_044, at },
});
const ended: ContactEvent = { type: 'ContactEnded', data: { reason: 'customerHangUp', endedBy: 'CUSTOMER', agentId: 'agent-1', at: T3 } };

// Commands.
const createContact = (channel: 'PHONE' | 'ONLINE' | 'AV', withCall: CallInfo | null = call): ContactCommand => ({
  type: 'CreateContact',
  data: { contactId, channel, direction: 'IN', customer: caller, data: {}, ...(withCall ? { call: withCall } : {}) },
  metadata: meta({ now: T0 }),
});
const ringAgentLeg = (offerId: string, agentId: string, now = T1): ContactCommand => ({
  type: 'RingAgentLeg',
  data: { contactId, offerId, agentId, device: 'WEBRTC', address: 'sip:ann@kefu' },
  metadata: meta({ now }),
});
const startRecording = (recordingId: string): ContactCommand => ({
  type: 'StartRecording',
  data: { contactId, recordingId, agentId: 'agent-1' },
  metadata: meta({ now: T2 }),
});
const completeRecording = (recordingId: string, now = LATER): ContactCommand => ({
  type: 'CompleteRecording',
  data: { contactId, recordingId, durationMs: 12_000, bytes: 192_044 },
  metadata: meta({ now }),
});

const aCall = [created, callStarted];
const ringingForAnn = [...aCall, queued, offered('offer-1', ['agent-1'])];
const talking = [...ringingForAnn, accepted('offer-1', 'agent-1')];

describe('contact decider: calls', () => {
  describe('creating a contact with a call', () => {
    it('creates the contact and starts its call, at the same time', () => {
      spec.given([]).when(createContact('PHONE')).then([created, callStarted]);
    });

    it('creates a phone contact without a call as before (a call can be created by an integration)', () => {
      spec.given([]).when(createContact('PHONE', null)).then([created]);
    });

    it('refuses a call on a chat or audio/video contact', () => {
      spec.given([]).when(createContact('ONLINE')).thenThrows(ValidationError, /call/);
      spec.given([]).when(createContact('AV')).thenThrows(ValidationError, /call/);
    });

    it('changes nothing when created again (a retry)', () => {
      spec.given(aCall).when(createContact('PHONE')).then([]);
    });
  });

  describe('ringing an agent leg', () => {
    it("rings the offered agent's device for the current offer", () => {
      spec.given(ringingForAnn).when(ringAgentLeg('offer-1', 'agent-1')).then([ringing('offer-1', 'agent-1')]);
    });

    it('changes nothing for a stale offer: timed out, answered, or another offer', () => {
      spec.given([...ringingForAnn, timedOut('offer-1', ['agent-1'])]).when(ringAgentLeg('offer-1', 'agent-1')).then([]);
      spec.given(talking).when(ringAgentLeg('offer-1', 'agent-1')).then([]);
      spec.given(ringingForAnn).when(ringAgentLeg('offer-0', 'agent-1')).then([]);
    });

    it('changes nothing for an agent the offer does not name', () => {
      spec.given(ringingForAnn).when(ringAgentLeg('offer-1', 'agent-2')).then([]);
    });

    it('is refused on a contact that is not a call', () => {
      spec.given([created, queued, offered('offer-1', ['agent-1'])]).when(ringAgentLeg('offer-1', 'agent-1')).thenThrows(ConflictError, /not a call/);
    });

    it('is refused once the call has ended, and for an unknown contact', () => {
      spec.given([...talking, ended]).when(ringAgentLeg('offer-1', 'agent-1')).thenThrows(ConflictError);
      spec.given([]).when(ringAgentLeg('offer-1', 'agent-1')).thenThrows(NotFoundError);
    });
  });

  describe('recording', () => {
    it('starts a recording during the call', () => {
      spec.given(talking).when(startRecording('rec-1')).then([recordingStarted('rec-1')]);
    });

    it('starting the same recording again changes nothing (idempotent)', () => {
      spec.given([...talking, recordingStarted('rec-1')]).when(startRecording('rec-1')).then([]);
    });

    it('is refused on a contact that is not a call, and after the call ended', () => {
      spec.given([created, queued]).when(startRecording('rec-1')).thenThrows(ConflictError, /not a call/);
      spec.given([...talking, ended]).when(startRecording('rec-1')).thenThrows(ConflictError);
    });

    it('completes a recording after the call has ended, once', () => {
      spec.given([...talking, recordingStarted('rec-1'), ended]).when(completeRecording('rec-1')).then([recordingCompleted('rec-1')]);
      spec.given([...talking, recordingStarted('rec-1'), ended, recordingCompleted('rec-1')]).when(completeRecording('rec-1', '2026-11-25T09:06:00.000Z')).then([]);
    });

    it('completes a recording during the call too', () => {
      spec.given([...talking, recordingStarted('rec-1')]).when(completeRecording('rec-1', T3)).then([recordingCompleted('rec-1', T3)]);
    });

    it('refuses to complete a recording that never started (NOT_FOUND)', () => {
      spec.given([...talking, recordingStarted('rec-1'), ended]).when(completeRecording('rec-2')).thenThrows(NotFoundError, /rec-2/);
      spec.given([]).when(completeRecording('rec-1')).thenThrows(NotFoundError);
    });
  });
});
