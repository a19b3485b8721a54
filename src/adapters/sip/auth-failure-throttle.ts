// Slows down password guessing: every failed digest from a (source IP, username) pair, and from a
// source IP over all usernames, delays the next answers more; past a threshold the key is locked out.
// Per pair so one misconfigured phone behind an office NAT does not lock out its neighbours; per IP
// (with a higher threshold) so scanning many usernames is still caught.

export interface AuthFailureThrottleOptions {
  /** Delay after the first failure; doubles with each further one. 0 turns delays off. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Failures of one (IP, username) pair before it is locked out. */
  lockoutAfter: number;
  /** Failures of one IP (any username) before it is locked out. */
  lockoutAfterPerAddress: number;
  lockoutMs: number;
  /** Failures older than this are forgotten. */
  windowMs: number;
}

export const defaultAuthFailureThrottle: AuthFailureThrottleOptions = {
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  lockoutAfter: 10,
  lockoutAfterPerAddress: 50,
  lockoutMs: 15 * 60_000,
  windowMs: 15 * 60_000,
};

interface Failures {
  count: number;
  lastAt: number;
  lockedUntil: number;
}

export class AuthFailureThrottle {
  private readonly failures = new Map<string, Failures>();
  private readonly options: AuthFailureThrottleOptions;
  private readonly now: () => number;

  constructor(options: AuthFailureThrottleOptions, now: () => number) {
    this.options = options;
    this.now = now;
  }

  isLockedOut(address: string, username: string): boolean {
    const now = this.now();
    return [this.entry(pairKey(address, username)), this.entry(address)].some((f) => f !== null && f.lockedUntil > now);
  }

  /** Records a failure; returns how long to wait before answering it. */
  recordFailure(address: string, username: string): number {
    const pair = this.bump(pairKey(address, username), this.options.lockoutAfter);
    const byAddress = this.bump(address, this.options.lockoutAfterPerAddress);
    const count = Math.max(pair.count, Math.ceil(byAddress.count / 5));
    if (this.options.baseDelayMs <= 0) return 0;
    return Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(count - 1, 30));
  }

  recordSuccess(address: string, username: string): void {
    this.failures.delete(pairKey(address, username));
  }

  private entry(key: string): Failures | null {
    const found = this.failures.get(key);
    if (!found) return null;
    if (found.lockedUntil <= this.now() && this.now() - found.lastAt > this.options.windowMs) {
      this.failures.delete(key);
      return null;
    }
    return found;
  }

  private bump(key: string, lockoutAfter: number): Failures {
    const now = this.now();
    const entry = this.entry(key) ?? { count: 0, lastAt: now, lockedUntil: 0 };
    entry.count += 1;
    entry.lastAt = now;
    if (entry.count >= lockoutAfter) entry.lockedUntil = now + this.options.lockoutMs;
    this.failures.set(key, entry);
    if (this.failures.size > 100_000) this.forgetOld();
    return entry;
  }

  private forgetOld(): void {
    for (const key of [...this.failures.keys()]) this.entry(key);
  }
}

const pairKey = (address: string, username: string) => `${address}|${username}`;
