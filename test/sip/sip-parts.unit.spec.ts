// The pure parts of the SIP adapter: digest, trunk allow-lists, INFO DTMF, wire limits, throttle.
import { describe, expect, it } from 'vitest';
import { AuthFailureThrottle, defaultAuthFailureThrottle } from '../../src/adapters/sip/auth-failure-throttle.ts';
import { DigestAuth, digestHa1, md5 } from '../../src/adapters/sip/digest-auth.ts';
import { dtmfDigitOf } from '../../src/adapters/sip/dtmf-info.ts';
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
