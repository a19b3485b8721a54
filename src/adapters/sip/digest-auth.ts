// HTTP digest for SIP (RFC 2617 / RFC 3261 §22, MD5, qop=auth). Nonces are stateless: a timestamp
// and random part signed with a per-process key, valid for nonceTtlMs.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SipAuthHeader } from 'sip';

export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  qop: string | null;
  nc: string | null;
  cnonce: string | null;
  algorithm: string | null;
}

export type DigestVerdict = 'ok' | 'stale' | 'bad';

export function md5(...parts: string[]): string {
  return createHash('md5').update(parts.join(':')).digest('hex');
}

/** The HA1 Kefu stores for an extension or trunk: md5(username:realm:password). */
export function digestHa1(username: string, realm: string, password: string): string {
  return md5(username, realm, password);
}

export function unquote(value: string | undefined): string | null {
  if (value === undefined) return null;
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
}

export class DigestAuth {
  private readonly key = randomBytes(32);
  private readonly realm: string;
  private readonly nonceTtlMs: number;
  private readonly now: () => number;

  constructor(options: { realm: string; nonceTtlMs?: number; now: () => number }) {
    this.realm = options.realm;
    this.nonceTtlMs = options.nonceTtlMs ?? 5 * 60_000;
    this.now = options.now;
  }

  /** A WWW-Authenticate / Proxy-Authenticate value with a fresh nonce. */
  challenge(stale = false): SipAuthHeader {
    return {
      scheme: 'Digest',
      realm: `"${this.realm}"`,
      nonce: `"${this.newNonce()}"`,
      algorithm: 'MD5',
      qop: '"auth"',
      ...(stale ? { stale: 'TRUE' } : {}),
    };
  }

  /** Our realm's credentials among Authorization / Proxy-Authorization values, or null. */
  credentials(headers: SipAuthHeader[] | undefined): DigestCredentials | null {
    for (const header of headers ?? []) {
      if (header.scheme?.toLowerCase() !== 'digest' || unquote(header.realm) !== this.realm) continue;
      const username = unquote(header.username);
      const nonce = unquote(header.nonce);
      const uri = unquote(header.uri);
      const response = unquote(header.response);
      if (!username || !nonce || !uri || !response) return null;
      return {
        username,
        realm: this.realm,
        nonce,
        uri,
        response: response.toLowerCase(),
        qop: unquote(header.qop)?.toLowerCase() ?? null,
        nc: unquote(header.nc),
        cnonce: unquote(header.cnonce),
        algorithm: unquote(header.algorithm),
      };
    }
    return null;
  }

  verify(credentials: DigestCredentials, method: string, ha1: string): DigestVerdict {
    const issuedAt = this.nonceIssuedAt(credentials.nonce);
    if (issuedAt === null) return 'bad';
    if (credentials.algorithm && credentials.algorithm.toUpperCase() !== 'MD5') return 'bad';
    const ha2 = md5(method, credentials.uri);
    let expected: string;
    if (credentials.qop === 'auth') {
      if (!credentials.nc || !credentials.cnonce) return 'bad';
      expected = md5(ha1, credentials.nonce, credentials.nc, credentials.cnonce, 'auth', ha2);
    } else if (credentials.qop === null) {
      expected = md5(ha1, credentials.nonce, ha2); // RFC 2069 clients
    } else {
      return 'bad';
    }
    if (!sameText(expected, credentials.response)) return 'bad';
    return this.now() - issuedAt > this.nonceTtlMs ? 'stale' : 'ok';
  }

  private newNonce(): string {
    const body = `${this.now().toString(16)}.${randomBytes(8).toString('hex')}`;
    return `${body}.${this.sign(body)}`;
  }

  private nonceIssuedAt(nonce: string): number | null {
    const at = nonce.lastIndexOf('.');
    if (at < 0) return null;
    const body = nonce.slice(0, at);
    if (!sameText(this.sign(body), nonce.slice(at + 1))) return null;
    const issuedAt = Number.parseInt(body.split('.')[0] ?? '', 16);
    return Number.isFinite(issuedAt) ? issuedAt : null;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(`${this.realm}|${body}`).digest('hex').slice(0, 32);
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
