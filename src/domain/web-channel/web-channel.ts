// A web/H5 chat channel (OL-2): a page's widget opens chats through its public key, from the origins it
// allows, into an ONLINE skill group; verified customers are signed with its identity secret.
import type { DomainEvent } from '../decider.ts';
import type { ReceptionPromptSettings, WorkHours } from './reception-prompts.ts';
import type { AvChannelSettings } from './av-settings.ts';

export interface WebChannelSettings {
  name: string;
  /** Normalized origins (scheme://host[:port], the form browsers send in Origin) or '*'. */
  allowedOrigins: string[];
  skillGroupId: string;
  welcomeText: string | null;
  /** The CHAT flow that receives its chats before they queue (OL-13); null (or absent in older events): none, straight to skillGroupId. */
  flowId?: string | null;
  /** Issue 12: the reception prompts changed from the defaults (absent or null: all defaults). */
  receptionPrompts?: ReceptionPromptSettings | null;
  /** Issue 12: when the channel takes chats (absent or null: always); off hours a chat gets the off-hours prompt and ends. */
  workHours?: WorkHours | null;
  /** Issue 14: audio/video call buttons and visual menu (absent or null: not configured; the tag's data-av decides and the menu lists every AV group). */
  av?: AvChannelSettings | null;
}

export type WebChannelEvent =
  | DomainEvent<
      'WebChannelCreated',
      WebChannelSettings & {
        webChannelId: string;
        /** The widget's key (not a secret): `wc_` + 24 base64url characters. */
        publicKey: string;
        /**
         * The HMAC key verified customers are signed with. The secret itself, not a hash: Kefu computes
         * HMAC-SHA256(secret, customerId) to check a customer's hash, so it must be able to read it (as the
         * screen pop secret). Only createWebChannel's and rotateWebChannelSecret's answers show it.
         */
        identitySecret: string;
      }
    >
  | DomainEvent<'WebChannelUpdated', Partial<WebChannelSettings> & { enabled?: boolean }>
  | DomainEvent<'WebChannelSecretRotated', { identitySecret: string }>
  | DomainEvent<'WebChannelDeleted', Record<string, never>>;

export interface ActiveWebChannel extends WebChannelSettings {
  status: 'active';
  id: string;
  publicKey: string;
  identitySecret: string;
  enabled: boolean;
}

export type WebChannelState = { status: 'none' } | ActiveWebChannel | { status: 'deleted'; id: string };

export const initialWebChannelState = (): WebChannelState => ({ status: 'none' });

export function evolveWebChannel(state: WebChannelState, event: WebChannelEvent): WebChannelState {
  if (event.type === 'WebChannelCreated') {
    const { webChannelId, ...rest } = event.data;
    return { status: 'active', id: webChannelId, enabled: true, ...rest, flowId: rest.flowId ?? null };
  }
  if (state.status !== 'active') return state;
  switch (event.type) {
    case 'WebChannelUpdated':
      return { ...state, ...event.data };
    case 'WebChannelSecretRotated':
      return { ...state, identitySecret: event.data.identitySecret };
    case 'WebChannelDeleted':
      return { status: 'deleted', id: state.id };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

export const maxAllowedOrigins = 50;

/** Answers of normalizeOrigin by value: every chat request's Origin header is checked, and a URL parse costs. */
const normalizedOrigins = new Map<string, { origin: string } | { problem: string }>();

/**
 * An origin as browsers send it in the Origin header: lower-case scheme and host, no default port, no
 * path; '*' as is. Returns the problem instead when it is not one.
 */
export function normalizeOrigin(value: string): { origin: string } | { problem: string } {
  const known = normalizedOrigins.get(value);
  if (known) return known;
  const answer = Object.freeze(parseOrigin(value));
  if (normalizedOrigins.size >= 1000) normalizedOrigins.clear();
  if (value.length <= 300) normalizedOrigins.set(value, answer);
  return answer;
}

function parseOrigin(value: string): { origin: string } | { problem: string } {
  const v = value.trim();
  if (v === '*') return { origin: '*' };
  if (v.length > 300) return { problem: 'at most 300 characters' };
  const m = /^(https?):\/\/([^/?#@\s]+)\/?$/i.exec(v);
  if (!m) return { problem: 'must be scheme://host[:port] (http or https, no path) or *' };
  let url: URL;
  try {
    url = new URL(`${m[1]!.toLowerCase()}://${m[2]!}`);
  } catch {
    return { problem: 'must be scheme://host[:port] (http or https, no path) or *' };
  }
  if (url.username || url.password || url.hostname === '') return { problem: 'must be scheme://host[:port] (http or https, no path) or *' };
  return { origin: url.origin };
}

/** Whether a request's Origin header value is one the channel allows (exact match after normalizing; '*' any). */
export function originAllowed(allowedOrigins: readonly string[], origin: string | null | undefined): boolean {
  if (allowedOrigins.includes('*')) return true;
  if (!origin) return false;
  const normalized = normalizeOrigin(origin);
  return 'origin' in normalized && normalized.origin !== '*' && allowedOrigins.includes(normalized.origin);
}
