// Messages between the main thread and the AV recording worker threads (av-recording-threads.ts,
// av-recording-worker.ts). RTP goes over in batches: one transferred ArrayBuffer holds many packets, each as
// a fixed head (recording, track, marker and payload type, sequence number, timestamp, SSRC, payload length)
// and its payload, so that a packet costs the main thread one copy of its payload and no message of its own.

export interface RecordedTrack {
  kind: 'audio' | 'video';
  /** werift's codec name: opus, VP8 or H264. */
  codec: string;
  payloadType: number;
}

export type ToRecorder =
  | { op: 'start'; id: number; path: string; tracks: RecordedTrack[]; width: number; height: number }
  | { op: 'rtp'; buffer: ArrayBuffer; length: number }
  | { op: 'stop'; id: number; timeoutMs: number };

export type FromRecorder =
  | { ev: 'stopped'; id: number; bytes: number; complete: boolean }
  | { ev: 'error'; id: number; message: string };

/** Bytes before each packet's payload in a batch. */
export const PACKET_HEAD = 18;

/**
 * Writes one packet at `at` of `view`/`bytes` (the caller checked the room: PACKET_HEAD + payload length);
 * returns the offset after it.
 */
export function writePacket(view: DataView, bytes: Uint8Array, at: number, id: number, track: number, marker: boolean, payloadType: number, sequenceNumber: number, timestamp: number, ssrc: number, payload: Uint8Array): number {
  view.setUint32(at, id);
  view.setUint8(at + 4, track);
  view.setUint8(at + 5, (marker ? 0x80 : 0) | (payloadType & 0x7f));
  view.setUint16(at + 6, sequenceNumber);
  view.setUint32(at + 8, timestamp);
  view.setUint32(at + 12, ssrc);
  view.setUint16(at + 16, payload.length);
  bytes.set(payload, at + PACKET_HEAD);
  return at + PACKET_HEAD + payload.length;
}

export interface ReadPacket {
  id: number;
  track: number;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** A view of the batch (not a copy). */
  payload: Buffer;
}

/** The packets of a batch of `length` bytes, in the order written. */
export function* readPackets(buffer: ArrayBuffer, length: number): Generator<ReadPacket> {
  const view = new DataView(buffer, 0, length);
  let at = 0;
  while (at + PACKET_HEAD <= length) {
    const size = view.getUint16(at + 16);
    if (at + PACKET_HEAD + size > length) return;
    const mp = view.getUint8(at + 5);
    yield {
      id: view.getUint32(at),
      track: view.getUint8(at + 4),
      marker: (mp & 0x80) !== 0,
      payloadType: mp & 0x7f,
      sequenceNumber: view.getUint16(at + 6),
      timestamp: view.getUint32(at + 8),
      ssrc: view.getUint32(at + 12),
      payload: Buffer.from(buffer, at + PACKET_HEAD, size),
    };
    at += PACKET_HEAD + size;
  }
}

/** The 8-byte EBML size (a vint of length 8) of `size` bytes, for an element written with an unknown size. */
export function ebmlSize8(size: number): Uint8Array {
  const out = new Uint8Array(8);
  out[0] = 0x01;
  let v = size;
  for (let i = 7; i >= 1; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}
