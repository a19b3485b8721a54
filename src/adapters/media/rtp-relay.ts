import { decodeTable, transcodeInPlace, transcodeTable } from './g711.ts';
import { readUint32, writeUint32 } from './rtp-packet.ts';
import type { SampleQueue } from './sample-queue.ts';
import type { Codec } from './sdp.ts';
import type { UdpRtpLeg } from './udp-rtp-leg.ts';

/**
 * One direction of a bridge: packets received on `from` go out on `to`. The datagram is rewritten in
 * place: payload type, and sequence number / timestamp / SSRC moved onto `to`'s own stream (so the phone
 * sees one continuous stream across prompts and bridges). The payload is untouched when it is in the law
 * `to` sends, else mapped byte by byte between mu-law and A-law: per packet, since a peer may send either
 * law it listed. Decoded only when recording.
 */
export class RtpRelay {
  private readonly from: UdpRtpLeg;
  private readonly to: UdpRtpLeg;
  private record: SampleQueue | null;
  private sourceSsrc = -1;
  private sequenceOffset = 0;
  private timestampOffset = 0;

  constructor(from: UdpRtpLeg, to: UdpRtpLeg, record: SampleQueue | null) {
    this.from = from;
    this.to = to;
    this.record = record;
  }

  stopRecording(): void {
    this.record = null;
  }

  release(): void {
    this.to.sendStream.release(this);
  }

  readonly forward = (packet: Buffer, payloadStart: number, payloadEnd: number, isDtmf: boolean, fromCodec: Codec): void => {
    const from = this.from;
    const to = this.to;
    if (!isDtmf && this.record) this.record.pushCoded(packet, payloadStart, payloadEnd, decodeTable(fromCodec));
    const payloadType = isDtmf ? to.dtmfPayloadType : to.payloadType;
    // The other side has no peer yet, or cannot take DTMF in RTP: nothing to send.
    if (payloadType < 0 || to.codec === null) return;
    if (!isDtmf && to.codec !== fromCodec) transcodeInPlace(transcodeTable(fromCodec, to.codec), packet, payloadStart, payloadEnd);

    const stream = to.sendStream;
    const sequenceNumber = (packet[2]! << 8) | packet[3]!;
    const timestamp = readUint32(packet, 4);
    const ssrc = readUint32(packet, 8);
    let marker = packet[1]! & 0x80;
    if (stream.claim(this) || ssrc !== this.sourceSsrc) {
      // A new talkspurt on the outgoing stream: map the source's numbering onto it from here on.
      this.sourceSsrc = ssrc;
      this.timestampOffset = (stream.talkspurtTimestamp(from.lastPacketAt ?? Date.now()) - timestamp) >>> 0;
      this.sequenceOffset = (stream.sequenceNumber + 1 - sequenceNumber) & 0xffff;
      marker = 0x80;
    }
    const outSequence = (sequenceNumber + this.sequenceOffset) & 0xffff;
    const outTimestamp = (timestamp + this.timestampOffset) >>> 0;
    packet[1] = marker | payloadType;
    packet[2] = outSequence >>> 8;
    packet[3] = outSequence & 0xff;
    writeUint32(packet, 4, outTimestamp);
    writeUint32(packet, 8, stream.ssrc);
    stream.sequenceNumber = outSequence;
    stream.timestamp = outTimestamp;
    to.sendPacket(packet);
  };
}
