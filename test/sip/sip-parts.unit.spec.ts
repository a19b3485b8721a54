// The pure parts of the SIP adapter: digest, trunk allow-lists, INFO DTMF, wire limits, input checks, throttle.
import type { SipVia } from 'sip';
import { describe, expect, it } from 'vitest';
import { AuthFailureThrottle, defaultAuthFailureThrottle } from '../../src/adapters/sip/auth-failure-throttle.ts';
import { DigestAuth, digestHa1, md5 } from '../../src/adapters/sip/digest-auth.ts';
import { dtmfDigitOf } from '../../src/adapters/sip/dtmf-info.ts';
import { displayNameText, sipUriUser, validVia } from '../../src/adapters/sip/sip-input.ts';
import { validHop } from '../../src/adapters/sip/sip-transport.ts';
import { decodeDatagram, StreamFramer } from '../../src/adapters/sip/sip-wire.ts';
import { addressAllowed } from '../../src/adapters/sip/trunk-auth.ts';

function authorization(challenge: Record<string, string | undefined>, username: string, password: string, method: string, uri: string) {
  const nonce = challenge.nonce!.replace(/"/g, '');
  const ha1 = digestHa1(username, 'kefu', password);
  const response = md5(ha1, nonce, '00000001', 'abc', 'auth', md5(method, uri));
  return { scheme: 'Digest', username: `"${username}"`, realm: '"kefu"', nonce: `"${nonce}"`, uri: `"${uri}"`, qop: 'auth', nc: '00000001', cnonce: '"abc"', response: `"${response}"` };
}

describe('DigestAuth', () => {
  it('accepts a correct qop=auth response, refuses a wrong one, and calls an old nonce stale', () => {
    let now = 1_000_000;
    const digest = new DigestAuth({ realm: 'kefu', nonceTtlMs: 60_000, now: () => now });
    const good = digest.credentials([authorization(digest.challenge(), 'alice', 'pw', 'REGISTER', 'sip:kefu')])!;
    expect(digest.verify(good, 'REGISTER', digestHa1('alice', 'kefu', 'pw'))).toBe('ok');
    expect(digest.verify(good, 'REGISTER', digestHa1('alice', 'kefu', 'other'))).toBe('bad');
    expect(digest.verify(good, 'INVITE', digestHa1('alice', 'kefu', 'pw'))).toBe('bad');
    now += 61_000;
    expect(digest.verify(good, 'REGISTER', digestHa1('alice', 'kefu', 'pw'))).toBe('stale');
  });

  it('refuses nonces it did not sign', () => {
    const digest = new DigestAuth({ realm: 'kefu', now: () => 0 });
    const forged = digest.credentials([authorization({ nonce: '0.00.deadbeef' }, 'alice', 'pw', 'REGISTER', 'sip:kefu')])!;
    expect(digest.verify(forged, 'REGISTER', digestHa1('alice', 'kefu', 'pw'))).toBe('bad');
  });
});

describe('addressAllowed', () => {
  it('matches single addresses and CIDRs, v4 and v6, and ignores junk patterns', () => {
    expect(addressAllowed('203.0.113.7', ['203.0.113.0/24'])).toBe(true);
    expect(addressAllowed('203.0.114.7', ['203.0.113.0/24'])).toBe(false);
    expect(addressAllowed('198.51.100.1', ['198.51.100.1'])).toBe(true);
    expect(addressAllowed('2001:db8::5', ['2001:db8::/32'])).toBe(true);
    expect(addressAllowed('10.0.0.1', ['nonsense', '10.0.0.0/99', ''])).toBe(false);
  });
});

describe('dtmfDigitOf', () => {
  const info = (type: string, content: string) => ({ method: 'INFO', headers: { 'content-type': type }, content });
  it('reads dtmf-relay Signal= and application/dtmf bodies', () => {
    expect(dtmfDigitOf(info('application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'))).toBe('5');
    expect(dtmfDigitOf(info('application/dtmf-relay', 'Signal= 11\r\n'))).toBe('#');
    expect(dtmfDigitOf(info('application/dtmf', '*'))).toBe('*');
    expect(dtmfDigitOf(info('application/dtmf', 'x'))).toBeNull();
    expect(dtmfDigitOf(info('text/plain', 'Signal=5'))).toBeNull();
  });
});

describe('wire decoding', () => {
  const head = 'OPTIONS sip:k@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:k@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS';
  it('decodes a datagram and trims the body to Content-Length', () => {
    const frame = decodeDatagram(Buffer.from(`${head}\r\nContent-Length: 2\r\n\r\nabcd`));
    expect(frame).toMatchObject({ kind: 'message', message: { method: 'OPTIONS', content: 'ab' } });
  });
  it('splits a TCP stream by Content-Length across chunks', () => {
    const framer = new StreamFramer();
    const text = `${head}\r\nContent-Length: 3\r\n\r\nxyz${head}\r\nContent-Length: 0\r\n\r\n`;
    const frames = [...framer.push(Buffer.from(text.slice(0, 50))), ...framer.push(Buffer.from(text.slice(50)))];
    expect(frames.map((f) => f.kind)).toEqual(['message', 'message']);
    expect(frames[0]).toMatchObject({ message: { content: 'xyz' } });
  });
});

describe('input checks', () => {
  const via = (host: string, port?: number, branch: string | null = 'z9hG4bK1'): SipVia => ({ host, port, params: branch === null ? {} : { branch } });

  it('takes a Via with a host name, an IPv4 or IPv6 address, a port 1-65535 or none, and a branch', () => {
    for (const v of [via('pbx.example.com', 5060), via('10.0.0.1'), via('[2001:db8::1]', 65535), via('a-b.c', 1)]) expect(validVia(v), JSON.stringify(v)).toBe(true);
    for (const v of [via('10.0.0.1', 0), via('10.0.0.1', 65536), via('10.0.0.1', 70000), via('10.0.0.1', 1.5), via('a_b'), via('-a.example'), via('[nonsense]'), via('x'.repeat(300)), via('10.0.0.1', 5060, null)]) {
      expect(validVia(v), JSON.stringify(v)).toBe(false);
    }
  });

  it('sends only to an IP address and a port Node accepts', () => {
    expect(validHop({ address: '127.0.0.1', port: 5060, transport: 'udp' })).toBe(true);
    expect(validHop({ address: '::1', port: 5060, transport: 'tcp' })).toBe(true);
    expect(validHop({ address: '127.0.0.1', port: 70000, transport: 'udp' })).toBe(false);
    expect(validHop({ address: '127.0.0.1', port: 0, transport: 'udp' })).toBe(false);
    expect(validHop({ address: 'pbx.example.com', port: 5060, transport: 'udp' })).toBe(false);
  });

  it('reads a URI user as UTF-8 text, and refuses broken percent-encoding', () => {
    expect(sipUriUser('sip:+4930123@pbx;user=phone')).toBe('+4930123');
    expect(sipUriUser('sip:%E7%8E%8B@pbx')).toBe('王');
    expect(sipUriUser(Buffer.from('sip:王@pbx', 'utf8').toString('latin1'))).toBe('王');
    expect(sipUriUser('sip:pbx.example.com')).toBeNull();
    expect(sipUriUser('sip:%E0%A4%A@pbx')).toBeUndefined();
    expect(sipUriUser('sip:%ED%A0%80@pbx')).toBeUndefined();
    expect(sipUriUser('nonsense')).toBeUndefined();
  });

  it('reads a display name without its quotes, as UTF-8 text', () => {
    expect(displayNameText({ name: '"Ada \\"the\\" Customer"', uri: 'sip:a@b', params: {} })).toBe('Ada "the" Customer');
    expect(displayNameText({ name: Buffer.from('"José"', 'utf8').toString('latin1'), uri: 'sip:a@b', params: {} })).toBe('José');
    expect(displayNameText({ name: '  ', uri: 'sip:a@b', params: {} })).toBeNull();
  });
});

describe('AuthFailureThrottle', () => {
  it('doubles the delay per failure and locks out after the threshold', () => {
    let now = 0;
    const throttle = new AuthFailureThrottle({ ...defaultAuthFailureThrottle, baseDelayMs: 100, lockoutAfter: 3, lockoutMs: 1000 }, () => now);
    expect([1, 2].map(() => throttle.recordFailure('1.2.3.4', 'alice'))).toEqual([100, 200]);
    expect(throttle.isLockedOut('1.2.3.4', 'alice')).toBe(false);
    throttle.recordFailure('1.2.3.4', 'alice');
    expect(throttle.isLockedOut('1.2.3.4', 'alice')).toBe(true);
    expect(throttle.isLockedOut('1.2.3.5', 'alice')).toBe(false);
    now += 1001;
    expect(throttle.isLockedOut('1.2.3.4', 'alice')).toBe(false);
  });
});
