// One browser's end of an audio/video call (issue 14): a werift peer connection that answers the browser's
// complete (non-trickle) offer as ICE-lite with one host candidate on Kefu's public address, DTLS-SRTP, Opus
// audio and, when offered, VP8 or H264 video. Kefu never decodes: what the browser sends comes out of
// `tracks` as RTP, and `send` puts RTP from the other party on this browser's senders (werift rewrites SSRC,
// payload type, sequence numbers and timestamps, and answers the browser's NACKs from its send history).
import { isIPv6 } from 'node:net';
import { RTCPeerConnection, RTCRtpCodecParameters, useNACK, usePLI, type MediaStreamTrack, type RTCRtpTransceiver, type RtpPacket } from 'werift';
import { AvOfferError, checkAvOffer, defaultAvOfferLimits, type AvOffer, type AvOfferLimits, type AvVideoCodec } from './av-offer.ts';
import type { AvGoneCause } from './av-media.ts';
import { iceGatheringComplete } from './ice-gathering.ts';
import { forwardRtp, lightenEvent, lightenPeerEvents } from './werift-rtp-fast-path.ts';

export type AvKind = 'audio' | 'video';

export interface AvPeerOptions {
  /** The address browsers reach Kefu at (the ICE host candidate). */
  publicAddress: string;
  /** The address the ICE socket binds to ('0.0.0.0' = any). */
  bindAddress: string;
  /** UDP ports for ICE (none: an ephemeral port). */
  portRange?: [number, number];
  limits?: AvOfferLimits;
}

const ccmFir = { type: 'ccm', parameter: 'fir' };
/** Longest an answer may take (werift answers a good offer in milliseconds; ICE-lite gathers only host candidates). */
const answerTimeoutMs = 10_000;

function videoCodec(codec: AvVideoCodec): RTCRtpCodecParameters {
  // Payload types are the browser's (werift answers with the offer's numbers); these are only placeholders.
  return codec === 'VP8'
    ? new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [useNACK(), usePLI(), ccmFir] })
    : new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [useNACK(), usePLI(), ccmFir], parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' });
}

/** Only the public address's candidates: werift gathers per interface too, which browsers cannot all reach. */
function keepCandidates(sdp: string, address: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || line.split(' ')[4] === address)
    .join('\r\n');
}

export class AvPeer {
  /** The browser's latest offer (a renegotiation replaces it). */
  offer: AvOffer;
  /** The video codec negotiated, or null while the call has no video on this side (a renegotiation can add it). */
  videoCodec: AvVideoCodec | null;
  /** Kefu's latest answer. */
  answerSdp: string;
  /** The codec of a video m-line kept inactive (answer's reserveVideo) until a renegotiation turns it on. */
  reservedVideoCodec: AvVideoCodec | null = null;
  private readonly publicAddress: string;
  /** Date.now() of the last RTP packet from the browser (or of the answer, before any). */
  lastRtpAt = Date.now();
  /** RTP packets received from the browser, per kind. */
  readonly received: Record<AvKind, number> = { audio: 0, video: 0 };
  /** The SSRC the browser sends each kind with, from its RTP (the SDP need not name it). */
  private readonly remoteSsrc = new Map<AvKind, number>();
  readonly pc: RTCPeerConnection;
  private readonly transceivers = new Map<AvKind, RTCRtpTransceiver>();
  readonly tracks = new Map<AvKind, MediaStreamTrack>();
  private readonly rtpListeners = new Set<(kind: AvKind, rtp: RtpPacket) => void>();
  private readonly goneListeners = new Set<(why: string, cause: AvGoneCause) => void>();
  private readonly keyframeListeners = new Set<() => void>();
  private state: 'connecting' | 'connected' | 'gone' = 'connecting';
  private readonly connectedWaiters: (() => void)[] = [];

  private readonly limits: AvOfferLimits;
  private renegotiating: Promise<unknown> = Promise.resolve();
  private readonly keyframeWatched = new Set<RTCRtpTransceiver>();

  private constructor(pc: RTCPeerConnection, offer: AvOffer, videoCodec: AvVideoCodec | null, answerSdp: string, o: AvPeerOptions) {
    this.pc = pc;
    this.offer = offer;
    this.videoCodec = videoCodec;
    this.answerSdp = answerSdp;
    this.publicAddress = o.publicAddress;
    this.limits = o.limits ?? defaultAvOfferLimits;
  }

  /**
   * Answers a complete offer; resolves once the answer (with its candidate) is ready. `video`: the video
   * codec this peer must use (the other party's); null: no video (the other party's call is audio only);
   * absent: the best one offered. `reserveVideo` (with null): the offer's video m-line is kept, inactive, with
   * the best codec offered, so that a renegotiation can turn it on (a rejected m-line would be stopped).
   */
  static async answer(offerSdp: string, o: AvPeerOptions, video?: AvVideoCodec | null, reserveVideo = false): Promise<AvPeer> {
    const offer = checkAvOffer(offerSdp, o.limits ?? defaultAvOfferLimits);
    let chosen: AvVideoCodec | null = null;
    if (offer.video && video !== null) {
      if (video && !offer.videoCodecs.includes(video)) throw new AvOfferError(`the other party's video is ${video}; this offer has only ${offer.videoCodecs.join(', ')} (Kefu does not transcode)`);
      chosen = video ?? offer.videoCodecs[0]!;
    }
    const reserved: AvVideoCodec | null = offer.video && video === null && reserveVideo ? offer.videoCodecs[0]! : null;
    const v6 = isIPv6(o.publicAddress);
    const wildcard = o.bindAddress === '0.0.0.0' || o.bindAddress === '::';
    const pc = new RTCPeerConnection({
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
        video: chosen || reserved ? [videoCodec((chosen ?? reserved)!)] : [],
      },
      // No header extensions: the two browsers' extension ids differ and Kefu forwards packets between them.
      headerExtensions: { audio: [], video: [] },
      iceLite: true,
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceUseTcp: false,
      iceAdditionalHostAddresses: [o.publicAddress],
      ...(wildcard ? {} : { iceInterfaceAddresses: v6 ? { udp6: o.bindAddress } : { udp4: o.bindAddress } }),
      ...(o.portRange ? { icePortRange: o.portRange } : {}),
    });
    let peer: AvPeer | null = null;
    const early: [AvKind, MediaStreamTrack][] = [];
    pc.onTrack.subscribe((track) => {
      const kind = track.kind as AvKind;
      if (peer) peer.takeTrack(kind, track);
      else early.push([kind, track]);
    });
    let deadline: NodeJS.Timeout | undefined;
    try {
      // Bounded: an offer werift takes but never finishes answering (ICE gathering that never completes) must not
      // hold the request and the peer's socket for ever.
      await Promise.race([
        (async () => {
          await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
          for (const t of pc.getTransceivers()) {
            if (t.kind === 'audio' || (t.kind === 'video' && chosen)) t.setDirection('sendrecv');
            else t.setDirection('inactive');
          }
          await pc.setLocalDescription(await pc.createAnswer());
          await iceGatheringComplete(pc);
        })(),
        new Promise<never>((_, reject) => (deadline = setTimeout(() => reject(new AvOfferError('the offer could not be answered in time')), answerTimeoutMs))),
      ]);
      clearTimeout(deadline);
      peer = new AvPeer(pc, offer, chosen, keepCandidates(pc.localDescription!.sdp, o.publicAddress), o);
      peer.reservedVideoCodec = reserved;
      peer.takeTransceivers();
      for (const [kind, track] of early) peer.takeTrack(kind, track);
      peer.listen();
      lightenPeerEvents(pc);
      return peer;
    } catch (err) {
      clearTimeout(deadline);
      await pc.close().catch(() => undefined);
      if (err instanceof AvOfferError) throw err;
      throw new AvOfferError(`the offer cannot be answered: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private takeTransceivers(): void {
    for (const t of this.pc.getTransceivers()) if ((t.kind === 'audio' || t.kind === 'video') && t.direction === 'sendrecv' && !this.transceivers.has(t.kind)) this.transceivers.set(t.kind, t);
  }

  /**
   * A new offer from the browser on the same connection (renegotiation), e.g. an audio call becoming a video
   * call: checked as a first offer is; answered on the same ICE and DTLS transport (no restart). `video`: the
   * codec this side must use (the other party's), null: no video, absent: the best one offered. The video
   * codec cannot change once negotiated (Kefu does not transcode). Resolves to Kefu's answer.
   */
  renegotiate(offerSdp: string, video?: AvVideoCodec | null): Promise<string> {
    const run = this.renegotiating.then(() => this.answerAgain(offerSdp, video));
    this.renegotiating = run.catch(() => undefined);
    return run;
  }

  private async answerAgain(offerSdp: string, video?: AvVideoCodec | null): Promise<string> {
    if (this.state === 'gone') throw new AvOfferError('the call has ended');
    if (this.pc.signalingState !== 'stable') throw new AvOfferError('a renegotiation is already in progress');
    const offer = checkAvOffer(offerSdp, this.limits);
    let chosen: AvVideoCodec | null = this.videoCodec;
    if (offer.video && video !== null && chosen === null) {
      if (video && !offer.videoCodecs.includes(video)) throw new AvOfferError(`the other party's video is ${video}; this offer has only ${offer.videoCodecs.join(', ')} (Kefu does not transcode)`);
      chosen = video ?? this.reservedVideoCodec ?? offer.videoCodecs[0]!;
      if (this.reservedVideoCodec && chosen !== this.reservedVideoCodec) throw new AvOfferError(`this side's video was negotiated as ${this.reservedVideoCodec}; the other party's is ${chosen} (Kefu does not transcode)`);
    }
    if (offer.video && chosen !== null && !offer.videoCodecs.includes(chosen)) throw new AvOfferError(`this call's video is ${chosen}; the new offer has only ${offer.videoCodecs.join(', ')}`);
    // The codecs the transceivers negotiate come from the configuration: video joins it when it starts.
    const codecs = (this.pc.config as { codecs: { video?: RTCRtpCodecParameters[] } }).codecs;
    if (chosen && offer.video && (codecs.video ?? []).length === 0) codecs.video = [videoCodec(chosen)];
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      for (const t of this.pc.getTransceivers()) {
        if (t.kind === 'audio' || (t.kind === 'video' && chosen && offer.video)) {
          if (t.direction !== 'sendrecv') t.setDirection('sendrecv');
        } else if (t.direction !== 'inactive') t.setDirection('inactive');
      }
      await this.pc.setLocalDescription(await this.pc.createAnswer());
    } catch (err) {
      throw new AvOfferError(`the new offer cannot be answered: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.offer = offer;
    if (offer.video && chosen) {
      this.videoCodec = chosen;
      this.reservedVideoCodec = null;
    }
    this.takeTransceivers();
    this.watchKeyframes();
    lightenPeerEvents(this.pc);
    this.answerSdp = keepCandidates(this.pc.localDescription!.sdp, this.publicAddress);
    return this.answerSdp;
  }

  private takeTrack(kind: AvKind, track: MediaStreamTrack): void {
    if (this.tracks.has(kind)) return;
    this.tracks.set(kind, track);
    lightenEvent(track.onReceiveRtp);
    track.onReceiveRtp.subscribe((rtp) => {
      this.lastRtpAt = Date.now();
      this.received[kind]++;
      this.remoteSsrc.set(kind, rtp.header.ssrc);
      for (const listener of this.rtpListeners) listener(kind, rtp);
    });
  }

  private listen(): void {
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && this.state === 'connecting') {
        this.state = 'connected';
        this.lastRtpAt = Date.now();
        for (const w of this.connectedWaiters.splice(0)) w();
      }
      if (state === 'failed' || state === 'closed') this.vanish(`connection ${state}`);
    });
    this.watchKeyframes();
  }

  /** The browser watching this peer's video lost a picture: ask whoever feeds it for a keyframe. */
  private watchKeyframes(): void {
    const video = this.transceivers.get('video');
    if (video && !this.keyframeWatched.has(video)) {
      this.keyframeWatched.add(video);
      // werift routes payload-specific feedback by its sender SSRC first, which browsers set to one of their
      // own streams: a PLI about this sender's video can land on the receiver. Watch both; PLI (FMT 1) for
      // this sender's SSRC, or FIR (FMT 4, werift's sender handles PLI only).
      const keyframeAsked = (rtcp: unknown) => {
        const r = rtcp as { type?: number; feedback?: { count?: number; mediaSsrc?: number } };
        if (r.type !== 206) return;
        if (r.feedback?.count === 4 || (r.feedback?.count === 1 && r.feedback.mediaSsrc === video.sender.ssrc)) this.wantKeyframe();
      };
      video.sender.onRtcp.subscribe(keyframeAsked);
      video.receiver.onRtcp.subscribe(keyframeAsked);
    }
  }

  private wantKeyframe(): void {
    for (const listener of this.keyframeListeners) listener();
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  get gone(): boolean {
    return this.state === 'gone';
  }

  /** Resolves when DTLS is up (at once if it is). */
  whenConnected(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  /** Each RTP packet from the browser (decrypted), with its kind; returns the unsubscribe. */
  onRtp(listener: (kind: AvKind, rtp: RtpPacket) => void): () => void {
    this.rtpListeners.add(listener);
    return () => this.rtpListeners.delete(listener);
  }

  /** Called when the browser receiving this peer's video asks for a keyframe (PLI or FIR). */
  onKeyframeRequest(listener: () => void): () => void {
    this.keyframeListeners.add(listener);
    return () => this.keyframeListeners.delete(listener);
  }

  /** Sends one RTP packet of `kind` to the browser (dropped until DTLS is up, or if it has no such sender). */
  send(kind: AvKind, rtp: RtpPacket): void {
    if (this.state !== 'connected') return;
    const t = this.transceivers.get(kind);
    if (!t) return;
    forwardRtp(t.sender, rtp);
  }

  /** The next packets come from another source: keep this browser's sequence numbers and timestamps continuous. */
  newSource(): void {
    for (const t of this.transceivers.values()) t.sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 }, true);
  }

  /** Asks the browser for a video keyframe (PLI), e.g. when a new party starts watching. */
  requestKeyframe(): void {
    const ssrc = this.remoteSsrc.get('video') ?? this.tracks.get('video')?.ssrc;
    const t = this.transceivers.get('video');
    if (!ssrc || !t || this.state !== 'connected') return;
    void t.receiver.sendRtcpPLI(ssrc).catch(() => undefined);
  }

  /** The browser's media of `kind` has arrived (its track and codec are known). */
  hasTrack(kind: AvKind): boolean {
    return Boolean(this.tracks.get(kind)?.codec);
  }

  /** Called once when the connection fails or closes (not when close() is called here). */
  onGone(listener: (why: string, cause: AvGoneCause) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  private vanish(why: string): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    for (const listener of this.goneListeners) listener(why, 'browser');
    this.goneListeners.clear();
  }

  async close(): Promise<void> {
    this.goneListeners.clear();
    this.rtpListeners.clear();
    this.keyframeListeners.clear();
    this.state = 'gone';
    await this.pc.close().catch(() => undefined);
  }
}
