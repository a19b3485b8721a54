// The agent's workload as a specification: reservations (offers ringing), connected contacts and
// after-call work, beside presence. Grouped by what the agent holds.
import { describe, expect, it } from 'vitest';
import type { AgentCommand } from '../../src/domain/agent/agent.decide.ts';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import type { AgentEvent, ReservationEnd, Workload } from '../../src/domain/agent/agent.ts';
import { hasRoomFor, heldOn } from '../../src/domain/agent/agent.ts';
import { fold } from '../../src/domain/decider.ts';
import { ConflictError, NotFoundError } from '../../src/domain/errors.ts';
import type { Channel } from '../../src/domain/skill-group/skill-group.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(agentDecider);

const NOW = '2026-11-25T09:00:00.000Z';
const EXPIRES = '2026-11-25T09:00:30.000Z';
const WRAP_UNTIL = '2026-11-25T09:01:00.000Z';

const agentId = 'agent-1';

// Events.
const created: AgentEvent = { type: 'AgentCreated', data: { agentId, name: 'Ann', login: 'ann', passwordHash: 'hash-1', phone: null, role: 'AGENT' } };
const wentAvailable: AgentEvent = { type: 'AgentWentAvailable', data: {} };
const wentOnBreak: AgentEvent = { type: 'AgentWentOnBreak', data: { reason: 'Meal' } };
const forcedOffline: AgentEvent = { type: 'AgentForcedOffline', data: { reason: 'left without logging out' } };
const reserved = (contactId: string, offerId: string, channel: Channel, skillGroupId = 'sales'): AgentEvent => ({
  type: 'AgentReserved',
  data: { contactId, offerId, channel, skillGroupId, expiresAt: EXPIRES },
});
const released = (contactId: string, offerId: string, reason: ReservationEnd): AgentEvent => ({ type: 'AgentReservationReleased', data: { contactId, offerId, reason } });
const connected = (contactId: string, at = NOW): AgentEvent => ({ type: 'AgentContactConnected', data: { contactId, at } });
const finished = (contactId: string, at = NOW): AgentEvent => ({ type: 'AgentContactFinished', data: { contactId, at } });
const wrapUpStarted = (contactId: string, until = WRAP_UNTIL): AgentEvent => ({ type: 'AgentWrapUpStarted', data: { contactId, until } });
const wrapUpExtended = (contactId: string, until: string): AgentEvent => ({ type: 'AgentWrapUpExtended', data: { contactId, until } });
const wrapUpEnded = (contactId: string): AgentEvent => ({ type: 'AgentWrapUpEnded', data: { contactId } });

// Commands.
const reserve = (contactId: string, offerId: string, channel: Channel, options: { maxConcurrency?: number; now?: string } = {}): AgentCommand => ({
  type: 'ReserveAgent',
  data: { agentId, contactId, offerId, channel, skillGroupId: 'sales', maxConcurrency: options.maxConcurrency ?? 3, expiresAt: EXPIRES },
  metadata: meta({ now: options.now ?? NOW, actor: 'system:router' }),
});
const release = (contactId: string, offerId: string, reason: ReservationEnd = 'DECLINED'): AgentCommand => ({
  type: 'ReleaseReservation',
  data: { agentId, contactId, offerId, reason },
  metadata: meta({ actor: 'system:router' }),
});
const connect = (contactId: string, now = NOW): AgentCommand => ({ type: 'ConnectContact', data: { agentId, contactId }, metadata: meta({ now }) });
const finish = (contactId: string, wrapUpSeconds: number, now = NOW): AgentCommand => ({
  type: 'FinishContact',
  data: { agentId, contactId, wrapUpSeconds },
  metadata: meta({ now }),
});
const extendWrapUp = (seconds: number, now = NOW): AgentCommand => ({ type: 'ExtendWrapUp', data: { agentId, seconds }, metadata: meta({ now, actor: 'agent:agent-1' }) });
const endWrapUp = (contactId: string | null, now = NOW): AgentCommand => ({ type: 'EndWrapUp', data: { agentId, contactId }, metadata: meta({ now }) });

const workloadOf = (events: AgentEvent[]): Workload => {
  const state = fold(agentDecider, events);
  if (state.status !== 'active') throw new Error(`agent is ${state.status}`);
  return state.workload;
};

const available = [created, wentAvailable];

describe('agent workload', () => {
  describe('when the agent does not exist', () => {
    it.each<[string, AgentCommand]>([
      ['ReserveAgent', reserve('contact-1', 'offer-1', 'PHONE')],
      ['ReleaseReservation', release('contact-1', 'offer-1')],
      ['ConnectContact', connect('contact-1')],
      ['FinishContact', finish('contact-1', 30)],
      ['ExtendWrapUp', extendWrapUp(30)],
      ['EndWrapUp', endWrapUp(null)],
    ])('refuses %s as not found', (_name, command) => {
      spec.given([]).when(command).thenThrows(NotFoundError, /Agent agent-1 not found/);
    });
  });

  describe('when available and holding nothing', () => {
    it('starts with no contacts and no after-call work', () => {
      expect(workloadOf(available)).toEqual({ contacts: {}, wrapUp: null });
    });

    it.each<Channel>(['PHONE', 'AV', 'ONLINE'])('is reserved for a %s contact', (channel) => {
      spec.given(available).when(reserve('contact-1', 'offer-1', channel)).then([reserved('contact-1', 'offer-1', channel)]);
    });

    it('holds the reservation as an offer', () => {
      expect(workloadOf([...available, reserved('contact-1', 'offer-1', 'PHONE')])).toEqual({
        contacts: { 'contact-1': { channel: 'PHONE', skillGroupId: 'sales', offerId: 'offer-1', expiresAt: EXPIRES, state: 'offered' } },
        wrapUp: null,
      });
    });

    it('ignores a release of nothing', () => {
      spec.given(available).when(release('contact-1', 'offer-1')).then([]);
    });

    it('refuses to connect a contact it was not offered', () => {
      spec.given(available).when(connect('contact-1')).thenThrows(ConflictError, /Agent agent-1 holds no offer of contact contact-1/);
    });

    it('ignores finishing a contact it does not hold', () => {
      spec.given(available).when(finish('contact-1', 30)).then([]);
    });

    it('refuses to extend after-call work it is not in', () => {
      spec.given(available).when(extendWrapUp(30)).thenThrows(ConflictError, /Agent agent-1 is not in after-call work/);
    });

    it('ignores ending after-call work it is not in', () => {
      spec.given(available).when(endWrapUp(null)).then([]);
      spec.given(available).when(endWrapUp('contact-1')).then([]);
    });
  });

  describe('when not available', () => {
    it.each<[string, AgentEvent[], RegExp]>([
      ['offline', [created], /Agent agent-1 is offline and gets no offers/],
      ['on break', [created, wentAvailable, wentOnBreak], /Agent agent-1 is break and gets no offers/],
      ['forced offline', [created, wentAvailable, forcedOffline], /Agent agent-1 is forced offline and gets no offers/],
    ])('refuses a reservation when %s', (_name, given, message) => {
      for (const channel of ['PHONE', 'AV', 'ONLINE'] as const) {
        spec.given(given).when(reserve('contact-1', 'offer-1', channel)).thenThrows(ConflictError, message);
      }
    });
  });

  describe('when a phone contact is offered (reserved)', () => {
    const ringing = [...available, reserved('contact-1', 'offer-1', 'PHONE')];

    it('ignores the same reservation again', () => {
      spec.given(ringing).when(reserve('contact-1', 'offer-1', 'PHONE')).then([]);
    });

    it('refuses another offer of the same contact', () => {
      spec.given(ringing).when(reserve('contact-1', 'offer-2', 'PHONE')).thenThrows(ConflictError, /already holds contact contact-1/);
    });

    it('refuses another phone or AV contact', () => {
      spec.given(ringing).when(reserve('contact-2', 'offer-2', 'PHONE')).thenThrows(ConflictError, /has no room for another PHONE contact/);
      spec.given(ringing).when(reserve('contact-2', 'offer-2', 'AV')).thenThrows(ConflictError, /has no room for another AV contact/);
    });

    it('still takes a chat', () => {
      spec.given(ringing).when(reserve('contact-2', 'offer-2', 'ONLINE')).then([reserved('contact-2', 'offer-2', 'ONLINE')]);
    });

    it.each<ReservationEnd>(['DECLINED', 'TIMED_OUT', 'WITHDRAWN', 'CONTACT_ENDED'])('releases the named offer, %s', (reason) => {
      spec.given(ringing).when(release('contact-1', 'offer-1', reason)).then([released('contact-1', 'offer-1', reason)]);
    });

    it('ignores a release of another offer of the contact', () => {
      spec.given(ringing).when(release('contact-1', 'offer-0', 'TIMED_OUT')).then([]);
    });

    it('ignores a release of another contact', () => {
      spec.given(ringing).when(release('contact-2', 'offer-1')).then([]);
    });

    it('is free again once released', () => {
      const freed = [...ringing, released('contact-1', 'offer-1', 'DECLINED')];
      expect(workloadOf(freed).contacts).toEqual({});
      spec.given(freed).when(reserve('contact-2', 'offer-2', 'PHONE')).then([reserved('contact-2', 'offer-2', 'PHONE')]);
      spec.given(freed).when(release('contact-1', 'offer-1')).then([]);
    });

    it('connects the contact', () => {
      spec.given(ringing).when(connect('contact-1')).then([connected('contact-1')]);
      expect(workloadOf([...ringing, connected('contact-1')]).contacts['contact-1']).toMatchObject({ state: 'connected', offerId: 'offer-1' });
    });

    it('releases the reservation, with no after-call work, when the contact ends still ringing', () => {
      spec.given(ringing).when(finish('contact-1', 30)).then([released('contact-1', 'offer-1', 'CONTACT_ENDED')]);
    });
  });

  describe('when an AV contact is connected', () => {
    const talking = [...available, reserved('contact-1', 'offer-1', 'AV'), connected('contact-1')];

    it('ignores connecting it again', () => {
      spec.given(talking).when(connect('contact-1')).then([]);
    });

    it('refuses another phone or AV contact, and takes a chat', () => {
      spec.given(talking).when(reserve('contact-2', 'offer-2', 'PHONE')).thenThrows(ConflictError, /no room for another PHONE contact/);
      spec.given(talking).when(reserve('contact-2', 'offer-2', 'AV')).thenThrows(ConflictError, /no room for another AV contact/);
      spec.given(talking).when(reserve('contact-2', 'offer-2', 'ONLINE')).then([reserved('contact-2', 'offer-2', 'ONLINE')]);
    });

    it('ignores a release: it is no longer an offer', () => {
      spec.given(talking).when(release('contact-1', 'offer-1', 'WITHDRAWN')).then([]);
    });

    it('finishes with after-call work until now plus wrapUpSeconds', () => {
      spec
        .given(talking)
        .when(finish('contact-1', 45, '2026-11-25T09:10:00.000Z'))
        .then([finished('contact-1', '2026-11-25T09:10:00.000Z'), wrapUpStarted('contact-1', '2026-11-25T09:10:45.000Z')]);
    });

    it('finishes without after-call work when wrapUpSeconds is 0', () => {
      spec.given(talking).when(finish('contact-1', 0)).then([finished('contact-1')]);
      expect(workloadOf([...talking, finished('contact-1')])).toEqual({ contacts: {}, wrapUp: null });
    });

    it('ignores finishing it twice', () => {
      spec.given([...talking, finished('contact-1'), wrapUpStarted('contact-1')]).when(finish('contact-1', 30)).then([]);
    });
  });

  describe('when holding chats', () => {
    const chats = (n: number): AgentEvent[] => Array.from({ length: n }, (_, i) => reserved(`chat-${i + 1}`, `offer-${i + 1}`, 'ONLINE'));

    it('takes chats up to maxConcurrency', () => {
      spec.given([...available, ...chats(2)]).when(reserve('chat-3', 'offer-3', 'ONLINE', { maxConcurrency: 3 })).then([reserved('chat-3', 'offer-3', 'ONLINE')]);
    });

    it('refuses a chat beyond maxConcurrency', () => {
      spec.given([...available, ...chats(3)]).when(reserve('chat-4', 'offer-4', 'ONLINE', { maxConcurrency: 3 })).thenThrows(ConflictError, /no room for another ONLINE contact/);
    });

    it('counts connected chats as well as ringing ones', () => {
      const mixed = [...available, ...chats(2), connected('chat-1')];
      spec.given(mixed).when(reserve('chat-3', 'offer-3', 'ONLINE', { maxConcurrency: 2 })).thenThrows(ConflictError, /no room/);
    });

    it('takes a chat again once one finishes', () => {
      const oneDone = [...available, ...chats(3), connected('chat-1'), finished('chat-1')];
      spec.given(oneDone).when(reserve('chat-4', 'offer-4', 'ONLINE', { maxConcurrency: 3 })).then([reserved('chat-4', 'offer-4', 'ONLINE')]);
    });

    it('still takes a phone call with chats at the limit', () => {
      spec.given([...available, ...chats(3)]).when(reserve('call-1', 'offer-9', 'PHONE', { maxConcurrency: 3 })).then([reserved('call-1', 'offer-9', 'PHONE')]);
    });
  });

  describe('room for a contact (hasRoomFor)', () => {
    const held = (...channels: Channel[]): Workload => ({
      contacts: Object.fromEntries(channels.map((channel, i) => [`c-${i}`, { channel, skillGroupId: 'sales', offerId: `o-${i}`, expiresAt: '2026-11-25T10:00:00.000Z', state: 'connected' as const }])),
      wrapUp: null,
    });

    it('counts contacts per channel', () => {
      expect(heldOn(held('ONLINE', 'PHONE', 'ONLINE'), 'ONLINE')).toBe(2);
      expect(heldOn(held('ONLINE', 'PHONE', 'ONLINE'), 'AV')).toBe(0);
    });

    it('has room for anything when empty', () => {
      for (const channel of ['PHONE', 'AV', 'ONLINE'] as const) expect(hasRoomFor(held(), channel, 1)).toBe(true);
    });

    it('has no room for phone or AV beside a phone or AV contact', () => {
      for (const holding of ['PHONE', 'AV'] as const) {
        expect(hasRoomFor(held(holding), 'PHONE', 5)).toBe(false);
        expect(hasRoomFor(held(holding), 'AV', 5)).toBe(false);
        expect(hasRoomFor(held(holding), 'ONLINE', 5)).toBe(true);
      }
    });

    it('fills chats up to maxConcurrency', () => {
      expect(hasRoomFor(held('ONLINE', 'ONLINE'), 'ONLINE', 3)).toBe(true);
      expect(hasRoomFor(held('ONLINE', 'ONLINE', 'ONLINE'), 'ONLINE', 3)).toBe(false);
      expect(hasRoomFor(held('ONLINE', 'ONLINE', 'ONLINE'), 'PHONE', 3)).toBe(true);
    });
  });

  describe('when in after-call work', () => {
    const wrappingUp = [...available, reserved('contact-1', 'offer-1', 'PHONE'), connected('contact-1'), finished('contact-1'), wrapUpStarted('contact-1')];

    it('holds no contact, and is in wrap-up until the time set', () => {
      expect(workloadOf(wrappingUp)).toEqual({ contacts: {}, wrapUp: { contactId: 'contact-1', until: WRAP_UNTIL } });
    });

    it('refuses a reservation before until, on every channel', () => {
      for (const channel of ['PHONE', 'AV', 'ONLINE'] as const) {
        spec
          .given(wrappingUp)
          .when(reserve('contact-2', 'offer-2', channel, { now: '2026-11-25T09:00:59.999Z' }))
          .thenThrows(ConflictError, /Agent agent-1 is in after-call work until 2026-11-25T09:01:00.000Z/);
      }
    });

    it('is reserved again from until, even before the timer ends it', () => {
      spec.given(wrappingUp).when(reserve('contact-2', 'offer-2', 'PHONE', { now: WRAP_UNTIL })).then([reserved('contact-2', 'offer-2', 'PHONE')]);
    });

    it('extends from until while it runs', () => {
      spec.given(wrappingUp).when(extendWrapUp(30, '2026-11-25T09:00:40.000Z')).then([wrapUpExtended('contact-1', '2026-11-25T09:01:30.000Z')]);
    });

    it('extends from now once until has passed', () => {
      spec.given(wrappingUp).when(extendWrapUp(30, '2026-11-25T09:02:00.000Z')).then([wrapUpExtended('contact-1', '2026-11-25T09:02:30.000Z')]);
    });

    it('extends an extension from its new until', () => {
      const extended = [...wrappingUp, wrapUpExtended('contact-1', '2026-11-25T09:01:30.000Z')];
      spec.given(extended).when(extendWrapUp(60, '2026-11-25T09:01:00.000Z')).then([wrapUpExtended('contact-1', '2026-11-25T09:02:30.000Z')]);
      spec.given(extended).when(reserve('contact-2', 'offer-2', 'PHONE', { now: '2026-11-25T09:01:10.000Z' })).thenThrows(ConflictError, /until 2026-11-25T09:01:30.000Z/);
    });

    it('is ended by its timer, which names the contact', () => {
      spec.given(wrappingUp).when(endWrapUp('contact-1', WRAP_UNTIL)).then([wrapUpEnded('contact-1')]);
    });

    it('is ended early by the agent, who names no contact', () => {
      spec.given(wrappingUp).when(endWrapUp(null, '2026-11-25T09:00:10.000Z')).then([wrapUpEnded('contact-1')]);
    });

    it('ignores the timer of an older contact: a late timer does not end a newer wrap-up', () => {
      const second = [
        ...wrappingUp,
        wrapUpEnded('contact-1'),
        reserved('contact-2', 'offer-2', 'PHONE'),
        connected('contact-2'),
        finished('contact-2'),
        wrapUpStarted('contact-2', '2026-11-25T09:05:00.000Z'),
      ];
      spec.given(second).when(endWrapUp('contact-1', '2026-11-25T09:01:00.000Z')).then([]);
      spec.given(second).when(endWrapUp('contact-2', '2026-11-25T09:05:00.000Z')).then([wrapUpEnded('contact-2')]);
    });

    it('starts a new wrap-up when another chat finishes during it, which the first timer does not end', () => {
      const twoChats = [...available, reserved('chat-1', 'offer-1', 'ONLINE'), reserved('chat-2', 'offer-2', 'ONLINE'), connected('chat-1'), connected('chat-2')];
      const firstDone = [...twoChats, finished('chat-1'), wrapUpStarted('chat-1')];
      spec
        .given(firstDone)
        .when(finish('chat-2', 60, '2026-11-25T09:00:30.000Z'))
        .then([finished('chat-2', '2026-11-25T09:00:30.000Z'), wrapUpStarted('chat-2', '2026-11-25T09:01:30.000Z')]);
      const bothDone = [...firstDone, finished('chat-2', '2026-11-25T09:00:30.000Z'), wrapUpStarted('chat-2', '2026-11-25T09:01:30.000Z')];
      spec.given(bothDone).when(endWrapUp('chat-1', WRAP_UNTIL)).then([]);
    });

    describe('and then ended', () => {
      const ended = [...wrappingUp, wrapUpEnded('contact-1')];

      it('has no after-call work', () => {
        expect(workloadOf(ended).wrapUp).toBeNull();
      });

      it('ignores ending it twice', () => {
        spec.given(ended).when(endWrapUp('contact-1')).then([]);
        spec.given(ended).when(endWrapUp(null)).then([]);
      });

      it('refuses to extend it', () => {
        spec.given(ended).when(extendWrapUp(30)).thenThrows(ConflictError, /not in after-call work/);
      });

      it('is reserved again, before the original until', () => {
        spec.given(ended).when(reserve('contact-2', 'offer-2', 'PHONE', { now: '2026-11-25T09:00:10.000Z' })).then([reserved('contact-2', 'offer-2', 'PHONE')]);
      });
    });
  });
});
