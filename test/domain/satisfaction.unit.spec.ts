// Satisfaction surveys (issue 12): the instance's scale and channel switches, and a contact rated once after
// it ended, on the scale and only where surveys are on.
import { describe, expect, it } from 'vitest';
import type { ContactCommand } from '../../src/domain/contact/contact.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { ContactEvent } from '../../src/domain/contact/contact.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { instanceDecider } from '../../src/domain/instance/instance.decide.ts';
import type { InstanceEvent } from '../../src/domain/instance/instance.ts';
import { defaultSatisfactionScale, defaultSatisfactionSurvey, scaleProblem, type SatisfactionSurvey } from '../../src/domain/instance/satisfaction.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const contacts = deciderSpec(contactDecider);
const instances = deciderSpec(instanceDecider);
const contactId = 'c-1';
const T0 = '2026-12-04T09:00:00.000Z';
const T9 = '2026-12-04T09:10:00.000Z';

const createdAs = (channel: 'ONLINE' | 'PHONE' | 'AV'): ContactEvent => ({
  type: 'ContactCreated',
  data: { contactId, channel, direction: 'IN', customer: { kind: channel === 'PHONE' ? 'PHONE' : 'WEB', id: 'cust', name: null }, data: {}, createdAt: T0 },
});
const queued: ContactEvent = { type: 'ContactQueued', data: { skillGroupId: 'g', priority: 0, queuedAt: T0 } };
const offered: ContactEvent = { type: 'ContactOffered', data: { offerId: 'o1', agentIds: ['alice'], expiresAt: T9, transfer: null } };
const accepted: ContactEvent = { type: 'ContactAccepted', data: { offerId: 'o1', agentId: 'alice', at: T0 } };
const ended: ContactEvent = { type: 'ContactEnded', data: { reason: 'agentHangUp', endedBy: 'AGENT', agentId: 'alice', at: T0 } };
const served = (channel: 'ONLINE' | 'PHONE' | 'AV' = 'ONLINE') => [createdAs(channel), queued, offered, accepted, ended];

const allOn: SatisfactionSurvey = { scale: defaultSatisfactionScale, channels: { ONLINE: true, PHONE: true, AV: true } };

const rate = (value: number, extra: Partial<Extract<ContactCommand, { type: 'RateContact' }>['data']> = {}): ContactCommand => ({
  type: 'RateContact',
  data: { contactId, value, comment: null, by: 'CUSTOMER', key: null, survey: allOn, ...extra },
  metadata: meta({ now: T9 }),
});

describe('satisfaction: rating a contact', () => {
  it('an ended chat is rated with the label of its value and the comment', () => {
    contacts.given(served()).when(rate(4, { comment: '  quick and kind  ' })).then([
      { type: 'ContactRated', data: { value: 4, label: 'Satisfied', comment: 'quick and kind', by: 'CUSTOMER', key: null, at: T9 } },
    ]);
  });

  it('an empty comment is no comment', () => {
    contacts.given(served()).when(rate(5, { comment: '   ' })).then([
      { type: 'ContactRated', data: { value: 5, label: 'Very satisfied', comment: null, by: 'CUSTOMER', key: null, at: T9 } },
    ]);
  });

  it('a call is rated from the keypad, naming the key', () => {
    contacts.given(served('PHONE')).when(rate(2, { by: 'KEYPAD', key: '2' })).then([
      { type: 'ContactRated', data: { value: 2, label: 'Dissatisfied', comment: null, by: 'KEYPAD', key: '2', at: T9 } },
    ]);
  });

  it('a keypad rating without a key is refused', () => {
    contacts.given(served('PHONE')).when(rate(2, { by: 'KEYPAD', key: null })).thenThrows(ValidationError, /key/);
  });

  it('a second rating is refused, whatever its value', () => {
    const rated: ContactEvent = { type: 'ContactRated', data: { value: 4, label: 'Satisfied', comment: null, by: 'CUSTOMER', key: null, at: T9 } };
    contacts.given([...served(), rated]).when(rate(4)).thenThrows(ConflictError, /already rated/);
    contacts.given([...served(), rated]).when(rate(1)).thenThrows(ConflictError, /already rated/);
  });

  it('a value outside the scale is refused, naming the field', () => {
    let thrown: unknown;
    try {
      contactDecider.decide(rate(7), served().reduce(contactDecider.evolve, contactDecider.initialState()));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).field).toBe('value');
    contacts.given(served()).when(rate(0)).thenThrows(ValidationError, /scale/);
  });

  it('a rating before the contact ended is refused', () => {
    contacts.given([createdAs('ONLINE'), queued, offered, accepted]).when(rate(5)).thenThrows(ConflictError, /not ended/);
    contacts.given([createdAs('ONLINE'), queued]).when(rate(5)).thenThrows(ConflictError, /not ended/);
  });

  it('a contact turned away has nothing to rate', () => {
    contacts.given([createdAs('ONLINE'), { type: 'ContactRejected', data: { reason: 'NO_AGENT' } }]).when(rate(5)).thenThrows(ConflictError, /turned away/);
  });

  it('a channel whose survey is off refuses ratings', () => {
    const phoneOff: SatisfactionSurvey = { ...allOn, channels: { ONLINE: true, PHONE: false, AV: true } };
    contacts.given(served('PHONE')).when(rate(5, { survey: phoneOff, by: 'KEYPAD', key: '5' })).thenThrows(ConflictError, /off for PHONE/);
    contacts.given(served('ONLINE')).when(rate(5, { survey: { ...allOn, channels: { ONLINE: false, PHONE: true, AV: true } } })).thenThrows(ConflictError, /off for ONLINE/);
  });

  it('a comment over 1000 characters is refused', () => {
    contacts.given(served()).when(rate(5, { comment: 'x'.repeat(1001) })).thenThrows(ValidationError, /1000/);
    contacts.given(served()).when(rate(5, { comment: 'x'.repeat(1000) })).then([
      { type: 'ContactRated', data: { value: 5, label: 'Very satisfied', comment: 'x'.repeat(1000), by: 'CUSTOMER', key: null, at: T9 } },
    ]);
  });

  it('an unknown contact is NOT_FOUND', () => {
    contacts.given([]).when(rate(5)).thenThrows(NotFoundError);
  });

  it('the rating is kept on the contact', () => {
    const rated: ContactEvent = { type: 'ContactRated', data: { value: 3, label: 'Neutral', comment: 'ok', by: 'CUSTOMER', key: null, at: T9 } };
    const state = [...served(), rated].reduce(contactDecider.evolve, contactDecider.initialState());
    expect(state.status === 'ended' && state.rating).toEqual(rated.data);
  });
});

describe('satisfaction: the instance survey setting', () => {
  const created: InstanceEvent = { type: 'InstanceCreated', data: { instanceId: 'inst-1', name: 'Acme', breakReasons: [] } };
  const configure = (data: { scale?: { value: number; label: string }[]; channels?: Partial<Record<'ONLINE' | 'PHONE' | 'AV', boolean>> }) => ({
    type: 'ConfigureSatisfactionSurvey' as const,
    data,
    metadata: meta(),
  });

  it('defaults: five labelled stars, chats and video asked, phone not', () => {
    expect(defaultSatisfactionSurvey.scale.map((e) => e.value)).toEqual([1, 2, 3, 4, 5]);
    expect(defaultSatisfactionSurvey.channels).toEqual({ ONLINE: true, PHONE: false, AV: true });
  });

  it('a switch changes only its channel; the scale is kept', () => {
    instances.given([created]).when(configure({ channels: { PHONE: true } })).then([
      { type: 'SatisfactionSurveyConfigured', data: { scale: defaultSatisfactionScale, channels: { ONLINE: true, PHONE: true, AV: true } } },
    ]);
  });

  it('a new scale replaces the old one (labels trimmed); the switches are kept', () => {
    const configured: InstanceEvent = { type: 'SatisfactionSurveyConfigured', data: { scale: defaultSatisfactionScale, channels: { ONLINE: false, PHONE: true, AV: true } } };
    instances
      .given([created, configured])
      .when(configure({ scale: [{ value: 1, label: ' Bad ' }, { value: 2, label: 'Good' }] }))
      .then([{ type: 'SatisfactionSurveyConfigured', data: { scale: [{ value: 1, label: 'Bad' }, { value: 2, label: 'Good' }], channels: { ONLINE: false, PHONE: true, AV: true } } }]);
  });

  it('the same setting again changes nothing', () => {
    instances.given([created]).when(configure({ channels: { ONLINE: true } })).then([]);
  });

  it('bad scales are refused with the field at fault', () => {
    instances.given([created]).when(configure({ scale: [{ value: 1, label: 'Only' }] })).thenThrows(ValidationError, /at least 2/);
    instances.given([created]).when(configure({ scale: [{ value: 1, label: 'A' }, { value: 1, label: 'B' }] })).thenThrows(ValidationError, /twice/);
    instances.given([created]).when(configure({ scale: [{ value: 1, label: 'A' }, { value: 2, label: 'a' }] })).thenThrows(ValidationError, /twice/);
    instances.given([created]).when(configure({ scale: [{ value: 1, label: 'A' }, { value: 10, label: 'B' }] })).thenThrows(ValidationError, /0 to 9/);
    instances.given([created]).when(configure({ scale: [{ value: 1, label: 'A' }, { value: 2, label: ' ' }] })).thenThrows(ValidationError, /empty/);
    expect(scaleProblem([{ value: 1, label: 'A' }, { value: 2.5, label: 'B' }])).toEqual(['scale.1.value', expect.stringMatching(/whole number/)]);
    expect(scaleProblem(Array.from({ length: 11 }, (_, i) => ({ value: i % 10, label: `L${i}` })))).toEqual(['scale', 'at most 10 entries']);
  });
});
