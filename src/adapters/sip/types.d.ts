// Types for the untyped CommonJS `sip` package (kirm/sip.js 0.0.6): only the parts Kefu uses.
declare module 'sip' {
  export interface SipUri {
    schema: string;
    user?: string;
    password?: string;
    host: string;
    port: number; // NaN when absent
    params: Record<string, string | null>;
    headers: Record<string, string>;
  }
  export interface SipAddress {
    name?: string;
    uri: string;
    params: Record<string, string | null>;
  }
  export interface SipVia {
    version?: string;
    protocol?: string;
    host?: string;
    port?: number;
    params: Record<string, string | number | null>;
  }
  export interface SipCSeq {
    seq: number;
    method: string;
  }
  /** Auth header params keep their quotes, e.g. { scheme: 'Digest', username: '"alice"' }. */
  export type SipAuthHeader = Record<string, string | undefined>;
  export interface SipHeaders {
    via?: SipVia[];
    to?: SipAddress;
    from?: SipAddress;
    'call-id'?: string;
    cseq?: SipCSeq;
    contact?: SipAddress[] | '*';
    'content-length'?: number;
    authorization?: SipAuthHeader[];
    'proxy-authorization'?: SipAuthHeader[];
    'www-authenticate'?: SipAuthHeader[];
    'proxy-authenticate'?: SipAuthHeader[];
    [name: string]: unknown;
  }
  export interface SipMessage {
    method?: string;
    uri?: string;
    status?: number;
    reason?: string;
    version?: string;
    headers: SipHeaders;
    content?: string;
  }
  /** A connection as the transaction layer sees it. */
  export interface SipConnection {
    send(message: SipMessage): void;
    release(): void;
    protocol: string;
  }
  export interface ServerTransaction {
    send(response: SipMessage): void;
    message(request: SipMessage): void;
    shutdown(): void;
  }
  export interface ClientTransaction {
    message(response: SipMessage, remote?: unknown): void;
    shutdown(): void;
  }
  export interface TransactionLayer {
    createServerTransaction(request: SipMessage, connection: SipConnection): ServerTransaction;
    createClientTransaction(connection: SipConnection, request: SipMessage, onResponse: (response: SipMessage) => void): ClientTransaction;
    getServer(message: SipMessage): ServerTransaction | undefined;
    getClient(message: SipMessage): ClientTransaction | undefined;
    destroy(): void;
  }
  interface SipModule {
    /** Parses a whole message (head, blank line, body); undefined when the start line or a header line is unreadable. */
    parse(text: string): SipMessage | undefined;
    stringify(message: SipMessage): string;
    makeResponse(request: SipMessage, status: number, reason?: string, extension?: { headers?: Record<string, unknown>; content?: string }): SipMessage;
    parseUri(text: string): SipUri | undefined;
    stringifyUri(uri: SipUri | string): string;
    makeTransactionLayer(options: Record<string, unknown>, connect: unknown): TransactionLayer;
  }
  const sip: SipModule;
  export default sip;
}
