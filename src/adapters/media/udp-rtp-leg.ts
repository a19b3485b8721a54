import type { Socket, RemoteInfo } from 'node:dgram';
import { DtmfListeners } from './dtmf-listeners.ts';
import { DtmfReceiver } from './dtmf-receiver.ts';
import { encodedPrompt } from './encoded-prompts.ts';
import type { FrameClock } from './frame-clock.ts';
import { SAMPLES_PER_FRAME } from './frame-clock.ts';
import { G711_SILENCE } from './g711.ts';
import type { MediaEndpoint, Playback, RtpDropReason, RtpLeg, RtpLegStats } from './media-port.ts';
import { PromptPlayback } from './prompt-playback.ts';
import type { FrameSink } from './prompt-playback.ts';
import { RtpSendStream } from './rtp-send-stream.ts';
import { readUint32, RTP_HEADER_SIZE, rtpPayloadEnd, rtpPayloadOffset, writeRtpHeaderFields } from './rtp-packet.ts';
import { RtpReception } from './rtp-reception.ts';
import type { Codec, MediaFormat } from './sdp.ts';
import { buildTelephoneEvent, eventForDigit, isDtmfDigit } from './telephone-event.ts';

/**
 * Who gets the packets a leg receives while bridged: the relay. `packet` is the datagram, free to rewrite;
 * `codec` is the law its payload is in (the peer may send either law it listed in its SDP).
 */
export type RtpSink = (packet: Buffer, payloadStart: number, payloadEnd: number, isDtmf: boolean, codec: Codec) => void;

export interface MediaLogger {
  warn(...args: unknown[]): void;
}

export type LegStats = Required<RtpLegStats>;

/** Where a piped leg's outgoing RTP goes instead of a socket (a WebRTC peer connection's sender). */
export type RtpPipe = (packet: Uint8Array) => void;

/** A leg over one UDP socket, or over a pipe (no socket), run on the engine's event loop. */
export class UdpRtpLeg implements RtpLeg, FrameSink {
  readonly id: string;
  readonly local: MediaEndpoint;
  readonly sendStream = new RtpSendStream();
  codec: Codec | null = null;
  /** -1 until setRemote. */
  payloadType = -1;
  /** -1 when the peer has no telephone-event. */
  dtmfPayloadType = -1;
  /** Date.now() of the last accepted packet. */
  lastPacketAt: number | null = null;

  private readonly socket: Socket | null;
  private readonly pipe: RtpPipe | null;
  private readonly clock: FrameClock;
  private readonly logger: MediaLogger;
  private readonly onClose: (leg: UdpRtpLeg) => void;
  private readonly dtmfReceiver = new DtmfReceiver();
  private readonly dtmfListeners: DtmfListeners;
  private sdpRemote: MediaEndpoint | null = null;
  private remoteAddress = '';
  private remotePort = 0;
  private latched = false;
  private playback: PromptPlayback | null = null;
  private closing: Promise<void> | null = null;
  private packetsIn = 0;
  private packetsOut = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private packetsMalformed = 0;
  private packetsIgnored = 0;
  private packetsUnknownPayloadType = 0;
  private packetsBeforeNegotiation = 0;
  /** The law of each payload type the peer may send (its SDP's G.711 formats); null for the others. */
  private readonly receiveCodecs: (Codec | null)[] = new Array<Codec | null>(128).fill(null);
  private readonly reception = new RtpReception();
  private bridgeSink: RtpSink | null = null;

  /** With `pipe` instead of `socket`, packets come in through deliver() and go out through the pipe. */
  constructor(o: { id: string; socket?: Socket; pipe?: RtpPipe; local: MediaEndpoint; clock: FrameClock; logger: MediaLogger; onClose: (leg: UdpRtpLeg) => void }) {
    this.id = o.id;
    this.socket = o.socket ?? null;
    this.pipe = o.pipe ?? null;
    if (!this.socket === !this.pipe) throw new Error('an RTP leg has either a socket or a pipe');
    this.local = o.local;
    this.clock = o.clock;
    this.logger = o.logger;
    this.onClose = o.onClose;
    this.dtmfListeners = new DtmfListeners((error) => this.logger.warn({ err: error, leg: this.id }, 'DTMF listener failed'));
    this.socket?.on('message', this.receive);
    this.socket?.on('error', (error) => this.logger.warn({ err: error, leg: this.id }, 'RTP socket error'));
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /** Set by a bridge: receives audio and DTMF packets. While set, the leg counts the time it hears no audio. */
  get sink(): RtpSink | null {
    return this.bridgeSink;
  }

  set sink(sink: RtpSink | null) {
    if (sink && !this.bridgeSink) this.reception.connected(Date.now());
    else if (!sink && this.bridgeSink) this.reception.disconnected(Date.now());
    this.bridgeSink = sink;
  }

  /** Where packets go now: the latched source, else the SDP address; null when unknown. */
  get remote(): MediaEndpoint | null {
    return this.remotePort === 0 ? null : { address: this.remoteAddress, port: this.remotePort };
  }

  setRemote(remote: MediaEndpoint, codec: Codec, payloadType: number, dtmfPayloadType: number | null, alsoReceive: readonly MediaFormat[] = []): void {
    const formats = [{ codec, payloadType }, ...alsoReceive];
    for (const f of formats) {
      if (f.codec !== 'PCMU' && f.codec !== 'PCMA') throw new Error(`unsupported codec ${String(f.codec)} (expected PCMU or PCMA)`);
      checkPayloadType(f.payloadType, 'payload type');
    }
    if (dtmfPayloadType !== null) checkPayloadType(dtmfPayloadType, 'DTMF payload type');
    this.receiveCodecs.fill(null);
    for (const f of formats) this.receiveCodecs[f.payloadType] = f.codec;
    this.codec = codec;
    this.payloadType = payloadType;
    this.dtmfPayloadType = dtmfPayloadType ?? -1;
    if (this.pipe) {
      // The pipe is the peer: no address to send to, nothing to latch.
      this.remoteAddress = 'pipe';
      this.remotePort = 1;
      return;
    }
    const moved = this.sdpRemote !== null && (this.sdpRemote.address !== remote.address || this.sdpRemote.port !== remote.port);
    this.sdpRemote = { address: remote.address, port: remote.port };
    // Keep a latch made before the SDP came, or across a re-INVITE to the same address; a new address re-latches.
    if (this.latched && !moved) return;
    this.latched = false;
    const usable = remote.port > 0 && remote.address !== '0.0.0.0' && remote.address !== '::';
    this.remoteAddress = usable ? remote.address : '';
    this.remotePort = usable ? remote.port : 0;
  }

  onDtmf(listener: (digit: string) => void): () => void {
    return this.dtmfListeners.add(listener);
  }

  injectDtmf(digit: string): void {
    this.dtmfListeners.inject(digit);
  }

  play(audio: Int16Array, options?: { loop?: boolean }): Playback {
    this.stopPlayback();
    if (this.closed) throw new Error(`leg ${this.id} is closed`);
    const playback = new PromptPlayback({
      audio,
      loop: options?.loop ?? false,
      clock: this.clock,
      sink: this,
      onEnd: (p) => {
        if (this.playback === p) this.playback = null;
        this.sendStream.release(p);
      },
    });
    if (playback.active) this.playback = playback;
    return playback;
  }

  stopPlayback(): void {
    this.playback?.stop();
  }

  /** One frame of a prompt; skipped (time still passes) until the leg knows its codec and peer. */
  sendPromptFrame(owner: object, audio: Int16Array, start: number): void {
    const codec = this.codec;
    if (codec === null || this.remotePort === 0) return;
    const encoded = encodedPrompt(audio, codec);
    const packet = Buffer.allocUnsafe(RTP_HEADER_SIZE + SAMPLES_PER_FRAME);
    const stream = this.sendStream;
    const marker = stream.claim(owner);
    stream.timestamp = marker ? stream.talkspurtTimestamp(Date.now()) : (stream.timestamp + SAMPLES_PER_FRAME) >>> 0;
    writeRtpHeaderFields(packet, marker, this.payloadType, stream.nextSequenceNumber(), stream.timestamp, stream.ssrc);
    const end = Math.min(start + SAMPLES_PER_FRAME, encoded.length);
    packet.set(encoded.subarray(start, end), RTP_HEADER_SIZE);
    if (end - start < SAMPLES_PER_FRAME) packet.fill(G711_SILENCE[codec], RTP_HEADER_SIZE + end - start);
    this.sendPacket(packet);
  }

  /** Sends a finished packet to the peer; false when there is no peer yet or the leg is closed. */
  sendPacket(packet: Uint8Array): boolean {
    if (this.remotePort === 0 || this.closing) return false;
    if (this.pipe) {
      try {
        this.pipe(packet);
      } catch (error) {
        this.logger.warn({ err: error, leg: this.id }, 'RTP pipe failed');
        return false;
      }
    } else this.socket!.send(packet, this.remotePort, this.remoteAddress);
    this.packetsOut++;
    this.bytesOut += packet.length;
    this.sendStream.lastSentAt = Date.now();
    return true;
  }

  sendDtmf(digit: string, durationMs = 100): Promise<void> {
    if (!isDtmfDigit(digit)) return Promise.reject(new Error(`not a DTMF digit: "${digit}" (expected one of 0-9 * # A-D)`));
    const event = eventForDigit(digit);
    if (this.dtmfPayloadType < 0) return Promise.reject(new Error(`leg ${this.id}: the peer did not negotiate telephone-event`));
    const owner = {};
    const stream = this.sendStream;
    stream.claim(owner);
    const timestamp = stream.talkspurtTimestamp(Date.now());
    const total = Math.max(SAMPLES_PER_FRAME, Math.round((durationMs * 8) / SAMPLES_PER_FRAME) * SAMPLES_PER_FRAME);
    let duration = 0;
    return new Promise((resolve) => {
      const unsubscribe = this.clock.subscribe(() => {
        duration += SAMPLES_PER_FRAME;
        const end = duration >= total;
        // The end packet goes three times (RFC 4733 section 2.5.1.4), the others once.
        for (let i = 0; i < (end ? 3 : 1); i++) {
          const payload = buildTelephoneEvent({ event, end, volume: 10, duration });
          const packet = Buffer.allocUnsafe(RTP_HEADER_SIZE + payload.length);
          writeRtpHeaderFields(packet, duration === SAMPLES_PER_FRAME && i === 0, this.dtmfPayloadType, stream.nextSequenceNumber(), timestamp, stream.ssrc);
          packet.set(payload, RTP_HEADER_SIZE);
          this.sendPacket(packet);
        }
        if (end || this.closed) {
          unsubscribe();
          stream.timestamp = (timestamp + duration) >>> 0;
          stream.release(owner);
          resolve();
        }
      });
    });
  }

  stats(): LegStats {
    return {
      packetsIn: this.packetsIn,
      packetsOut: this.packetsOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      lastPacketAt: this.lastPacketAt,
      packetsMalformed: this.packetsMalformed,
      packetsIgnored: this.packetsIgnored,
      packetsUnknownPayloadType: this.packetsUnknownPayloadType,
      packetsBeforeNegotiation: this.packetsBeforeNegotiation,
      lastAudioAt: this.reception.lastAudioAt,
      packetsLost: this.reception.lost,
      jitterMs: this.reception.jitterMs,
      silentMs: this.reception.silentMsAt(Date.now()),
    };
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.stopPlayback();
    this.sink = null;
    this.dtmfListeners.clear();
    this.logDropsOnClose();
    const socket = this.socket;
    if (!socket) {
      this.closing = Promise.resolve().then(() => this.onClose(this));
      return this.closing;
    }
    socket.off('message', this.receive);
    this.closing = new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    }).then(() => this.onClose(this));
    return this.closing;
  }

  private readonly receive = (packet: Buffer, from: RemoteInfo): void => {
    if (this.latched) {
      if (from.port !== this.remotePort || from.address !== this.remoteAddress) {
        if (this.packetsIgnored++ === 0) this.firstDrop('wrongSource', { from: `${from.address}:${from.port}`, latchedTo: `${this.remoteAddress}:${this.remotePort}` });
        return;
      }
    }
    const start = rtpPayloadOffset(packet);
    if (start < 0) {
      if (this.packetsMalformed++ === 0) this.firstDrop('malformed', { from: `${from.address}:${from.port}`, bytes: packet.length });
      return;
    }
    if (!this.latched) {
      // Symmetric RTP: answer where the packets come from, not where the SDP said (NAT).
      this.latched = true;
      this.remoteAddress = from.address;
      this.remotePort = from.port;
    }
    this.accept(packet, start);
  };

  /** A piped leg's incoming packet (already decrypted RTP); the leg may rewrite it. */
  deliver(packet: Buffer): void {
    if (!this.pipe || this.closing) return;
    const start = rtpPayloadOffset(packet);
    if (start < 0) {
      if (this.packetsMalformed++ === 0) this.firstDrop('malformed', { bytes: packet.length });
      return;
    }
    this.accept(packet, start);
  }

  private accept(packet: Buffer, start: number): void {
    const payloadType = packet[1]! & 0x7f;
    const codec = this.receiveCodecs[payloadType]!;
    const isDtmf = codec === null && payloadType === this.dtmfPayloadType;
    if (codec === null && !isDtmf) {
      if (this.codec === null) {
        if (this.packetsBeforeNegotiation++ === 0) this.firstDrop('beforeNegotiation', { payloadType });
      } else if (this.packetsUnknownPayloadType++ === 0) {
        this.firstDrop('unknownPayloadType', { payloadType, expected: this.listedPayloadTypes() });
      }
      return;
    }
    const now = Date.now();
    this.packetsIn++;
    this.bytesIn += packet.length;
    this.lastPacketAt = now;
    this.reception.packet((packet[2]! << 8) | packet[3]!, readUint32(packet, 8));
    const end = rtpPayloadEnd(packet);
    if (isDtmf) {
      const digit = this.dtmfReceiver.receive(readUint32(packet, 4), readUint32(packet, 8), packet.subarray(start, end));
      if (digit !== null) this.dtmfListeners.emit(digit);
      this.bridgeSink?.(packet, start, end, true, this.codec!);
      return;
    }
    this.reception.audio(readUint32(packet, 4), now);
    this.bridgeSink?.(packet, start, end, false, codec);
  }

  /** The first drop of each reason is logged (with what it was); the rest are only counted. */
  private firstDrop(reason: RtpDropReason, detail: Record<string, unknown>): void {
    this.logger.warn({ leg: this.id, reason, ...detail }, `RTP leg ${this.id}: ${DROP_MESSAGES[reason]}; further such packets are dropped and counted`);
  }

  /** Closing a leg that dropped packets says how many, once, so a silent call's cause is in the log. */
  private logDropsOnClose(): void {
    const dropped = this.packetsMalformed + this.packetsIgnored + this.packetsUnknownPayloadType + this.packetsBeforeNegotiation;
    if (dropped === 0) return;
    this.logger.warn(
      {
        leg: this.id,
        malformed: this.packetsMalformed,
        wrongSource: this.packetsIgnored,
        unknownPayloadType: this.packetsUnknownPayloadType,
        beforeNegotiation: this.packetsBeforeNegotiation,
        accepted: this.packetsIn,
      },
      `RTP leg ${this.id} closed having dropped ${dropped} packets`,
    );
  }

  private listedPayloadTypes(): number[] {
    const listed: number[] = [];
    this.receiveCodecs.forEach((codec, payloadType) => codec && listed.push(payloadType));
    if (this.dtmfPayloadType >= 0) listed.push(this.dtmfPayloadType);
    return listed;
  }
}

const DROP_MESSAGES: Record<RtpDropReason, string> = {
  malformed: 'dropping a datagram that is not RTP version 2',
  wrongSource: 'dropping RTP from a source other than the peer it latched to',
  unknownPayloadType: "dropping RTP with a payload type the peer's SDP did not list",
  beforeNegotiation: "dropping RTP that came before the peer's SDP",
};

function checkPayloadType(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 127) throw new Error(`bad ${what} ${value} (expected 0-127)`);
}
