import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { FrameClock } from './frame-clock.ts';
import type { Bridge, MediaEngine, PipedLeg, RtpLeg, RtpLegStats } from './media-port.ts';
import { RtpBridge } from './rtp-bridge.ts';
import { RtpPortRange } from './rtp-port-range.ts';
import { UdpRtpLeg } from './udp-rtp-leg.ts';
import type { MediaLogger } from './udp-rtp-leg.ts';

export interface UdpMediaEngineOptions {
  /** Address the sockets bind to, e.g. '0.0.0.0'. */
  bindAddress: string;
  /** Address peers send to, written in SDP (the host's public or LAN address). */
  publicAddress: string;
  portMin: number;
  portMax: number;
  logger?: MediaLogger;
}

/** The in-process media engine: UDP sockets on this event loop, one shared 20 ms clock. */
export class UdpMediaEngine implements MediaEngine {
  private readonly bindAddress: string;
  private readonly publicAddress: string;
  private readonly ports: RtpPortRange;
  private readonly logger: MediaLogger;
  private readonly clock: FrameClock;
  private readonly legs = new Set<UdpRtpLeg>();
  private readonly bridges = new Set<RtpBridge>();
  private nextLegNumber = 1;
  private closed = false;

  constructor(o: UdpMediaEngineOptions) {
    this.bindAddress = o.bindAddress;
    this.publicAddress = o.publicAddress;
    this.ports = new RtpPortRange(o.portMin, o.portMax);
    this.logger = o.logger ?? { warn: () => {} };
    this.clock = new FrameClock((error) => this.logger.warn({ err: error }, 'media clock listener failed'));
  }

  get openLegs(): number {
    return this.legs.size;
  }

  /** Each open leg's counters, by leg id (for monitoring, benches and tests). */
  legStats(): { id: string; stats: RtpLegStats }[] {
    return [...this.legs].map((leg) => ({ id: leg.id, stats: leg.stats() }));
  }

  async openLeg(label?: string): Promise<RtpLeg> {
    if (this.closed) throw new Error('media engine is closed');
    // Ports other programs hold are skipped; each is tried at most once per call.
    for (let attempt = 0; attempt < this.ports.size; attempt++) {
      const port = this.ports.take();
      if (port === null) break;
      let socket: Socket;
      try {
        socket = await this.bind(port);
      } catch (error) {
        this.ports.release(port);
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' || (error as NodeJS.ErrnoException).code === 'EACCES') continue;
        throw error;
      }
      if (this.closed) {
        socket.close();
        this.ports.release(port);
        throw new Error('media engine is closed');
      }
      const leg = new UdpRtpLeg({
        id: `${label ?? 'leg'}-${this.nextLegNumber++}`,
        socket,
        local: { address: this.publicAddress, port },
        clock: this.clock,
        logger: this.logger,
        onClose: (closedLeg) => {
          this.legs.delete(closedLeg);
          this.ports.release(port);
        },
      });
      this.legs.add(leg);
      return leg;
    }
    throw new Error(`no free RTP port in ${this.ports.size} even ports of the configured range (${this.legs.size} legs open)`);
  }

  /**
   * A leg with no socket: what it sends goes to `send` (a WebRTC peer connection's sender), and what the
   * peer received is handed in with deliver(). setRemote only sets its codec and payload types.
   */
  async openPipedLeg(label: string, send: (rtpPacket: Uint8Array) => void): Promise<PipedLeg> {
    if (this.closed) throw new Error('media engine is closed');
    const leg = new UdpRtpLeg({
      id: `${label}-${this.nextLegNumber++}`,
      pipe: send,
      local: { address: this.publicAddress, port: 0 },
      clock: this.clock,
      logger: this.logger,
      onClose: (closedLeg) => this.legs.delete(closedLeg),
    });
    this.legs.add(leg);
    return { leg, deliver: (rtpPacket) => leg.deliver(rtpPacket) };
  }

  bridge(a: RtpLeg, b: RtpLeg, options?: { recordTo?: string }): Bridge {
    if (!(a instanceof UdpRtpLeg) || !(b instanceof UdpRtpLeg) || !this.legs.has(a) || !this.legs.has(b)) {
      throw new Error('bridge: both legs must be open legs of this media engine');
    }
    const bridge = new RtpBridge({ a, b, clock: this.clock, ...(options?.recordTo ? { recordTo: options.recordTo } : {}) });
    this.bridges.add(bridge);
    return {
      recording: bridge.recording,
      pause: () => bridge.pause(),
      resume: () => bridge.resume(),
      stop: () => {
        this.bridges.delete(bridge);
        return bridge.stop();
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const bridges = [...this.bridges];
    this.bridges.clear();
    const results = await Promise.allSettled([...bridges.map((b) => b.stop()), ...[...this.legs].map((leg) => leg.close())]);
    for (const r of results) if (r.status === 'rejected') this.logger.warn({ err: r.reason }, 'closing media engine');
    this.clock.stop();
  }

  private bind(port: number): Promise<Socket> {
    const socket = createSocket({ type: isIPv6(this.bindAddress) ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        socket.close();
        reject(error);
      };
      socket.once('error', onError);
      socket.bind({ port, address: this.bindAddress, exclusive: true }, () => {
        socket.off('error', onError);
        resolve(socket);
      });
    });
  }
}
