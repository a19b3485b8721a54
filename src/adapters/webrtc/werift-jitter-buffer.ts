// werift's recorder (MediaRecorder) puts each video track through its JitterBufferBase. After a lost packet
// its sortAndClearBuffer walks sequence numbers one by one from the present one until the buffer is empty,
// counting the buffer (Object.values) at every step; a packet that stays in the buffer behind the present
// sequence number (werift leaves the newest packet of a timed-out gap there) makes that walk go round all
// 65,536 numbers: milliseconds of Kefu's event loop per lost packet and per recorded video, so that some loss
// on a loaded machine brought more (the AV bench: 5 calls, 34 % loss; most of Kefu's time in this function).
// Replaced here by the same result (the buffer's packets in sequence order from the present number on,
// wrapping at 65,536, the buffer emptied) from one sort of the buffer's keys. Imported for its effect.
import { JitterBufferBase } from 'werift/nonstandard';

interface Packet {
  header: { sequenceNumber: number };
}

interface JitterBufferInternals {
  presentSeqNum?: number;
  sortAndClearBuffer(buffer: Record<number, Packet>): Packet[];
}

/** The packets of `buffer` ordered by their distance (mod 2^16) from `present`; `buffer` is emptied. */
export function sortAndClearJitterBuffer(present: number, buffer: Record<number, Packet>): Packet[] {
  const keys = Object.keys(buffer)
    .map(Number)
    .sort((a, b) => ((a - present) & 0xffff) - ((b - present) & 0xffff));
  const out: Packet[] = [];
  for (const k of keys) {
    out.push(buffer[k]!);
    delete buffer[k];
  }
  return out;
}

const proto = JitterBufferBase.prototype as unknown as JitterBufferInternals;
if (typeof proto.sortAndClearBuffer !== 'function') throw new Error("werift's JitterBufferBase has no sortAndClearBuffer: check werift-jitter-buffer.ts against the werift version");
proto.sortAndClearBuffer = function sortAndClearBuffer(this: JitterBufferInternals, buffer: Record<number, Packet>): Packet[] {
  return sortAndClearJitterBuffer(this.presentSeqNum ?? 0, buffer);
};
