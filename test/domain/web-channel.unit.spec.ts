import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { webChannelDecider } from '../../src/domain/web-channel/web-channel.decide.ts';
import { normalizeOrigin, originAllowed, type WebChannelEvent } from '../../src/domain/web-channel/web-channel.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(webChannelDecider);
const group = { id: 'g-1', channel: 'ONLINE' };
const created: WebChannelEvent = {
  type: 'WebChannelCreated',
  data: { webChannelId: 'w-1', name: 'Shop', publicKey: 'wc_key', allowedOrigins: ['https://shop.example.com'], skillGroupId: 'g-1', welcomeText: null, identitySecret: 's1' },
};
const create = (over: Record<string, unknown> = {}) => ({
  type: 'CreateWebChannel' as const,
  data: { webChannelId: 'w-1', name: 'Shop', publicKey: 'wc_key', allowedOrigins: ['https://Shop.example.com:443'], skillGroupId: 'g-1', skillGroup: group, welcomeText: null, identitySecret: 's1', ...over },
  metadata: meta(),
});

describe('web channel decider', () => {
  describe('when none exists', () => {
    it('creates it with its origins normalized', () => spec.given([]).when(create()).then([created]));
    it('refuses a skill group that is not ONLINE', () => spec.given([]).when(create({ skillGroup: { id: 'g-1', channel: 'PHONE' } })).thenThrows(ValidationError, /ONLINE/));
    it('refuses a skill group the instance does not have', () => spec.given([]).when(create({ skillGroup: null })).thenThrows(ValidationError, /no such skill group/));
    it('refuses an origin with a path', () => spec.given([]).when(create({ allowedOrigins: ['https://a.example.com/x'] })).thenThrows(ValidationError, /allowedOrigins\.0/));
    it('cannot update it', () => spec.given([]).when({ type: 'UpdateWebChannel', data: { webChannelId: 'w-1', name: 'X' }, metadata: meta() }).thenThrows(NotFoundError));
  });

  describe('when it exists', () => {
    it('cannot be created again', () => spec.given([created]).when(create()).thenThrows(ConflictError));
    it('updates only what changes', () =>
      spec
        .given([created])
        .when({ type: 'UpdateWebChannel', data: { webChannelId: 'w-1', name: 'Shop', allowedOrigins: ['https://shop.example.com', '*'], enabled: false }, metadata: meta() })
        .then([{ type: 'WebChannelUpdated', data: { allowedOrigins: ['https://shop.example.com', '*'], enabled: false } }]));
    it('changes nothing when nothing differs', () =>
      spec.given([created]).when({ type: 'UpdateWebChannel', data: { webChannelId: 'w-1', name: 'Shop', skillGroupId: 'g-1', welcomeText: '' }, metadata: meta() }).then([]));
    it('rotates the secret', () =>
      spec.given([created]).when({ type: 'RotateWebChannelSecret', data: { webChannelId: 'w-1', identitySecret: 's2' }, metadata: meta() }).then([{ type: 'WebChannelSecretRotated', data: { identitySecret: 's2' } }]));
    it('is deleted once', () => {
      spec.given([created]).when({ type: 'DeleteWebChannel', data: { webChannelId: 'w-1' }, metadata: meta() }).then([{ type: 'WebChannelDeleted', data: {} }]);
      spec.given([created, { type: 'WebChannelDeleted', data: {} }]).when({ type: 'DeleteWebChannel', data: { webChannelId: 'w-1' }, metadata: meta() }).then([]);
    });
  });

  it('normalizes origins as browsers send them and matches them exactly', () => {
    expect(normalizeOrigin('HTTPS://Shop.Example.COM:443/')).toEqual({ origin: 'https://shop.example.com' });
    expect(normalizeOrigin('http://localhost:8080')).toEqual({ origin: 'http://localhost:8080' });
    expect(normalizeOrigin('*')).toEqual({ origin: '*' });
    for (const bad of ['shop.example.com', 'https://', 'javascript:alert(1)', 'https://a.example.com/path', 'https://a b.com', 'null']) expect(normalizeOrigin(bad)).toHaveProperty('problem');
    expect(originAllowed(['https://shop.example.com'], 'https://shop.example.com')).toBe(true);
    expect(originAllowed(['https://shop.example.com'], 'https://shop.example.com:8443')).toBe(false);
    expect(originAllowed(['https://shop.example.com'], 'http://shop.example.com')).toBe(false);
    expect(originAllowed(['https://shop.example.com'], 'https://evil-shop.example.com')).toBe(false);
    expect(originAllowed(['https://shop.example.com'], null)).toBe(false);
    expect(originAllowed(['https://shop.example.com'], 'null')).toBe(false);
    expect(originAllowed(['*'], null)).toBe(true);
    expect(originAllowed([], 'https://shop.example.com')).toBe(false);
  });
});
