// Whether a recording's video has had a whole keyframe (issue 14). werift's recorder writes no video before a
// keyframe, and a browser sends one when its stream starts and then only when asked (PLI): a first keyframe
// with a packet lost on the way left the WebM without video until someone asked again. KeyframeWatch follows a
// participant's video packets on the main thread (a few comparisons per packet, and none once a whole
// keyframe went by) so that the call can ask the browser for another until one has arrived whole.
// VP8: RFC 7741 (payload descriptor, then the VP8 frame header's P bit); H264: RFC 6184 (an IDR or SPS NAL unit,
// alone, in a STAP-A or at the start of an FU-A).

/** The VP8 payload descriptor's length, or -1 if the packet is too short for it. */
function vp8DescriptorLength(p: Uint8Array): number {
  if (p.length < 1) return -1;
  let at = 1;
  if (p[0]! & 0x80) {
    if (p.length < 2) return -1;
    const x = p[1]!;
    at = 2;
    if (x & 0x80) {
      if (p.length <= at) return -1;
      at += p[at]! & 0x80 ? 2 : 1;
    }
    if (x & 0x40) at += 1;
    if (x & 0x30) at += 1;
  }
  return at <= p.length ? at : -1;
}

/** The packet starts a keyframe: VP8 with S set, partition 0 and a key frame header; H264 with an IDR or SPS. */
export function startsKeyframe(codec: string, payload: Uint8Array): boolean {
  if (codec.toUpperCase() === 'VP8') {
    const at = vp8DescriptorLength(payload);
    if (at < 0 || at >= payload.length) return false;
    const startOfPartition0 = (payload[0]! & 0x10) !== 0 && (payload[0]! & 0x07) === 0;
    return startOfPartition0 && (payload[at]! & 0x01) === 0;
  }
  if (codec.toUpperCase() === 'H264') {
    if (payload.length < 2) return false;
    const type = payload[0]! & 0x1f;
    if (type === 5 || type === 7) return true;
    if (type === 28) return (payload[1]! & 0x80) !== 0 && ((payload[1]! & 0x1f) === 5 || (payload[1]! & 0x1f) === 7);
    if (type === 24) {
      for (let at = 1; at + 2 < payload.length; ) {
        const size = (payload[at]! << 8) | payload[at + 1]!;
        const nal = payload[at + 2]! & 0x1f;
        if (nal === 5 || nal === 7) return true;
        at += 2 + size;
      }
    }
  }
  return false;
}

/**
 * Follows one video stream's packets until a whole keyframe went by: its first packet, then every sequence
 * number after it without a gap up to the packet with the marker (the frame's last). Packets out of order or
 * lost in the middle restart the wait for the next keyframe.
 */
export class KeyframeWatch {
  private readonly codec: string;
  /** The next sequence number expected inside the keyframe being followed, or null when not inside one. */
  private next: number | null = null;
  private timestamp = 0;
  whole = false;

  constructor(codec: string) {
    this.codec = codec;
  }

  /** One packet of the stream; returns `whole` (true once a whole keyframe went by). */
  packet(sequenceNumber: number, timestamp: number, marker: boolean, payload: Uint8Array): boolean {
    if (this.whole) return true;
    if (startsKeyframe(this.codec, payload)) {
      this.timestamp = timestamp;
      this.next = sequenceNumber;
    }
    if (this.next === null) return false;
    if (sequenceNumber !== this.next || timestamp !== this.timestamp) {
      this.next = null;
      return false;
    }
    if (marker) {
      this.whole = true;
      return true;
    }
    this.next = (sequenceNumber + 1) & 0xffff;
    return false;
  }
}
