// What a call (inbound or outbound dialog) needs from the server: sending, transactions, the
// dialog table. Kept as an interface so call objects do not depend on SipServer.
import type { ServerTransaction, SipMessage } from 'sip';
import type { SipLogger } from './sip-logger.ts';
import type { SipHop, SipTransportName } from './sip-message.ts';

/** One dialog's view of in-dialog requests the far end sends. */
export interface DialogRequestHandler {
  onRequest(request: SipMessage, transaction: ServerTransaction): void;
  /** ACK for one of our 2xx (ACKs for error responses stay in the transaction layer). */
  onAck(ack: SipMessage): void;
  /** The TCP connection the dialog used has closed. */
  onTransportClosed(): void;
  /** The server is stopping: end the call politely, without waiting. */
  shutdown(): void;
}

export interface SipStack {
  readonly logger: SipLogger;
  now(): number;
  /** Our Contact URI for requests and 2xx sent over this transport. */
  contactUri(transport: SipTransportName): string;
  /** Our host in generated From URIs and Call-IDs. */
  readonly publicAddress: string;
  /** Sends a request in a client transaction; each response (or a generated 408/503) goes to onResponse. */
  sendRequest(hop: SipHop, request: SipMessage, onResponse: (response: SipMessage) => void): void;
  /** Sends without a transaction (ACK for a 2xx). */
  sendStateless(hop: SipHop, message: SipMessage): void;
  addDialog(callId: string, localTag: string, handler: DialogRequestHandler, hop: SipHop): void;
  removeDialog(callId: string, localTag: string): void;
}

/** RFC 3261 timers. */
export const T1 = 500;
export const T2 = 4000;
export const TIMER_B = 64 * T1;
