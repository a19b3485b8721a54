// The caller's key presses (RFC 4733 or SIP INFO, both arrive on the media leg), buffered so that keys typed
// ahead during a prompt are not lost, and gathered the way a menu or a digit collection asks.
import type { RtpLeg } from '../../../adapters/media/media-port.ts';
import type { FlowAction, FlowInput } from '../../../domain/flow/flow-engine.ts';

export class KeyBuffer {
  private readonly pending: string[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: () => void;
  private readonly gone: AbortSignal;

  constructor(leg: RtpLeg, gone: AbortSignal) {
    this.gone = gone;
    this.unsubscribe = leg.onDtmf((digit) => {
      this.pending.push(digit);
      for (const l of [...this.listeners]) l();
    });
  }

  clear(): void {
    this.pending.length = 0;
  }

  /** Calls `listener` on each key from now on; returns a function that stops it. */
  onKey(listener: () => void): () => void {
    if (this.pending.length > 0) listener();
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for the keys a collect action asks for: a menu's one key, or digits up to maxDigits or the terminator, each within the timeout. */
  async collect(action: Extract<FlowAction, { type: 'collect' }>, clock: () => Date): Promise<FlowInput> {
    const now = () => clock().toISOString();
    let digits = '';
    for (;;) {
      const key = await this.next(action.timeoutSeconds * 1000);
      if (key === null) {
        if (this.gone.aborted) return { type: 'timeout', now: now() };
        return digits === '' ? { type: 'timeout', now: now() } : { type: 'digits', digits, now: now() };
      }
      if (action.maxDigits === 1 && action.terminator === null) return { type: 'key', key, now: now() };
      if (action.terminator !== null && key === action.terminator) return { type: 'digits', digits: digits + key, now: now() };
      digits += key;
      if (digits.length >= action.maxDigits) return { type: 'digits', digits, now: now() };
    }
  }

  private next(timeoutMs: number): Promise<string | null> {
    const ready = this.pending.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const done = (key: string | null) => {
        clearTimeout(timer);
        this.listeners.delete(onKey);
        this.gone.removeEventListener('abort', onAbort);
        resolve(key);
      };
      const onKey = () => done(this.pending.shift() ?? null);
      const onAbort = () => done(null);
      const timer = setTimeout(() => done(null), timeoutMs);
      this.listeners.add(onKey);
      this.gone.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }
}
