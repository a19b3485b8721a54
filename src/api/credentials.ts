// Secrets are stored as scrypt hashes. Verifying one costs tens of milliseconds by design, so successful
// verifications of high-entropy tokens (API keys, the operator token) are remembered for a short while by
// a SHA-256 of the token; revocation is checked on every request all the same.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const params = { N: 16384, r: 8, p: 1, keylen: 32 };

function scrypt(secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, params.keylen, { N: params.N, r: params.r, p: params.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(secret, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash computed once, so that a login with an unknown name costs as much as one with a wrong password. */
let dummyHash: Promise<string> | null = null;
export function dummySecretHash(): Promise<string> {
  dummyHash ??= hashSecret(randomBytes(16).toString('hex'));
  return dummyHash;
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Verifies like verifySecret, but many concurrent requests with one token share one scrypt run, and a
 * success is remembered for `ttlMs` (keyed by a SHA-256, never the token itself).
 */
export class SecretVerifier {
  private readonly verified: VerifiedTokens;
  private readonly inFlight = new Map<string, Promise<boolean>>();
  constructor(ttlMs = 60_000) {
    this.verified = new VerifiedTokens(ttlMs);
  }
  async verify(secret: string, storedHash: string): Promise<boolean> {
    if (this.verified.has(secret, storedHash)) return true;
    const key = sha256(`${storedHash}\n${secret}`);
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = verifySecret(secret, storedHash).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const ok = await pending;
    if (ok) this.verified.add(secret, storedHash);
    return ok;
  }
}

/** Remembers verified tokens for `ttlMs`, keyed by their SHA-256, never by the token itself. */
export class VerifiedTokens {
  private readonly entries = new Map<string, number>();
  private readonly ttlMs: number;
  constructor(ttlMs = 60_000) {
    this.ttlMs = ttlMs;
  }
  has(token: string, storedHash: string): boolean {
    const key = sha256(`${storedHash}\n${token}`);
    const until = this.entries.get(key);
    if (until === undefined) return false;
    if (until < Date.now()) {
      this.entries.delete(key);
      return false;
    }
    return true;
  }
  add(token: string, storedHash: string): void {
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(sha256(`${storedHash}\n${token}`), Date.now() + this.ttlMs);
  }
}
