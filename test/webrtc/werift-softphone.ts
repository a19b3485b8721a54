// A werift peer connection standing in for an agent's browser softphone: it offers like Chromium (Opus,
// PCMU, PCMA), waits for ICE gathering, connects through connectSoftphone, sends a G.711 tone in real time
// and counts the RTP it receives.
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import { encodeG711 } from '../../src/adapters/media/g711.ts';
import { tone } from '../media/rtp-peer.ts';
import { completeOffer, peerConnected } from '../support/werift-peer.ts';

const codecs = {
  opus: () => new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 }),
  PCMU: () => new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: 0 }),
  PCMA: () => new RTCRtpCodecParameters({ mimeType: 'audio/PCMA', clockRate: 8000, channels: 1, payloadType: 8 }),
};

export type Gql = <T>(query: string, variables?: Record<string, unknown>) => Promise<T>;

export class WeriftSoftphone {
  readonly pc: RTCPeerConnection;
  private readonly track = new MediaStreamTrack({ kind: 'audio' });
  received = 0;
  receivedPayloadTypes = new Set<number>();
  private sending: NodeJS.Timeout | null = null;
  codec: 'PCMU' | 'PCMA' | null = null;

  constructor(offer: (keyof typeof codecs)[] = ['opus', 'PCMU', 'PCMA']) {
    this.pc = new RTCPeerConnection({ codecs: { audio: offer.map((c) => codecs[c]()) }, iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false });
    const transceiver = this.pc.addTransceiver(this.track, { direction: 'sendrecv' });
    transceiver.onTrack.subscribe((t) =>
      t.onReceiveRtp.subscribe((rtp) => {
        this.received++;
        this.receivedPayloadTypes.add(rtp.header.payloadType);
      }),
    );
  }

  /** The complete offer (every candidate in it), as Kefu wants it. */
  async offer(): Promise<string> {
    return completeOffer(this.pc);
  }

  /** connectSoftphone with the offer; applies Kefu's answer and waits until DTLS is up. */
  async connect(gql: Gql): Promise<{ id: string; codec: string }> {
    const r = await gql<{ connectSoftphone: { id: string; sdp: string; codec: 'PCMU' | 'PCMA' } }>('mutation($sdp: String!) { connectSoftphone(input: { sdp: $sdp }) { id sdp codec } }', {
      sdp: await this.offer(),
    });
    this.codec = r.connectSoftphone.codec;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: r.connectSoftphone.sdp });
    await peerConnected(this.pc, 10_000, 'softphone');
    return r.connectSoftphone;
  }

  /** Sends a 1000 Hz tone, 20 ms per packet, until stopped. */
  startTone(frequency = 1000): void {
    const codec = this.codec ?? 'PCMU';
    const encoded = encodeG711(codec, tone(frequency, 1));
    let seq = 0;
    this.sending = setInterval(() => {
      const frame = seq % 50;
      this.track.writeRtp(
        new RtpPacket(new RtpHeader({ payloadType: codec === 'PCMU' ? 0 : 8, sequenceNumber: seq & 0xffff, timestamp: (seq * 160) >>> 0, ssrc: 0x5eed, marker: seq === 0 }), Buffer.from(encoded.subarray(frame * 160, frame * 160 + 160))),
      );
      seq++;
    }, 20);
  }

  stopTone(): void {
    if (this.sending) clearInterval(this.sending);
    this.sending = null;
  }

  async close(): Promise<void> {
    this.stopTone();
    await this.pc.close();
  }
}
