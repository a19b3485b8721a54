// Failed logins are limited per login and per client address: after `maxFailures` in `windowMs`, further
// attempts are refused (RATE_LIMITED) until the window has passed. Kept in memory: one process's view.
import { RateLimitedError } from '../domain/errors.ts';

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  constructor(options: { maxFailures?: number; windowMs?: number } = {}) {
    this.maxFailures = options.maxFailures ?? 5;
    this.windowMs = options.windowMs ?? 5 * 60_000;
  }

  check(keys: string[], now = Date.now()): void {
    for (const key of keys) {
      const recent = this.recent(key, now);
      if (recent.length >= this.maxFailures) {
        const retryAfter = Math.ceil((recent[0]! + this.windowMs - now) / 1000);
        throw new RateLimitedError(`Too many failed logins; try again in ${retryAfter} s`, retryAfter);
      }
    }
  }

  fail(keys: string[], now = Date.now()): void {
    if (this.failures.size > 100_000) this.failures.clear();
    for (const key of keys) this.failures.set(key, [...this.recent(key, now), now]);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
  }
}
