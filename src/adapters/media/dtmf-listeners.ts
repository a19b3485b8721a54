import { isDtmfDigit } from './telephone-event.ts';

/**
 * A leg's DTMF listeners: digits from RFC 4733 packets and from SIP INFO (injected) reach the same
 * listeners, in order; a listener that throws is logged and the others still hear the digit.
 */
export class DtmfListeners {
  private readonly listeners = new Set<(digit: string) => void>();
  private readonly onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.onListenerError = onListenerError;
  }

  /** Returns the unsubscribe function. The same function may listen twice; each unsubscribes alone. */
  add(listener: (digit: string) => void): () => void {
    const entry = (digit: string) => listener(digit);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** A digit that came another way (SIP INFO): checked, upper-cased, then heard like a received one. */
  inject(digit: string): void {
    if (!isDtmfDigit(digit)) throw new Error(`not a DTMF digit: "${digit}" (expected one of 0-9 * # A-D)`);
    this.emit(digit.toUpperCase());
  }

  emit(digit: string): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(digit);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
