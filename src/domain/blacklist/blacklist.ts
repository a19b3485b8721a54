// The blacklist of one instance (PH-6, OL-7, AD-3): customers, by channel and identity, whose new contacts
// are rejected BLACKLISTED before they reach a queue. One stream per instance: `blacklist-<instanceId>`.
import type { DomainEvent } from '../decider.ts';
import type { Channel } from '../skill-group/skill-group.ts';

export interface BlacklistEntry {
  entryId: string;
  channel: Channel;
  /** Normalized (see normalizeIdentity): a phone number, a WeChat OpenID or a web visitor id. */
  identity: string;
  reason: string;
  /** ISO time the entry stops applying; null: until removed. */
  expiresAt: string | null;
  /** The agent who added it; null when an admin API key did. */
  byAgentId: string | null;
  /** The contact during or after which it was added. */
  contactId: string | null;
  removed: boolean;
}

export type BlacklistEvent =
  | DomainEvent<'CustomerBlacklisted', Omit<BlacklistEntry, 'removed'>>
  | DomainEvent<'BlacklistEntryRemoved', { entryId: string; by: string }>;

/**
 * One shape only: an instance's blacklist has no lifecycle of its own, just entries. Removed entries stay,
 * so that removing one twice is recognised (and is a no-op).
 */
export interface BlacklistState {
  entries: ReadonlyMap<string, BlacklistEntry>;
  /** `channel identity` → the latest entry added for it and not removed (it may have expired since). */
  latest: ReadonlyMap<string, string>;
}

export const initialBlacklistState = (): BlacklistState => ({ entries: new Map(), latest: new Map() });

export const identityKey = (channel: Channel, identity: string) => `${channel} ${identity}`;

export function evolveBlacklist(state: BlacklistState, event: BlacklistEvent): BlacklistState {
  switch (event.type) {
    case 'CustomerBlacklisted': {
      const entries = new Map(state.entries);
      entries.set(event.data.entryId, { ...event.data, removed: false });
      const latest = new Map(state.latest);
      latest.set(identityKey(event.data.channel, event.data.identity), event.data.entryId);
      return { entries, latest };
    }
    case 'BlacklistEntryRemoved': {
      const entry = state.entries.get(event.data.entryId);
      if (!entry || entry.removed) return state;
      const entries = new Map(state.entries);
      entries.set(entry.entryId, { ...entry, removed: true });
      const key = identityKey(entry.channel, entry.identity);
      if (state.latest.get(key) !== entry.entryId) return { ...state, entries };
      const latest = new Map(state.latest);
      latest.delete(key);
      return { entries, latest };
    }
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

// Digits with the separators people write phone numbers with: "+86 138-0000 0000", "(010) 6552.9988".
const phoneLike = /^\+?[\d\s\-().]+$/;

/**
 * The form identities are stored and compared in: trimmed; a phone number loses its spaces, dashes, dots
 * and parentheses. OpenIDs and visitor ids are case-sensitive and kept as they are. The rule looks at the
 * identity, not the channel: an AV or ONLINE customer may be known by a phone number too.
 */
export function normalizeIdentity(identity: string): string {
  const trimmed = identity.trim();
  if (!phoneLike.test(trimmed)) return trimmed;
  const compact = trimmed.replace(/[\s\-().]/g, '');
  return /\d{3,}/.test(compact) ? compact : trimmed;
}

export function isInForce(entry: Pick<BlacklistEntry, 'expiresAt' | 'removed'>, now: string | Date): boolean {
  if (entry.removed) return false;
  if (entry.expiresAt === null) return true;
  return Date.parse(entry.expiresAt) > new Date(now).getTime();
}

/** The entry in force for this customer, if any. */
export function entryInForce(state: BlacklistState, channel: Channel, identity: string, now: string | Date): BlacklistEntry | null {
  const entryId = state.latest.get(identityKey(channel, normalizeIdentity(identity)));
  const entry = entryId === undefined ? undefined : state.entries.get(entryId);
  return entry && isInForce(entry, now) ? entry : null;
}

/** Whether any of `entries` keeps this customer out of `channel` at `now` (identities compared normalized). */
export function isBlacklisted(
  entries: Iterable<Pick<BlacklistEntry, 'channel' | 'identity' | 'expiresAt'> & { removed?: boolean }>,
  channel: Channel,
  identity: string,
  now: string | Date,
): boolean {
  const wanted = normalizeIdentity(identity);
  for (const e of entries) {
    if (e.channel === channel && normalizeIdentity(e.identity) === wanted && isInForce({ expiresAt: e.expiresAt, removed: e.removed ?? false }, now)) return true;
  }
  return false;
}
