// The server end of one browser softphone: a werift peer connection that answers the browser's complete
// (non-trickle) offer as ICE-lite with a host candidate on Kefu's public address, DTLS-SRTP, and one audio
// track in G.711. Kefu never transcodes Opus: an offer without PCMU or PCMA is refused.
import { isIPv6 } from 'node:net';
import { RTCPeerConnection, RTCRtpCodecParameters, type RTCRtpTransceiver } from 'werift';
import type { Codec } from '../media/sdp.ts';
import { iceGatheringComplete } from './ice-gathering.ts';

export class SoftphoneOfferError extends Error {}

export interface SoftphonePeerOptions {
  /** The address browsers reach Kefu at (the ICE host candidate), KEFU_SIP_PUBLIC_ADDRESS. */
  publicAddress: string;
  /** The address the ICE socket binds to, KEFU_SIP_BIND ('0.0.0.0' = any). */
  bindAddress: string;
  /** UDP ports for ICE (none: an ephemeral port). */
  portRange?: [number, number];
}

export type PeerState = 'connecting' | 'connected' | 'gone';

/** The G.711 codec Kefu answers with: PCMU when offered, else PCMA, with the browser's payload type. */
export function chooseCodec(offerSdp: string): { codec: Codec; payloadType: number } {
  const audio = offerSdp.split(/\r?\n(?=m=)/).filter((section) => section.startsWith('m=audio'));
  if (audio.length !== 1) throw new SoftphoneOfferError('the offer must have exactly one audio m-line');
  const offered = new Map<Codec, number>();
  for (const m of audio[0]!.matchAll(/^a=rtpmap:(\d+) (PCMU|PCMA)\/8000/gim)) {
    const codec = m[2]!.toUpperCase() as Codec;
    if (!offered.has(codec)) offered.set(codec, Number(m[1]));
  }
  for (const codec of ['PCMU', 'PCMA'] as const) {
    const payloadType = offered.get(codec);
    if (payloadType !== undefined) return { codec, payloadType };
  }
  throw new SoftphoneOfferError('the softphone must offer PCMU or PCMA (Kefu does not transcode Opus)');
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** Only the public address's candidates: werift also gathers per interface, which browsers cannot all reach. */
function keepCandidates(sdp: string, address: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || line.split(' ')[4] === address)
    .join('\r\n');
}

export class SoftphonePeer {
  readonly codec: Codec;
  readonly payloadType: number;
  readonly answerSdp: string;
  /** Date.now() of the last RTP packet from the browser. */
  lastRtpAt = Date.now();
  private readonly pc: RTCPeerConnection;
  private readonly transceiver: RTCRtpTransceiver;
  private receiver: ((packet: Buffer) => void) | null = null;
  private readonly goneListeners = new Set<(why: string) => void>();
  private state: PeerState = 'connecting';

  private constructor(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver, codec: { codec: Codec; payloadType: number }, answerSdp: string) {
    this.pc = pc;
    this.transceiver = transceiver;
    this.codec = codec.codec;
    this.payloadType = codec.payloadType;
    this.answerSdp = answerSdp;
  }

  /** Answers a complete offer; resolves once the answer (with its candidate) is ready. */
  static async answer(offerSdp: string, o: SoftphonePeerOptions): Promise<SoftphonePeer> {
    const chosen = chooseCodec(offerSdp);
    const v6 = isIPv6(o.publicAddress);
    const pc = new RTCPeerConnection({
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: `audio/${chosen.codec}`, clockRate: 8000, channels: 1, payloadType: chosen.payloadType })],
      },
      headerExtensions: { audio: [] },
      iceLite: true,
      // No interface scan: one host candidate, on the address the SDP of Kefu's SIP legs carries too.
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceUseTcp: false,
      iceAdditionalHostAddresses: [o.publicAddress],
      ...(isWildcard(o.bindAddress) ? {} : { iceInterfaceAddresses: v6 ? { udp6: o.bindAddress } : { udp4: o.bindAddress } }),
      ...(o.portRange ? { icePortRange: o.portRange } : {}),
    });
    // The remote track appears during setRemoteDescription: catch its RTP from the start.
    let onRtp: (packet: Buffer) => void = () => undefined;
    pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => onRtp(rtp.serialize())));
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      const transceiver = pc.getTransceivers().find((t) => t.kind === 'audio');
      if (!transceiver) throw new SoftphoneOfferError('the offer has no audio');
      transceiver.setDirection('sendrecv');
      await pc.setLocalDescription(await pc.createAnswer());
      await iceGatheringComplete(pc);
      const sdp = keepCandidates(pc.localDescription!.sdp, o.publicAddress);
      const peer = new SoftphonePeer(pc, transceiver, chosen, sdp);
      onRtp = (packet) => {
        peer.lastRtpAt = Date.now();
        peer.receiver?.(packet);
      };
      peer.listen();
      return peer;
    } catch (err) {
      await pc.close().catch(() => undefined);
      if (err instanceof SoftphoneOfferError) throw err;
      throw new SoftphoneOfferError(`the offer cannot be answered: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private listen(): void {
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && this.state === 'connecting') this.state = 'connected';
      if (state === 'failed' || state === 'closed') this.vanish(`connection ${state}`);
    });
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Where the browser's RTP goes (decrypted, one packet per call); null drops it. */
  onRtp(receiver: ((packet: Buffer) => void) | null): void {
    this.receiver = receiver;
  }

  /** Sends one RTP packet to the browser (dropped until DTLS is up). */
  send(packet: Uint8Array): void {
    if (this.state !== 'connected') return;
    const buffer = Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    void this.transceiver.sender.sendRtp(buffer).catch(() => undefined);
  }

  /** Called once when the connection fails or closes (not when close() is called here). */
  onGone(listener: (why: string) => void): () => void {
    this.goneListeners.add(listener);
    return () => this.goneListeners.delete(listener);
  }

  private vanish(why: string): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    for (const listener of this.goneListeners) listener(why);
    this.goneListeners.clear();
  }

  async close(): Promise<void> {
    this.goneListeners.clear();
    this.state = 'gone';
    this.receiver = null;
    await this.pc.close().catch(() => undefined);
  }
}
