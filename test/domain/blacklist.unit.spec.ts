// The blacklist decider as a specification: adding customers per channel and identity, expiry, removal;
// and the pure checks contact creation relies on.
import { describe, expect, it } from 'vitest';
import { fold } from '../../src/domain/decider.ts';
import { NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import type { BlacklistCommand } from '../../src/domain/blacklist/blacklist.decide.ts';
import { blacklistDecider } from '../../src/domain/blacklist/blacklist.decide.ts';
import type { BlacklistEvent } from '../../src/domain/blacklist/blacklist.ts';
import { entryInForce, isBlacklisted, normalizeIdentity } from '../../src/domain/blacklist/blacklist.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(blacklistDecider);
const now = '2026-11-25T09:00:00.000Z';

type AddData = Extract<BlacklistCommand, { type: 'AddToBlacklist' }>['data'];

const add = (overrides: Partial<AddData> = {}, at = now): BlacklistCommand => ({
  type: 'AddToBlacklist',
  data: {
    entryId: 'entry-1',
    channel: 'PHONE',
    identity: '+8613800000000',
    reason: 'abusive caller',
    expiresAt: null,
    byAgentId: 'agent-1',
    contactId: 'contact-1',
    ...overrides,
  },
  metadata: meta({ now: at, actor: 'agent:agent-1' }),
});
const remove = (entryId: string, actor = 'agent:supervisor-1'): BlacklistCommand => ({
  type: 'RemoveBlacklistEntry',
  data: { entryId },
  metadata: meta({ actor }),
});

const blacklisted = (overrides: Partial<Extract<BlacklistEvent, { type: 'CustomerBlacklisted' }>['data']> = {}): BlacklistEvent => ({
  type: 'CustomerBlacklisted',
  data: {
    entryId: 'entry-1',
    channel: 'PHONE',
    identity: '+8613800000000',
    reason: 'abusive caller',
    expiresAt: null,
    byAgentId: 'agent-1',
    contactId: 'contact-1',
    ...overrides,
  },
});
const removed = (entryId: string, by = 'agent:supervisor-1'): BlacklistEvent => ({ type: 'BlacklistEntryRemoved', data: { entryId, by } });

describe('blacklist decider', () => {
  describe('when the customer is not blacklisted', () => {
    it('blacklists them', () => {
      spec.given([]).when(add()).then([blacklisted()]);
    });

    it('stores the identity normalized: trimmed, a phone number without spaces, dashes, dots or parentheses', () => {
      spec.given([]).when(add({ identity: '  +86 138-0000 0000 ', reason: '  spam  ' })).then([blacklisted({ reason: 'spam' })]);
    });

    it('keeps an OpenID as it is, apart from surrounding spaces', () => {
      spec
        .given([])
        .when(add({ channel: 'ONLINE', identity: ' oUpF8uMuAJO-MYxyz ', contactId: null, byAgentId: null }))
        .then([blacklisted({ channel: 'ONLINE', identity: 'oUpF8uMuAJO-MYxyz', contactId: null, byAgentId: null })]);
    });

    it('blacklists until a time in the future', () => {
      spec.given([]).when(add({ expiresAt: '2026-12-01T00:00:00.000Z' })).then([blacklisted({ expiresAt: '2026-12-01T00:00:00.000Z' })]);
    });

    it('refuses an expiry that is not in the future', () => {
      spec.given([]).when(add({ expiresAt: now })).thenThrows(ValidationError, /expiresAt/);
      spec.given([]).when(add({ expiresAt: '2026-01-01T00:00:00.000Z' })).thenThrows(ValidationError, /must be in the future/);
    });

    it('refuses an empty identity or reason', () => {
      spec.given([]).when(add({ identity: '   ' })).thenThrows(ValidationError, /identity/);
      spec.given([]).when(add({ reason: ' ' })).thenThrows(ValidationError, /reason/);
    });

    it('blacklists the same identity on another channel separately', () => {
      spec
        .given([blacklisted()])
        .when(add({ entryId: 'entry-2', channel: 'AV' }))
        .then([blacklisted({ entryId: 'entry-2', channel: 'AV' })]);
    });
  });

  describe('when the customer has an entry in force', () => {
    it('changes nothing when they are added again, however the number is written', () => {
      spec.given([blacklisted()]).when(add({ entryId: 'entry-2', identity: '+86 138 0000 0000', reason: 'again' })).then([]);
    });

    it('changes nothing when they are added again with another expiry (remove first to change it)', () => {
      spec
        .given([blacklisted({ expiresAt: '2026-11-26T00:00:00.000Z' })])
        .when(add({ entryId: 'entry-2', expiresAt: null }))
        .then([]);
    });

    it('changes nothing when the same command is retried', () => {
      spec.given([blacklisted()]).when(add()).then([]);
    });

    it('names the entry in force', () => {
      const state = fold(blacklistDecider, [blacklisted()]);
      expect(entryInForce(state, 'PHONE', '+86-138-0000-0000', now)?.entryId).toBe('entry-1');
      expect(entryInForce(state, 'ONLINE', '+8613800000000', now)).toBeNull();
    });
  });

  describe('when the entry has expired', () => {
    const expired = blacklisted({ expiresAt: '2026-11-25T08:00:00.000Z' });

    it('blacklists the customer again with a new entry', () => {
      spec.given([expired]).when(add({ entryId: 'entry-2' })).then([blacklisted({ entryId: 'entry-2' })]);
    });

    it('no longer counts it as in force', () => {
      expect(entryInForce(fold(blacklistDecider, [expired]), 'PHONE', '+8613800000000', now)).toBeNull();
    });

    it('still removes it (an admin cleaning up)', () => {
      spec.given([expired]).when(remove('entry-1')).then([removed('entry-1')]);
    });
  });

  describe('when removing', () => {
    it('removes an entry, naming who did', () => {
      spec.given([blacklisted()]).when(remove('entry-1', 'apikey:key-admin')).then([removed('entry-1', 'apikey:key-admin')]);
    });

    it('changes nothing when the entry was removed already', () => {
      spec.given([blacklisted(), removed('entry-1')]).when(remove('entry-1')).then([]);
    });

    it('refuses an unknown entry', () => {
      spec.given([blacklisted()]).when(remove('entry-404')).thenThrows(NotFoundError, /entry-404/);
    });

    it('lets the customer be blacklisted again afterwards', () => {
      spec
        .given([blacklisted(), removed('entry-1')])
        .when(add({ entryId: 'entry-2' }))
        .then([blacklisted({ entryId: 'entry-2' })]);
    });

    it('keeps a newer entry in force when an older one for the same customer is removed', () => {
      const state = fold(blacklistDecider, [
        blacklisted({ expiresAt: '2026-11-25T08:00:00.000Z' }),
        blacklisted({ entryId: 'entry-2' }),
        removed('entry-1'),
      ]);
      expect(entryInForce(state, 'PHONE', '+8613800000000', now)?.entryId).toBe('entry-2');
    });
  });
});

describe('normalizeIdentity', () => {
  it.each([
    ['  +86 138-0000-0000 ', '+8613800000000'],
    ['(010) 6552.9988', '01065529988'],
    ['13800000000', '13800000000'],
    [' visitor-42 ', 'visitor-42'],
    ['oUpF8uMuAJO-MYxyz', 'oUpF8uMuAJO-MYxyz'],
    // Too few digits to be a phone number: left as it is.
    ['1-2', '1-2'],
  ])('%j → %j', (raw, normalized) => {
    expect(normalizeIdentity(raw)).toBe(normalized);
  });
});

describe('isBlacklisted', () => {
  const entries = [
    { channel: 'PHONE' as const, identity: '+8613800000000', expiresAt: null },
    { channel: 'ONLINE' as const, identity: 'visitor-7', expiresAt: '2026-11-25T10:00:00.000Z' },
    { channel: 'AV' as const, identity: 'visitor-8', expiresAt: null, removed: true },
  ];

  it('matches channel and identity, compared normalized', () => {
    expect(isBlacklisted(entries, 'PHONE', '+86 138 0000 0000', now)).toBe(true);
    expect(isBlacklisted(entries, 'AV', '+8613800000000', now)).toBe(false);
    expect(isBlacklisted(entries, 'PHONE', '+8613800000001', now)).toBe(false);
  });

  it('stops at the expiry', () => {
    expect(isBlacklisted(entries, 'ONLINE', 'visitor-7', '2026-11-25T09:59:59.000Z')).toBe(true);
    expect(isBlacklisted(entries, 'ONLINE', 'visitor-7', '2026-11-25T10:00:00.000Z')).toBe(false);
    expect(isBlacklisted(entries, 'ONLINE', 'visitor-7', new Date('2026-11-26T00:00:00.000Z'))).toBe(false);
  });

  it('ignores removed entries', () => {
    expect(isBlacklisted(entries, 'AV', 'visitor-8', now)).toBe(false);
  });

  it('works on the decider state', () => {
    const state = fold(blacklistDecider, [blacklisted()]);
    expect(isBlacklisted(state.entries.values(), 'PHONE', '+86 13800000000', now)).toBe(true);
    const after = fold(blacklistDecider, [blacklisted(), removed('entry-1')]);
    expect(isBlacklisted(after.entries.values(), 'PHONE', '+8613800000000', now)).toBe(false);
  });
});
