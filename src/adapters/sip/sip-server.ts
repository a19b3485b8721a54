// The SIP signalling adapter: transport, transactions (the `sip` package), REGISTER, trunk INVITEs
// and UAC legs. It holds transport state only (registrations, dialogs, transactions); what a call
// means is decided by whoever handles onInboundCall and calls call().
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import sip, { type ServerTransaction, type SipConnection, type SipMessage, type TransactionLayer } from 'sip';
import { registerAgentPhone } from './agent-registration.ts';
import { AuthFailureThrottle, defaultAuthFailureThrottle } from './auth-failure-throttle.ts';
import { DigestAuth } from './digest-auth.ts';
import { SipInboundCall, type InboundCall } from './inbound-call.ts';
import { SipOutboundCall, type OutboundCall } from './outbound-call.ts';
import { Registrar } from './registrar.ts';
import type { SipDirectory } from './sip-directory.ts';
import type { SipLogger } from './sip-logger.ts';
import { allowedMethods, isSdp, response, tagOf, uriUser, type SipHop, type SipTransportName } from './sip-message.ts';
import type { DialogRequestHandler, SipStack } from './sip-stack.ts';
import { validPort, validVia } from './sip-input.ts';
import { SipTransport, validHop } from './sip-transport.ts';
import { defaultWireLimits, type Frame, type WireLimits } from './sip-wire.ts';
import { authenticateTrunkCall } from './trunk-auth.ts';

export interface SipServerOptions {
  /** KEFU_SIP_PORT, default 5060; UDP and TCP share it. */
  port: number;
  bindAddress: string;
  /** Our address as others reach it (NAT): in Via and Contact. */
  publicAddress: string;
  realm: string;
  udp: boolean;
  tcp: boolean;
  logger: SipLogger;
  /** Registration lifetime bounds in seconds; defaults 60 and 3600. */
  minRegisterExpires?: number;
  maxRegisterExpires?: number;
  /** Delay after the first failed REGISTER digest, doubling per failure (default 250 ms, max 8 s). */
  registerFailureDelayMs?: number;
  /** Failed digests of one (IP, username) before 403 for registerLockoutMs (defaults 10, 15 min). */
  registerLockoutAfter?: number;
  registerLockoutMs?: number;
  nonceTtlMs?: number;
  limits?: Partial<WireLimits>;
}

export interface SipServerDeps {
  directory: SipDirectory;
  onInboundCall: (call: InboundCall) => void;
  now?: () => number;
}

export interface CallTarget {
  uri: string;
  /** The hop to send to, e.g. a registration's source (NAT); default: the URI's host and port. */
  via?: SipHop;
}

export interface CallOptions {
  from: string;
  fromName?: string;
  sdp: string;
  headers?: Record<string, string>;
}

interface PendingInvite {
  transaction: ServerTransaction;
  invite: SipMessage;
  call: SipInboundCall | null;
  cancelled: boolean;
}

interface DialogEntry {
  handler: DialogRequestHandler;
  hop: SipHop;
}

export class SipServer {
  readonly registrations: Registrar;
  private readonly options: SipServerOptions;
  private readonly deps: SipServerDeps;
  private readonly now: () => number;
  private readonly transport: SipTransport;
  private readonly transactions: TransactionLayer;
  private readonly digest: DigestAuth;
  private readonly throttle: AuthFailureThrottle;
  private readonly dialogs = new Map<string, DialogEntry>();
  private readonly pendingInvites = new Map<string, PendingInvite>();
  private readonly delayedResponses = new Set<NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly stack: SipStack;
  /** Sees every SIP message received and sent (metrics); set after construction. */
  observer: ((direction: 'in' | 'out', message: SipMessage) => void) | null = null;

  constructor(options: SipServerOptions, deps: SipServerDeps) {
    this.options = options;
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.registrations = new Registrar(this.now);
    this.digest = new DigestAuth({ realm: options.realm, nonceTtlMs: options.nonceTtlMs, now: this.now });
    this.throttle = new AuthFailureThrottle(
      {
        ...defaultAuthFailureThrottle,
        baseDelayMs: options.registerFailureDelayMs ?? defaultAuthFailureThrottle.baseDelayMs,
        lockoutAfter: options.registerLockoutAfter ?? defaultAuthFailureThrottle.lockoutAfter,
        lockoutMs: options.registerLockoutMs ?? defaultAuthFailureThrottle.lockoutMs,
      },
      this.now,
    );
    this.transport = new SipTransport(
      {
        port: options.port,
        bindAddress: options.bindAddress,
        publicAddress: uriHost(options.publicAddress),
        udp: options.udp,
        tcp: options.tcp,
        limits: { ...defaultWireLimits, ...options.limits },
        logger: options.logger,
        observe: (message) => this.observer?.('out', message),
      },
      {
        onFrame: (frame, from) => this.receive(frame, from),
        onConnectionClosed: (hop) => this.connectionClosed(hop),
      },
    );
    this.transactions = sip.makeTransactionLayer({}, null);
    this.stack = this.makeStack();
  }

  async start(): Promise<void> {
    await this.transport.start();
    this.running = true;
    this.sweepTimer = setInterval(() => this.registrations.sweep(), 5_000);
    this.sweepTimer.unref();
    this.options.logger.info({ port: this.options.port, udp: this.options.udp, tcp: this.options.tcp }, 'sip server listening');
  }

  /** Confirmed and early dialogs this server holds (a bridged inbound call has two: the caller's and the phone's). */
  get openDialogs(): number {
    return this.dialogs.size;
  }

  /** Ends live calls (BYE, or 503 before answer), then closes the sockets. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const live = [...this.dialogs.values()];
    for (const { handler } of live) guard(this.options.logger, () => handler.shutdown());
    for (const pending of this.pendingInvites.values()) {
      if (!pending.call) guard(this.options.logger, () => pending.transaction.send(response(pending.invite, 503, 'Service Unavailable')));
    }
    // Let the BYEs and final responses leave before the sockets close.
    if (live.length > 0 || this.pendingInvites.size > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const timer of this.delayedResponses) clearTimeout(timer);
    this.delayedResponses.clear();
    this.dialogs.clear();
    this.pendingInvites.clear();
    this.transactions.destroy();
    await this.transport.stop();
  }

  /** INVITEs an agent's registered phone (via: its registration's source) or any SIP URI as a UAC. */
  call(target: CallTarget, options: CallOptions): OutboundCall {
    const call = new SipOutboundCall(this.stack, { uri: target.uri, hop: target.via ?? hopOf(target.uri), ...options });
    call.start();
    return call;
  }

  private makeStack(): SipStack {
    const { logger, publicAddress, port } = this.options;
    return {
      logger,
      publicAddress: uriHost(publicAddress),
      now: this.now,
      contactUri: (transport: SipTransportName) => `sip:kefu@${uriHost(publicAddress)}:${port}${transport === 'tcp' ? ';transport=tcp' : ''}`,
      sendRequest: (hop, request, onResponse) => {
        if (!this.running) return;
        const safe = (rs: SipMessage) => guard(logger, () => onResponse(rs));
        let transaction: { message(m: SipMessage): void } | null = null;
        // A peer that went away (closed TCP, unreachable) is ordinary: info, once per transaction.
        let reported = false;
        const onError = (err: Error) => {
          if (reported) return;
          reported = true;
          logger.info({ error: err.message, hop, method: request.method }, 'sip request not sent');
          guard(logger, () => transaction?.message(sip.makeResponse(request, 503, 'Service Unavailable')));
        };
        transaction = this.transactions.createClientTransaction(this.transport.connection(hop, onError), request, safe);
      },
      sendStateless: (hop, message) => this.transport.send(hop, message),
      addDialog: (callId, localTag, handler, hop) => this.dialogs.set(dialogKey(callId, localTag), { handler, hop }),
      removeDialog: (callId, localTag) => this.dialogs.delete(dialogKey(callId, localTag)),
    };
  }

  private receive(frame: Frame, from: SipHop): void {
    if (frame.kind === 'invalid') return this.rejectMalformed(frame.reason, frame.partial, from);
    if (frame.kind !== 'message') return;
    const message = frame.message;
    this.observer?.('in', message);
    if (!message.method) {
      this.transactions.getClient(message)?.message(message, from);
      return;
    }
    const via = message.headers.via![0]!;
    via.params.received = from.address;
    if ('rport' in via.params) via.params.rport = from.port;
    if (message.method === 'ACK') {
      this.transactions.getServer(message)?.message(message);
      const toTag = tagOf(message.headers.to);
      if (toTag) this.dialogs.get(dialogKey(String(message.headers['call-id']), toTag))?.handler.onAck(message);
      return;
    }
    const existing = this.transactions.getServer(message);
    if (existing) {
      // A retransmission: the transaction resends its last response, if any.
      existing.message(message);
      return;
    }
    const layer = this.transactions.createServerTransaction(message, this.responseConnection(responseHop(message, from), message.method, from.transport));
    // The transaction keeps its last response for 32 s to answer retransmissions. A response shares
    // strings with the request (Via, From, To), and V8 keeps a substring's whole source text alive: a
    // copy keeps a few hundred bytes instead of the request's datagram (up to 64 KB).
    const transaction: ServerTransaction = { send: (rs) => layer.send(structuredClone(rs)), message: (m) => layer.message(m), shutdown: () => layer.shutdown() };
    this.handleRequest(message, transaction, from).catch((err: unknown) => {
      this.options.logger.error({ err, method: message.method }, 'sip request failed');
      guard(this.options.logger, () => transaction.send(response(message, 500, 'Server Internal Error')));
    });
  }

  /**
   * Where a server transaction sends its responses. Made here, not in receive(): the transaction lives
   * 32 s after its answer, and closures made in receive() would keep the whole request (up to 64 KB) alive.
   */
  private responseConnection(hop: SipHop, method: string, transport: SipTransportName): SipConnection {
    let reported = false;
    const onError = (err: Error) => {
      if (reported) return;
      reported = true;
      this.options.logger.info({ error: err.message, hop, method }, 'sip response not sent');
    };
    return { send: (rs) => this.transport.send(hop, rs, onError), release: () => {}, protocol: transport.toUpperCase() };
  }

  private async handleRequest(request: SipMessage, transaction: ServerTransaction, from: SipHop): Promise<void> {
    const method = request.method!;
    const callId = String(request.headers['call-id']);
    const send = (rs: SipMessage) => transaction.send(rs);
    if (headerNumber(request, 'max-forwards') === 0) return send(response(request, 483, 'Too Many Hops'));
    if (method === 'REGISTER') {
      return registerAgentPhone(request, from, {
        directory: this.deps.directory,
        digest: this.digest,
        throttle: this.throttle,
        registrar: this.registrations,
        minExpires: this.options.minRegisterExpires ?? 60,
        maxExpires: this.options.maxRegisterExpires ?? 3600,
        now: this.now,
        respond: (rs, delayMs) => this.respondLater(transaction, rs, delayMs ?? 0),
      });
    }
    if (method === 'CANCEL') {
      const pending = this.pendingInvites.get(inviteKey(request));
      if (!pending) return send(response(request, 481, 'Call/Transaction Does Not Exist'));
      send(response(request, 200, 'OK'));
      if (pending.call) return pending.call.cancelled();
      // Still looking the number up: end the INVITE now; the lookup sees `cancelled`.
      pending.cancelled = true;
      pending.transaction.send(response(pending.invite, 487, 'Request Terminated'));
      return;
    }
    const toTag = tagOf(request.headers.to);
    if (toTag) {
      const dialog = this.dialogs.get(dialogKey(callId, toTag));
      if (dialog) return dialog.handler.onRequest(request, transaction);
      if (method !== 'OPTIONS') return send(response(request, 481, 'Call/Transaction Does Not Exist'));
    }
    switch (method) {
      case 'OPTIONS':
        return send(response(request, 200, 'OK', { allow: allowedMethods.join(', '), accept: 'application/sdp' }));
      case 'INVITE':
        return this.inboundInvite(request, transaction, from);
      case 'BYE':
      case 'INFO':
        return send(response(request, 481, 'Call/Transaction Does Not Exist'));
      default:
        return send(response(request, 405, 'Method Not Allowed', { allow: allowedMethods.join(', ') }));
    }
  }

  private async inboundInvite(invite: SipMessage, transaction: ServerTransaction, from: SipHop): Promise<void> {
    transaction.send(response(invite, 100, 'Trying'));
    if (this.registrations.findBySource(from)) {
      return transaction.send(response(invite, 403, 'Calls From Agent Phones Are Not Supported Yet'));
    }
    const key = inviteKey(invite);
    const pending: PendingInvite = { transaction, invite, call: null, cancelled: false };
    this.pendingInvites.set(key, pending);
    try {
      const setup = await this.admitTrunkCall(invite, from);
      if (pending.cancelled || !this.running) return;
      if (!setup.ok) return transaction.send(setup.response);
      const call = new SipInboundCall(this.stack, { invite, transaction, source: from, ...setup.call });
      pending.call = call;
      call.on('ended', () => this.pendingInvites.delete(key));
      try {
        this.deps.onInboundCall(call);
      } catch (err) {
        this.options.logger.error({ err, callId: call.callId }, 'onInboundCall failed');
        call.reject(500, 'Server Internal Error');
      }
    } finally {
      if (!pending.call) this.pendingInvites.delete(key);
    }
  }

  private async admitTrunkCall(
    invite: SipMessage,
    from: SipHop,
  ): Promise<{ ok: true; call: { instanceId: string; trunkId: string; number: string; flowId: string | null } } | { ok: false; response: SipMessage }> {
    const refuse = (status: number, reason: string, headers?: Record<string, unknown>) => ({ ok: false as const, response: response(invite, status, reason, headers) });
    const dialled = uriUser(invite.uri);
    if (!dialled || !/^\+?\d{1,20}$/.test(dialled)) return refuse(404, 'Not Found');
    const number = await this.deps.directory.findNumber(dialled);
    if (!number) return refuse(404, 'Not Found');
    const trunks = await this.deps.directory.trunksOf(number.instanceId);
    const verdict = authenticateTrunkCall(trunks, from.address, invite, this.digest);
    if (verdict.kind === 'forbidden') return refuse(403, verdict.reason);
    if (verdict.kind === 'challenge') return refuse(407, 'Proxy Authentication Required', { 'proxy-authenticate': [this.digest.challenge(verdict.stale)] });
    // Late offer (INVITE without SDP) is not supported: the media side needs the caller's offer.
    if (!isSdp(invite)) return refuse(488, 'Offer Required');
    return { ok: true, call: { instanceId: number.instanceId, trunkId: verdict.trunk.id, number: number.number, flowId: number.flowId } };
  }

  private rejectMalformed(reason: string, partial: SipMessage | null, from: SipHop): void {
    this.options.logger.debug({ reason, from }, 'sip malformed message');
    // A 400 needs a request to answer and a Via to copy; anything else is dropped. A Via we cannot
    // trust is not used to address it: it goes back to where the request came from.
    if (!partial?.method || partial.method === 'ACK' || !partial.headers.via?.[0]?.host) return;
    const hop = validVia(partial.headers.via[0]) ? responseHop(partial, from) : from;
    this.transport.send(hop, sip.makeResponse(partial, 400, reason));
  }

  private respondLater(transaction: ServerTransaction, rs: SipMessage, delayMs: number): void {
    if (delayMs <= 0) return transaction.send(rs);
    const timer = setTimeout(() => {
      this.delayedResponses.delete(timer);
      guard(this.options.logger, () => transaction.send(rs));
    }, delayMs);
    this.delayedResponses.add(timer);
  }

  private connectionClosed(hop: SipHop): void {
    this.registrations.removeBySource(hop);
    for (const { handler, hop: dialogHop } of [...this.dialogs.values()]) {
      if (sameHop(hop, dialogHop)) guard(this.options.logger, () => handler.onTransportClosed());
    }
  }
}

function guard(logger: SipLogger, run: () => void): void {
  try {
    run();
  } catch (err) {
    logger.error({ err }, 'sip callback failed');
  }
}

const dialogKey = (callId: string, localTag: string) => `${callId}|${localTag}`;

/** CANCEL carries the INVITE's Call-ID and branch. */
const inviteKey = (request: SipMessage) => `${String(request.headers['call-id'])}|${String(request.headers.via?.[0]?.params.branch ?? '')}`;

function sameHop(a: SipHop, b: SipHop): boolean {
  return a.address === b.address && a.port === b.port && a.transport === b.transport;
}

/** Responses go back over the same TCP connection; over UDP to the source address (RFC 3581 rport: the source port). */
function responseHop(request: SipMessage, from: SipHop): SipHop {
  if (from.transport === 'tcp') return from;
  const via = request.headers.via?.[0];
  const port = !via || 'rport' in via.params ? from.port : via.port === undefined ? 5060 : validPort(via.port) ? via.port : from.port;
  return { address: from.address, port, transport: 'udp' };
}

function headerNumber(message: SipMessage, name: string): number | null {
  const value = message.headers[name];
  return typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : null;
}

function uriHost(address: string): string {
  return net.isIPv6(address) ? `[${address}]` : address;
}

/** The hop for a URI without an explicit one: its host (DNS A/AAAA, no SRV), port, transport param. */
function hopOf(uri: string): Promise<SipHop> {
  const parsed = sip.parseUri(uri);
  if (!parsed) return Promise.reject(new Error(`bad SIP URI ${uri}`));
  const transport: SipTransportName = parsed.params.transport?.toLowerCase() === 'tcp' ? 'tcp' : 'udp';
  const port = Number.isFinite(parsed.port) && parsed.port > 0 ? parsed.port : 5060;
  const host = parsed.host.replace(/^\[|\]$/g, '');
  const checked = (hop: SipHop) => (validHop(hop) ? hop : Promise.reject(new Error(`bad SIP URI ${uri}: cannot send to ${hop.address} port ${hop.port}`)));
  if (net.isIP(host)) return Promise.resolve(checked({ address: host, port, transport }));
  return lookup(host).then(({ address }) => checked({ address, port, transport }));
}
