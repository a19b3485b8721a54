// UDP and TCP on one port. Frames bytes into messages (sip-wire.ts), fills our Via on requests, and
// sends responses and requests back over the flow they belong to (the TCP connection a phone opened).
import dgram from 'node:dgram';
import net from 'node:net';
import type { SipConnection, SipMessage } from 'sip';
import { validPort } from './sip-input.ts';
import type { SipHop } from './sip-message.ts';
import { decodeDatagram, encodeMessage, StreamFramer, type Frame, type WireLimits } from './sip-wire.ts';
import type { SipLogger } from './sip-logger.ts';

export interface SipTransportOptions {
  port: number;
  bindAddress: string;
  publicAddress: string;
  udp: boolean;
  tcp: boolean;
  limits: WireLimits;
  logger: SipLogger;
  /** A TCP connection without traffic for this long is closed. */
  tcpIdleMs?: number;
  /** Sees each message about to be sent (metrics). */
  observe?: (message: SipMessage) => void;
}

export interface SipTransportEvents {
  onFrame(frame: Frame, from: SipHop): void;
  onConnectionClosed(hop: SipHop): void;
}

/** Node reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

const key = (address: string, port: number) => `${address}|${port}`;

/** An address and port Node can send to without throwing, and only to an IP (never a DNS lookup per message). */
export function validHop(hop: SipHop): boolean {
  return typeof hop.address === 'string' && net.isIP(hop.address) !== 0 && validPort(hop.port) && (hop.transport === 'udp' || hop.transport === 'tcp');
}

export class SipTransport {
  private udpSocket: dgram.Socket | null = null;
  private tcpServer: net.Server | null = null;
  private readonly streams = new Map<string, net.Socket>();
  private readonly options: SipTransportOptions;
  private readonly events: SipTransportEvents;
  private stopped = false;

  constructor(options: SipTransportOptions, events: SipTransportEvents) {
    this.options = options;
    this.events = events;
  }

  async start(): Promise<void> {
    const { port, bindAddress } = this.options;
    if (this.options.udp) {
      const socket = dgram.createSocket(net.isIPv6(bindAddress) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, bindAddress, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.on('error', (err) => this.options.logger.error({ err }, 'sip udp socket error'));
      socket.on('message', (data, rinfo) => this.receiveDatagram(data, { address: plainAddress(rinfo.address), port: rinfo.port, transport: 'udp' }));
      this.udpSocket = socket;
    }
    if (this.options.tcp) {
      const server = net.createServer((socket) => this.adoptStream(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, bindAddress, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.options.logger.error({ err }, 'sip tcp server error'));
      this.tcpServer = server;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const socket of this.streams.values()) socket.destroy();
    this.streams.clear();
    const udp = this.udpSocket;
    const tcp = this.tcpServer;
    this.udpSocket = null;
    this.tcpServer = null;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
  }

  /** A connection for the `sip` package's transaction layer; onError gets transport failures. */
  connection(hop: SipHop, onError?: (err: Error) => void): SipConnection {
    return {
      send: (message) => this.send(hop, message, onError),
      release: () => {},
      protocol: hop.transport.toUpperCase(),
    };
  }

  /**
   * Never throws: the `sip` package calls this from its retransmission timers, where an exception
   * would end the process. A failure goes to onError (the transaction answers itself 503), else to
   * the log at info: a peer that went away is an ordinary event.
   */
  send(hop: SipHop, message: SipMessage, onError?: (err: Error) => void): void {
    if (this.stopped) return;
    const fail = (err: Error) => {
      if (onError) onError(err);
      else this.options.logger.info({ error: err.message, to: hop, callId: message.headers['call-id'] }, 'sip send failed');
    };
    if (!validHop(hop)) return fail(new Error(`cannot send to ${String(hop.address)} port ${String(hop.port)}`));
    try {
      if (message.method) this.fillVia(message, hop);
      const bytes = encodeMessage(message);
      this.options.observe?.(message);
      this.options.logger.debug({ to: hop, message: message.method ?? message.status, callId: message.headers['call-id'] }, 'sip send');
      if (hop.transport === 'udp') {
        if (!this.udpSocket) return fail(new Error('UDP transport is off'));
        this.udpSocket.send(bytes, hop.port, hop.address, (err) => {
          if (err) fail(err);
        });
        return;
      }
      const socket = this.streams.get(key(hop.address, hop.port)) ?? this.connect(hop);
      if (!socket) return fail(new Error('TCP transport is off'));
      if (socket.destroyed) return fail(new Error('TCP connection closed'));
      socket.write(bytes, (err) => {
        if (err) fail(err);
      });
    } catch (err) {
      fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private fillVia(message: SipMessage, hop: SipHop): void {
    const via = message.headers.via?.[0];
    if (!via) return;
    via.host = this.options.publicAddress;
    via.port = this.options.port;
    via.protocol = hop.transport.toUpperCase();
    if (hop.transport === 'udp') via.params.rport = null;
  }

  private connect(hop: SipHop): net.Socket | null {
    if (!this.tcpServer) return null;
    const socket = net.connect({ host: hop.address, port: hop.port });
    this.adoptStream(socket, hop);
    return socket;
  }

  private adoptStream(socket: net.Socket, known?: SipHop): void {
    const hop: SipHop = known ?? { address: plainAddress(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0, transport: 'tcp' };
    const id = key(hop.address, hop.port);
    this.streams.set(id, socket);
    const framer = new StreamFramer(this.options.limits);
    socket.setTimeout(this.options.tcpIdleMs ?? 10 * 60_000, () => socket.destroy());
    socket.on('error', (err) => this.options.logger.debug({ err, hop }, 'sip tcp connection error'));
    socket.on('close', () => {
      if (this.streams.get(id) === socket) this.streams.delete(id);
      this.guard(() => this.events.onConnectionClosed(hop));
    });
    socket.on('data', (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) {
        if (frame.kind === 'keepalive') socket.write('\r\n');
        else this.guard(() => this.events.onFrame(frame, hop));
      }
      if (framer.broken) socket.end();
    });
  }

  private receiveDatagram(data: Buffer, from: SipHop): void {
    const frame = decodeDatagram(data, this.options.limits);
    if (frame && frame.kind !== 'keepalive') this.guard(() => this.events.onFrame(frame, from));
  }

  /** No message, however odd, may take the process down. */
  private guard(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.options.logger.error({ err }, 'sip message handling failed');
    }
  }
}
