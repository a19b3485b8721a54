import type { Codec, MediaFormat } from './sdp.ts';

/** Where RTP goes to or comes from. */
export interface MediaEndpoint {
  address: string;
  port: number;
}

/** One prompt being played on a leg. */
export interface Playback {
  /** 'finished' when the last frame went out, 'stopped' when stopped early (stop(), a new play(), a bridge, close). */
  readonly done: Promise<'finished' | 'stopped'>;
  stop(): void;
}

export interface RtpLegStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  lastPacketAt: number | null;
  /** Datagrams that were not RTP version 2 (dropped). */
  packetsMalformed?: number;
  /** RTP from another source than the one the leg latched to (dropped). */
  packetsIgnored?: number;
  /** RTP with a payload type the peer did not list in its SDP (dropped). */
  packetsUnknownPayloadType?: number;
  /** RTP that came before the leg knew the peer's formats (dropped: early media before the answer). */
  packetsBeforeNegotiation?: number;
  /** Date.now() of the last audio packet accepted (DTMF not counted). */
  lastAudioAt?: number | null;
  /** Packets the peer sent that never came, from the RTP sequence numbers (RFC 3550 A.3), over every source it used. */
  packetsLost?: number;
  /** RFC 3550 interarrival jitter of the audio received, in milliseconds. */
  jitterMs?: number;
  /** Time without audio received while the leg was bridged, counting only gaps of a second or more (ms). */
  silentMs?: number;
}

/** Why a leg dropped a packet, as counted in its stats. */
export type RtpDropReason = 'malformed' | 'wrongSource' | 'unknownPayloadType' | 'beforeNegotiation';

/** One RTP stream with one peer (a phone, a trunk): a UDP socket plus what it knows about the other end. */
export interface RtpLeg {
  readonly id: string;
  /** Where the peer must send RTP (address = the configured public/SDP address). */
  readonly local: MediaEndpoint;
  /**
   * Where to send, from the peer's SDP. With symmetric RTP the leg latches to the source address of the first
   * packet it receives (phones behind NAT). `codec`/`payloadType` is what the leg sends; `alsoReceive` lists the
   * other G.711 formats the peer named in its SDP: packets in them are accepted (a bridge converts the law).
   */
  setRemote(remote: MediaEndpoint, codec: Codec, payloadType: number, dtmfPayloadType: number | null, alsoReceive?: readonly MediaFormat[]): void;
  /** RFC 4733 telephone-event, one call per key press. Returns an unsubscribe function. */
  onDtmf(listener: (digit: string) => void): () => void;
  /** Inject a digit that came by SIP INFO, so listeners see one stream of digits. */
  injectDtmf(digit: string): void;
  /** 8 kHz mono PCM16, sent as 20 ms frames (160 samples) paced by a timer; a new play() stops the previous one. */
  play(audio: Int16Array, options?: { loop?: boolean }): Playback;
  stopPlayback(): void;
  /** Sends one RFC 4733 key press (start, updates, three end packets). */
  sendDtmf?(digit: string, durationMs?: number): Promise<void>;
  stats(): RtpLegStats;
  close(): Promise<void>;
}

export interface RecordingResult {
  durationMs: number;
  bytes: number;
}

export interface Recording {
  readonly path: string;
  stop(): Promise<RecordingResult>;
}

export interface Bridge {
  readonly recording: Recording | null;
  stop(): Promise<RecordingResult | null>;
  /** Hold: stop relaying both ways; the recording goes on (silence on both channels). Optional for wrappers; the UDP engine has it. */
  pause?(): void;
  /** Relay again after pause(). */
  resume?(): void;
}

/** A leg whose network side is a callback (a WebRTC track): `deliver` hands it one received RTP packet. */
export interface PipedLeg {
  leg: RtpLeg;
  deliver(rtpPacket: Buffer): void;
}

export interface OpenLegOptions {
  /**
   * Legs that may be bridged together share a group (a call's contact id): an engine that spreads media over
   * threads keeps a group's legs in one thread. Engines on one thread ignore it.
   */
  group?: string;
}

/** A media engine that can also count its legs and their packets (monitoring, benches, tests). */
export interface MonitoredMediaEngine extends MediaEngine {
  readonly openLegs: number;
  /** Each open leg's counters by leg id (an engine on worker threads reports them at most a second late). */
  legStats(): { id: string; stats: RtpLegStats }[];
}

export interface MediaEngine {
  /** Binds a UDP socket on an even port from the configured range. */
  openLeg(label?: string, options?: OpenLegOptions): Promise<RtpLeg>;
  /** A leg with no socket: it sends through `send` and receives what deliver() is given (no latching). */
  openPipedLeg(label: string, send: (rtpPacket: Uint8Array) => void, options?: OpenLegOptions): Promise<PipedLeg>;
  /**
   * Relay audio both ways between two legs (stops any playback on them). With recordTo, writes a two-channel
   * 16-bit 8 kHz WAV: left = audio received on `a` (the customer), right = audio received on `b` (the agent),
   * aligned on the wall clock (a missing 20 ms frame is silence), so the file length matches the talk time.
   * Transcodes when the legs use different codecs; passes payload through when equal.
   */
  bridge(a: RtpLeg, b: RtpLeg, options?: { recordTo?: string }): Bridge;
  close(): Promise<void>;
}
