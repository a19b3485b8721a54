// Events of a call object. A listener that throws is logged, never allowed into the SIP stack.
import { EventEmitter } from 'node:events';
import type { SipLogger } from './sip-logger.ts';

export class CallEvents {
  private readonly emitter = new EventEmitter();
  private readonly logger: SipLogger;

  constructor(logger: SipLogger) {
    this.logger = logger;
  }

  on(event: string, listener: (...args: never[]) => void): void {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
  }

  emit(event: string, ...args: unknown[]): void {
    try {
      this.emitter.emit(event, ...args);
    } catch (err) {
      this.logger.error({ err, event }, 'sip call listener failed');
    }
  }
}
