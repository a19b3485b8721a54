// A webhook subscription (issue 16): an admin's endpoint that receives the instance's events of the kinds it
// chose, signed with a secret. The secret itself is never in an event: a random salt is, and the secret is
// derived from it with a key Kefu keeps (see src/adapters/webhooks/webhook-signature.ts).
import type { DomainEvent } from '../decider.ts';

/** What an endpoint can subscribe to, and which events stand for each kind. */
export const webhookEventKinds = {
  CONTACT_CREATED: ['ContactCreated'],
  CONTACT_QUEUED: ['ContactQueued'],
  CONTACT_OFFERED: ['ContactOffered'],
  CONTACT_CONNECTED: ['ContactAccepted', 'ContactAssigned'],
  CONTACT_ENDED: ['ContactEnded'],
  RECORDING_READY: ['CallRecordingCompleted'],
  /** Sent once the contact's call or chat record holds its end (the dispatcher waits for the records projection). */
  RECORD_READY: ['ContactEnded'],
  AGENT_STATUS_CHANGED: ['AgentWentAvailable', 'AgentWentOnBreak', 'AgentWentOffline', 'AgentForcedOffline', 'AgentRestored'],
  CHAT_MESSAGE: ['ContactMessageRecorded'],
} as const satisfies Record<string, readonly string[]>;

export type WebhookEventKind = keyof typeof webhookEventKinds;
export const webhookEventKindNames = Object.keys(webhookEventKinds) as WebhookEventKind[];

/** The kinds an event of `type` is delivered as (most one kind; ContactEnded two). */
export function kindsOfEventType(type: string): WebhookEventKind[] {
  return webhookEventKindNames.filter((k) => (webhookEventKinds[k] as readonly string[]).includes(type));
}

export const webhookSourceEventTypes: ReadonlySet<string> = new Set(Object.values(webhookEventKinds).flat());

export type WebhookEvent =
  | DomainEvent<
      'WebhookCreated',
      {
        webhookId: string;
        url: string;
        eventKinds: WebhookEventKind[];
        /** Random; the signing secret is derived from it (never stored itself). */
        secretSalt: string;
      }
    >
  | DomainEvent<'WebhookUpdated', { url?: string; eventKinds?: WebhookEventKind[] }>
  | DomainEvent<'WebhookSecretRotated', { secretSalt: string }>
  /** The dispatcher gave up on a delivery after the retry time: nothing more is sent until an admin resumes it. */
  | DomainEvent<'WebhookPaused', { reason: string; at: string }>
  | DomainEvent<'WebhookResumed', { at: string }>
  | DomainEvent<'WebhookDeleted', Record<string, never>>;

export interface ActiveWebhook {
  status: 'active';
  id: string;
  url: string;
  eventKinds: WebhookEventKind[];
  secretSalt: string;
  paused: { reason: string; at: string } | null;
}

export type WebhookState = { status: 'none' } | ActiveWebhook | { status: 'deleted'; id: string };

export const initialWebhookState = (): WebhookState => ({ status: 'none' });

export function evolveWebhook(state: WebhookState, event: WebhookEvent): WebhookState {
  if (event.type === 'WebhookCreated') {
    const { webhookId, ...rest } = event.data;
    return { status: 'active', id: webhookId, ...rest, paused: null };
  }
  if (state.status !== 'active') return state;
  switch (event.type) {
    case 'WebhookUpdated':
      return { ...state, ...event.data };
    case 'WebhookSecretRotated':
      return { ...state, secretSalt: event.data.secretSalt };
    case 'WebhookPaused':
      return { ...state, paused: { reason: event.data.reason, at: event.data.at } };
    case 'WebhookResumed':
      return { ...state, paused: null };
    case 'WebhookDeleted':
      return { status: 'deleted', id: state.id };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export const maxWebhookUrlLength = 2000;
export const maxPauseReasonLength = 500;

/**
 * A webhook URL's form: http or https, a host, no user or password, at most 2000 characters. Whether http and
 * private addresses are allowed is a setting checked where the address is resolved (the API and the sender).
 */
export function normalizeWebhookUrl(value: string): { url: string } | { problem: string } {
  const v = value.trim();
  if (v.length > maxWebhookUrlLength) return { problem: `at most ${maxWebhookUrlLength} characters` };
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return { problem: 'must be an absolute http(s) URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { problem: 'must be an https URL (or http where the setting allows)' };
  if (url.username || url.password) return { problem: 'must not hold a user name or password' };
  if (url.hostname === '') return { problem: 'must name a host' };
  url.hash = '';
  return { url: url.toString() };
}
