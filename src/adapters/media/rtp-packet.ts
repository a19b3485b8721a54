/** RTP packets (RFC 3550): the fixed 12-byte header, CSRCs, header extension and padding. */

export const RTP_HEADER_SIZE = 12;

export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
}

export interface RtpPacket extends RtpHeader {
  payload: Uint8Array;
}

/**
 * Where the payload starts, or -1 when the bytes are not an RTP version 2 packet (too short, CSRCs,
 * extension or padding running past the end). The relay's hot path uses this instead of parseRtpPacket.
 */
export function rtpPayloadOffset(bytes: Uint8Array): number {
  const length = bytes.length;
  if (length < RTP_HEADER_SIZE) return -1;
  const first = bytes[0]!;
  if (first >> 6 !== 2) return -1;
  let offset = RTP_HEADER_SIZE + (first & 0x0f) * 4;
  if (first & 0x10) {
    if (offset + 4 > length) return -1;
    offset += 4 + ((bytes[offset + 2]! << 8) | bytes[offset + 3]!) * 4;
  }
  if (offset > rtpPayloadEnd(bytes)) return -1;
  return offset;
}

/** Where the payload ends: the packet length minus any padding. */
export function rtpPayloadEnd(bytes: Uint8Array): number {
  if (bytes[0]! & 0x20) return bytes.length - bytes[bytes.length - 1]!;
  return bytes.length;
}

/** Parses a packet; null when malformed (the caller drops it). The payload is a view into `bytes`. */
export function parseRtpPacket(bytes: Uint8Array): RtpPacket | null {
  const offset = rtpPayloadOffset(bytes);
  if (offset < 0) return null;
  return {
    marker: (bytes[1]! & 0x80) !== 0,
    payloadType: bytes[1]! & 0x7f,
    sequenceNumber: (bytes[2]! << 8) | bytes[3]!,
    timestamp: readUint32(bytes, 4),
    ssrc: readUint32(bytes, 8),
    payload: bytes.subarray(offset, rtpPayloadEnd(bytes)),
  };
}

/** A packet with a plain 12-byte header (no CSRC, extension or padding). */
export function serializeRtpPacket(packet: RtpPacket): Uint8Array {
  const bytes = new Uint8Array(RTP_HEADER_SIZE + packet.payload.length);
  writeRtpHeader(bytes, packet);
  bytes.set(packet.payload, RTP_HEADER_SIZE);
  return bytes;
}

/** Writes version 2, no padding/extension/CSRC, and the given fields into the first 12 bytes. */
export function writeRtpHeader(bytes: Uint8Array, header: RtpHeader): void {
  writeRtpHeaderFields(bytes, header.marker, header.payloadType, header.sequenceNumber, header.timestamp, header.ssrc);
}

/** writeRtpHeader without the object, for the per-packet paths. */
export function writeRtpHeaderFields(bytes: Uint8Array, marker: boolean, payloadType: number, sequenceNumber: number, timestamp: number, ssrc: number): void {
  bytes[0] = 0x80;
  bytes[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  bytes[2] = (sequenceNumber >>> 8) & 0xff;
  bytes[3] = sequenceNumber & 0xff;
  writeUint32(bytes, 4, timestamp);
  writeUint32(bytes, 8, ssrc);
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

export function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 24) & 0xff;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}
