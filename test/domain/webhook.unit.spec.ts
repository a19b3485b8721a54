import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { webhookDecider } from '../../src/domain/webhook/webhook.decide.ts';
import { kindsOfEventType, normalizeWebhookUrl, type WebhookEvent } from '../../src/domain/webhook/webhook.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(webhookDecider);
const created: WebhookEvent = { type: 'WebhookCreated', data: { webhookId: 'h-1', url: 'https://hooks.example.com/kefu', eventKinds: ['CONTACT_CREATED', 'CHAT_MESSAGE'], secretSalt: 'salt-1' } };
const create = (over: Record<string, unknown> = {}) => ({
  type: 'CreateWebhook' as const,
  data: { webhookId: 'h-1', url: 'https://hooks.example.com/kefu#frag', eventKinds: ['CHAT_MESSAGE', 'CONTACT_CREATED', 'CHAT_MESSAGE'], secretSalt: 'salt-1', ...over },
  metadata: meta(),
});
const paused: WebhookEvent = { type: 'WebhookPaused', data: { reason: 'HTTP 500', at: '2026-11-25T09:00:00.000Z' } };

describe('webhook decider', () => {
  describe('when none exists', () => {
    it('creates it with its kinds once each, in a fixed order, and its URL without fragment', () => spec.given([]).when(create()).then([created]));
    it('refuses an unknown kind, naming it', () => spec.given([]).when(create({ eventKinds: ['CONTACT_CREATED', 'NOPE'] })).thenThrows(ValidationError, /eventKinds\.1/));
    it('refuses no kind at all', () => spec.given([]).when(create({ eventKinds: [] })).thenThrows(ValidationError, /eventKinds/));
    it('refuses a URL that is not http(s)', () => spec.given([]).when(create({ url: 'ftp://x.example.com/' })).thenThrows(ValidationError, /^url/));
    it('cannot be resumed', () => spec.given([]).when({ type: 'ResumeWebhook', data: { webhookId: 'h-1' }, metadata: meta() }).thenThrows(NotFoundError));
  });

  describe('when it exists', () => {
    it('cannot be created again', () => spec.given([created]).when(create()).thenThrows(ConflictError));
    it('updates only what changes', () =>
      spec
        .given([created])
        .when({ type: 'UpdateWebhook', data: { webhookId: 'h-1', url: 'https://hooks.example.com/kefu', eventKinds: ['AGENT_STATUS_CHANGED'] }, metadata: meta() })
        .then([{ type: 'WebhookUpdated', data: { eventKinds: ['AGENT_STATUS_CHANGED'] } }]));
    it('changes nothing when nothing differs', () => spec.given([created]).when({ type: 'UpdateWebhook', data: { webhookId: 'h-1', eventKinds: ['CONTACT_CREATED', 'CHAT_MESSAGE'] }, metadata: meta() }).then([]));
    it('is paused with its reason, at the command time', () =>
      spec.given([created]).when({ type: 'PauseWebhook', data: { webhookId: 'h-1', reason: '  HTTP 500 ' }, metadata: meta() }).then([paused]));
    it('keeps a long reason to 500 characters', () => {
      const state = [created].reduce(webhookDecider.evolve, webhookDecider.initialState());
      const [e] = webhookDecider.decide({ type: 'PauseWebhook', data: { webhookId: 'h-1', reason: 'x'.repeat(2000) }, metadata: meta() }, state);
      expect((e as Extract<WebhookEvent, { type: 'WebhookPaused' }>).data.reason).toHaveLength(500);
    });
    it('is not resumed when it is not paused', () => spec.given([created]).when({ type: 'ResumeWebhook', data: { webhookId: 'h-1' }, metadata: meta() }).then([]));
    it('rotates its secret salt', () =>
      spec.given([created]).when({ type: 'RotateWebhookSecret', data: { webhookId: 'h-1', secretSalt: 'salt-2' }, metadata: meta() }).then([{ type: 'WebhookSecretRotated', data: { secretSalt: 'salt-2' } }]));
    it('is deleted once', () => {
      spec.given([created]).when({ type: 'DeleteWebhook', data: { webhookId: 'h-1' }, metadata: meta() }).then([{ type: 'WebhookDeleted', data: {} }]);
      spec.given([created, { type: 'WebhookDeleted', data: {} }]).when({ type: 'DeleteWebhook', data: { webhookId: 'h-1' }, metadata: meta() }).then([]);
    });
  });

  describe('when paused', () => {
    it('is not paused twice', () => spec.given([created, paused]).when({ type: 'PauseWebhook', data: { webhookId: 'h-1', reason: 'again' }, metadata: meta() }).then([]));
    it('is resumed', () =>
      spec.given([created, paused]).when({ type: 'ResumeWebhook', data: { webhookId: 'h-1' }, metadata: meta() }).then([{ type: 'WebhookResumed', data: { at: '2026-11-25T09:00:00.000Z' } }]));
  });

  it('maps events to the kinds they are delivered as', () => {
    expect(kindsOfEventType('ContactEnded')).toEqual(['CONTACT_ENDED', 'RECORD_READY']);
    expect(kindsOfEventType('ContactAccepted')).toEqual(['CONTACT_CONNECTED']);
    expect(kindsOfEventType('AgentWentOnBreak')).toEqual(['AGENT_STATUS_CHANGED']);
    expect(kindsOfEventType('ContactMessagesRead')).toEqual([]);
  });

  it('checks a URL\'s form', () => {
    expect(normalizeWebhookUrl('https://a.example.com/x?y=1')).toEqual({ url: 'https://a.example.com/x?y=1' });
    expect(normalizeWebhookUrl('http://a.example.com')).toEqual({ url: 'http://a.example.com/' });
    expect(normalizeWebhookUrl('https://u:p@a.example.com/')).toHaveProperty('problem');
    expect(normalizeWebhookUrl('javascript:alert(1)')).toHaveProperty('problem');
    expect(normalizeWebhookUrl('/relative')).toHaveProperty('problem');
  });
});
