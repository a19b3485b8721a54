/** G.711 mu-law (PCMU) and A-law (PCMA), over alawmulaw, plus 256-entry tables for the relay's hot path. */
import alawmulaw from 'alawmulaw';
import type { Codec } from './sdp.ts';

const { alaw, mulaw } = alawmulaw;

/** The byte a codec sends for digital silence. */
export const G711_SILENCE: Readonly<Record<Codec, number>> = { PCMU: 0xff, PCMA: 0xd5 };

export function encodeG711(codec: Codec, samples: Int16Array): Uint8Array {
  return codec === 'PCMU' ? mulaw.encode(samples) : alaw.encode(samples);
}

export function decodeG711(codec: Codec, bytes: Uint8Array): Int16Array {
  return codec === 'PCMU' ? mulaw.decode(bytes) : alaw.decode(bytes);
}

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const DECODE_TABLES: Readonly<Record<Codec, Int16Array>> = { PCMU: mulaw.decode(ALL_BYTES), PCMA: alaw.decode(ALL_BYTES) };

/** The linear sample of each of the 256 code words. */
export function decodeTable(codec: Codec): Int16Array {
  return DECODE_TABLES[codec];
}

const TRANSCODE_TABLES = {
  PCMU: { PCMU: ALL_BYTES, PCMA: alaw.encode(DECODE_TABLES.PCMU) },
  PCMA: { PCMA: ALL_BYTES, PCMU: mulaw.encode(DECODE_TABLES.PCMA) },
} as const satisfies Record<Codec, Record<Codec, Uint8Array>>;

/** Code word in `to` for each code word in `from`: G.711 to G.711 is one table lookup per byte, no allocation. */
export function transcodeTable(from: Codec, to: Codec): Uint8Array {
  return TRANSCODE_TABLES[from][to];
}

/** Rewrites bytes[start, end) from one G.711 law to the other, in place. */
export function transcodeInPlace(table: Uint8Array, bytes: Uint8Array, start: number, end: number): void {
  for (let i = start; i < end; i++) bytes[i] = table[bytes[i]!]!;
}
