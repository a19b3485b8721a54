// Screen pop as a specification: the instance's setting and signing secret (decider), and the filled,
// signed URL a CRM verifies (pure functions).
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fold } from '../../src/domain/decider.ts';
import { NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import type { InstanceCommand } from '../../src/domain/instance/instance.decide.ts';
import { instanceDecider } from '../../src/domain/instance/instance.decide.ts';
import type { InstanceEvent } from '../../src/domain/instance/instance.ts';
import { defaultBreakReasons } from '../../src/domain/instance/instance.ts';
import {
  buildScreenPopUrl,
  canonicalScreenPopQuery,
  screenPopTemplateProblem,
  verifyScreenPopUrl,
  type ScreenPopContact,
} from '../../src/domain/screen-pop/screen-pop-url.ts';
import { deciderSpec, meta } from '../support/decider-spec.ts';

const spec = deciderSpec(instanceDecider);

const instanceCreated: InstanceEvent[] = [
  { type: 'InstanceCreated', data: { instanceId: 'inst-1', name: 'Acme', breakReasons: defaultBreakReasons } },
  { type: 'ApiKeyCreated', data: { keyId: 'key-admin', name: 'admin', role: 'ADMIN', secretHash: 'hash-admin' } },
];
const template = 'https://crm.example.com/pop?contact={contactId}&phone={customer}';
const secret = 'k'.repeat(43);
const configured = (urlTemplate: string | null, pinned = false): InstanceEvent => ({ type: 'ScreenPopConfigured', data: { urlTemplate, pinned } });
const rotated = (s: string): InstanceEvent => ({ type: 'ScreenPopSecretRotated', data: { secret: s } });
const configure = (data: { urlTemplate?: string | null; pinned?: boolean }): InstanceCommand => ({ type: 'ConfigureScreenPop', data, metadata: meta() });
const rotate = (s: string): InstanceCommand => ({ type: 'RotateScreenPopSecret', data: { secret: s }, metadata: meta() });

describe('instance decider: screen pop', () => {
  describe('when the instance does not exist', () => {
    it('refuses to configure it or rotate its secret', () => {
      spec.given([]).when(configure({ urlTemplate: template })).thenThrows(NotFoundError);
      spec.given([]).when(rotate(secret)).thenThrows(NotFoundError);
    });
  });

  describe('when screen pop was never configured', () => {
    it('configures a template, not pinned unless asked', () => {
      spec.given(instanceCreated).when(configure({ urlTemplate: template })).then([configured(template)]);
      spec.given(instanceCreated).when(configure({ urlTemplate: template, pinned: true })).then([configured(template, true)]);
    });

    it('refuses a template that is not an http(s) URL or uses an unknown placeholder', () => {
      spec.given(instanceCreated).when(configure({ urlTemplate: 'ftp://crm.example.com/?c={contactId}' })).thenThrows(ValidationError, /^urlTemplate: must be an http or https URL/);
      spec.given(instanceCreated).when(configure({ urlTemplate: 'https://crm.example.com/?c={contact}' })).thenThrows(ValidationError, /unknown placeholder \{contact\}/);
    });

    it('changes nothing when asked to turn off what is off', () => {
      spec.given(instanceCreated).when(configure({ urlTemplate: null, pinned: false })).then([]);
    });

    it('sets the first secret', () => {
      spec.given(instanceCreated).when(rotate(secret)).then([rotated(secret)]);
    });

    it('refuses a secret shorter than 32 characters', () => {
      spec.given(instanceCreated).when(rotate('short')).thenThrows(ValidationError, /^secret: at least 32 characters/);
    });

    it('has no screen pop in its state', () => {
      expect((fold(instanceDecider, instanceCreated) as { screenPop?: unknown }).screenPop).toBeUndefined();
    });
  });

  describe('when screen pop is configured', () => {
    const given = [...instanceCreated, configured(template, true), rotated(secret)];

    it('keeps template, pinning and secret in the state', () => {
      expect(fold(instanceDecider, given)).toMatchObject({ screenPop: { urlTemplate: template, pinned: true, secret } });
    });

    it('changes nothing when configured the same again', () => {
      spec.given(given).when(configure({ urlTemplate: template, pinned: true })).then([]);
    });

    it('keeps what a command leaves out', () => {
      spec.given(given).when(configure({ pinned: false })).then([configured(template, false)]);
      spec.given(given).when(configure({ urlTemplate: 'https://crm.example.com/c/?id={contactId}' })).then([configured('https://crm.example.com/c/?id={contactId}', true)]);
    });

    it('turns off with a null template, keeping the secret', () => {
      spec.given(given).when(configure({ urlTemplate: null })).then([configured(null, true)]);
      expect(fold(instanceDecider, [...given, configured(null, true)])).toMatchObject({ screenPop: { urlTemplate: null, secret } });
    });

    it('rotates the secret, keeping the template', () => {
      const next = 'n'.repeat(43);
      spec.given(given).when(rotate(next)).then([rotated(next)]);
      expect(fold(instanceDecider, [...given, rotated(next)])).toMatchObject({ screenPop: { urlTemplate: template, secret: next } });
    });

    it('changes nothing when the same rotation is retried', () => {
      spec.given(given).when(rotate(secret)).then([]);
    });
  });
});

describe('screenPopTemplateProblem', () => {
  it.each([
    'https://crm.example.com/pop?c={contactId}&ch={channel}&who={customer}&g={skillGroupId}&ivr={keys}&order={data.order}',
    'http://10.0.0.5:8080/crm/contact?id=kefu-{contactId}&src=kefu#details',
    'https://crm.example.com/static-page',
    'https://crm.example.com/?name={data.first name}',
  ])('accepts %s', (t) => {
    expect(screenPopTemplateProblem(t)).toBeNull();
  });

  it.each([
    ['crm.example.com/pop', /not a URL/],
    ['javascript:alert(1)', /http or https/],
    ['mailto:crm@example.com', /http or https/],
    ['https://user:pass@crm.example.com/?c={contactId}', /user name or password/],
    ['https://crm.example.com/{contactId}', /query parameter values only/],
    ['https://crm.example.com/?{contactId}=1', /query parameter values only/],
    ['https://crm.example.com/#c={contactId}', /query parameter values only/],
    ['https://crm.example.com/?c={contactid}', /unknown placeholder \{contactid\}/],
    ['https://crm.example.com/?c={data.}', /unknown placeholder/],
    ['https://crm.example.com/?c={contactId', /without its/],
    ['https://crm.example.com/?c=1&ts=5', /ts and sig/],
    ['https://crm.example.com/?sig=x', /ts and sig/],
    [`https://crm.example.com/?c=${'x'.repeat(2000)}`, /at most 2000/],
  ])('refuses %s', (t, problem) => {
    expect(screenPopTemplateProblem(t)).toMatch(problem);
  });
});

describe('screen pop URL', () => {
  const now = new Date('2026-11-25T09:00:00.000Z');
  const ts = String(now.getTime() / 1000);
  const contact: ScreenPopContact = {
    contactId: '6f1c1d1e-0000-4000-8000-000000000001',
    channel: 'PHONE',
    customerId: '+8613800000000',
    skillGroupId: 'group-1',
    keyTrail: [
      { key: '1', label: 'Sales' },
      { key: '#', label: null },
    ],
    data: { order: 'A&B=C', 'first name': '张 三', note: "it's 100% (ok)*!", emoji: '😀' },
  };
  const fullTemplate =
    'https://crm.example.com/pop?src=kefu&c-2=x&c={contactId}&ch={channel}&who={customer}&g={skillGroupId}&ivr={keys}&order={data.order}&name={data.first name}&note={data.note}&e={data.emoji}&missing={data.nope}';
  const url = buildScreenPopUrl({ urlTemplate: fullTemplate, secret, contact, now });
  const params = new URL(url).searchParams;

  it('fills every placeholder, keeps the template\'s own parameters, and appends ts and sig', () => {
    expect(url.startsWith('https://crm.example.com/pop?src=kefu&c-2=x&c=6f1c1d1e-0000-4000-8000-000000000001&ch=PHONE&who=%2B8613800000000&g=group-1&')).toBe(true);
    expect(Object.fromEntries(params)).toEqual({
      src: 'kefu',
      'c-2': 'x',
      c: contact.contactId,
      ch: 'PHONE',
      who: '+8613800000000',
      g: 'group-1',
      ivr: '[{"key":"1","label":"Sales"},{"key":"#","label":null}]',
      order: 'A&B=C',
      name: '张 三',
      note: "it's 100% (ok)*!",
      e: '😀',
      missing: '',
      ts,
      sig: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('percent-encodes odd characters so that nothing leaks into the URL\'s structure', () => {
    expect(url).toContain('order=A%26B%3DC');
    expect(url).toContain('name=%E5%BC%A0%20%E4%B8%89');
    expect(url).toContain('note=it%27s%20100%25%20%28ok%29%2A%21');
    expect(url).toContain('ivr=%5B%7B%22key%22%3A%221%22');
    expect(url).not.toMatch(/[ '()*!{}"]/);
    expect(url.endsWith(`&ts=${ts}&sig=${params.get('sig')}`)).toBe(true);
  });

  it('signs the canonical query with HMAC-SHA256, as a CRM recomputes it by hand', () => {
    const rest = [...params].filter(([n]) => n !== 'sig');
    const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const canonical = rest
      .map(([n, v]) => `${enc(n)}=${enc(v)}`)
      .sort()
      .join('&');
    expect(canonicalScreenPopQuery(rest)).toBe(canonical);
    expect(params.get('sig')).toBe(createHmac('sha256', secret).update(canonical).digest('hex'));
  });

  it('verifies', () => {
    expect(verifyScreenPopUrl(url, secret, 300, now)).toEqual({ valid: true, issuedAt: Number(ts) });
  });

  it('verifies when a browser or proxy re-encodes the query (order, + for spaces, lower-case escapes)', () => {
    const u = new URL(url);
    const reordered = [...u.searchParams].reverse();
    const reencoded = `${u.origin}${u.pathname}?${new URLSearchParams(reordered).toString().replace(/%2B/g, '%2b')}`;
    expect(reencoded).not.toBe(url);
    expect(verifyScreenPopUrl(reencoded, secret, 300, now)).toMatchObject({ valid: true });
  });

  it('detects tampering with a value, a parameter added or removed, or ts', () => {
    const tamper = (change: (p: URLSearchParams) => void) => {
      const u = new URL(url);
      change(u.searchParams);
      return verifyScreenPopUrl(u.toString(), secret, 300, now);
    };
    expect(tamper((p) => p.set('who', '+8613800000001'))).toEqual({ valid: false, reason: 'bad-signature' });
    expect(tamper((p) => p.append('admin', '1'))).toEqual({ valid: false, reason: 'bad-signature' });
    expect(tamper((p) => p.delete('order'))).toEqual({ valid: false, reason: 'bad-signature' });
    expect(tamper((p) => p.set('ts', String(Number(ts) + 1)))).toEqual({ valid: false, reason: 'bad-signature' });
    expect(tamper((p) => p.set('sig', 'f'.repeat(64)))).toEqual({ valid: false, reason: 'bad-signature' });
    expect(tamper((p) => p.set('sig', 'not-hex'))).toEqual({ valid: false, reason: 'bad-signature' });
  });

  it('refuses another secret, and URLs without exactly one ts and sig', () => {
    expect(verifyScreenPopUrl(url, 'x'.repeat(43), 300, now)).toEqual({ valid: false, reason: 'bad-signature' });
    expect(verifyScreenPopUrl(url.replace(/&sig=[0-9a-f]+$/, ''), secret, 300, now)).toEqual({ valid: false, reason: 'unsigned' });
    expect(verifyScreenPopUrl(`${url}&sig=${'0'.repeat(64)}`, secret, 300, now)).toEqual({ valid: false, reason: 'unsigned' });
    expect(verifyScreenPopUrl('not a url', secret, 300, now)).toEqual({ valid: false, reason: 'malformed' });
  });

  it('expires: valid within maxAgeSeconds either side of now, refused beyond', () => {
    const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);
    expect(verifyScreenPopUrl(url, secret, 300, at(300))).toMatchObject({ valid: true });
    expect(verifyScreenPopUrl(url, secret, 300, at(301))).toEqual({ valid: false, reason: 'expired' });
    expect(verifyScreenPopUrl(url, secret, 300, at(-300))).toMatchObject({ valid: true });
    expect(verifyScreenPopUrl(url, secret, 300, at(-301))).toEqual({ valid: false, reason: 'expired' });
  });

  it('takes now as an ISO string too, and encodes a lone surrogate as U+FFFD', () => {
    const odd = buildScreenPopUrl({
      urlTemplate: 'https://crm.example.com/?x={data.x}',
      secret,
      contact: { ...contact, data: { x: 'a\uD800b' } },
      now: now.toISOString(),
    });
    expect(new URL(odd).searchParams.get('x')).toBe('a\uFFFDb');
    expect(verifyScreenPopUrl(odd, secret, 60, now)).toMatchObject({ valid: true });
  });

  it('keeps a port, the path and a static fragment', () => {
    const u = buildScreenPopUrl({ urlTemplate: 'http://10.0.0.5:8080/crm/contact?id={contactId}#details', secret, contact, now });
    expect(u).toMatch(/^http:\/\/10\.0\.0\.5:8080\/crm\/contact\?id=6f1c1d1e-0000-4000-8000-000000000001&ts=\d+&sig=[0-9a-f]{64}#details$/);
    expect(verifyScreenPopUrl(u, secret, 60, now)).toMatchObject({ valid: true });
  });

  it('refuses to build from an invalid template', () => {
    expect(() => buildScreenPopUrl({ urlTemplate: 'https://crm.example.com/?c={nope}', secret, contact, now })).toThrow(/unknown placeholder/);
  });
});
