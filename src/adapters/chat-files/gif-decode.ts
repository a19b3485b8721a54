// The first frame of a GIF as RGBA pixels. Written here rather than taken from a library because a
// decoder for uploads must stop on any input: a cyclic or out-of-range LZW code, a frame outside the
// screen or data cut short ends in an ImageFormatError, and the work is bounded by the input's length
// and the frame's pixel count (a widely used pure-JS decoder loops forever on some corrupt codes).
import { ImageFormatError } from './strip-metadata.ts';
import type { Rgba } from './thumbnail.ts';

const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);

/** LZW-decoded colour indexes, exactly `pixels` of them (missing ones are an error). */
export function lzwDecode(data: Uint8Array, minCodeSize: number, pixels: number): Uint8Array {
  if (minCodeSize < 2 || minCodeSize > 8) throw new ImageFormatError(`the GIF's LZW code size ${minCodeSize} is invalid`);
  const clear = 1 << minCodeSize;
  const end = clear + 1;
  const prefix = new Int16Array(4096);
  const suffix = new Uint8Array(4096);
  const first = new Uint8Array(4096);
  const lengths = new Uint16Array(4096);
  for (let i = 0; i < clear; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    first[i] = i;
    lengths[i] = 1;
  }
  const out = new Uint8Array(pixels);
  let op = 0;
  let codeSize = minCodeSize + 1;
  let next = end + 1;
  let previous = -1;
  let bits = 0;
  let value = 0;
  let at = 0;
  while (op < pixels) {
    while (bits < codeSize) {
      if (at >= data.length) throw new ImageFormatError('the GIF image data is cut short');
      value |= data[at++]! << bits;
      bits += 8;
    }
    const code = value & ((1 << codeSize) - 1);
    value >>>= codeSize;
    bits -= codeSize;
    if (code === clear) {
      codeSize = minCodeSize + 1;
      next = end + 1;
      previous = -1;
      continue;
    }
    if (code === end) break;
    let emit: number;
    if (code < next && (code < clear || code > end)) {
      emit = code;
      if (previous >= 0 && next < 4096) {
        prefix[next] = previous;
        suffix[next] = first[code]!;
        first[next] = first[previous]!;
        lengths[next] = lengths[previous]! + 1;
        next++;
      }
    } else if (code === next && previous >= 0 && next < 4096) {
      prefix[next] = previous;
      suffix[next] = first[previous]!;
      first[next] = first[previous]!;
      lengths[next] = lengths[previous]! + 1;
      emit = next;
      next++;
    } else {
      throw new ImageFormatError(`the GIF image data is corrupt (LZW code ${code} not yet defined)`);
    }
    // Write the code's string backwards from its end; its length is known, so no chain is walked twice.
    const length = lengths[emit]!;
    let p = Math.min(op + length, pixels) - 1;
    let skip = op + length - 1 - p; // characters past the frame's end are dropped
    let c = emit;
    for (let i = 0; i < length; i++) {
      if (skip > 0) skip--;
      else out[p--] = suffix[c]!;
      c = prefix[c]!;
    }
    op += length;
    previous = emit;
    if (next === 1 << codeSize && codeSize < 12) codeSize++;
  }
  if (op < pixels) throw new ImageFormatError('the GIF image data ends before the frame is complete');
  return out;
}

/** The first frame, drawn on the logical screen (transparent elsewhere). The bytes' structure was checked by stripGif. */
export function decodeGifFirstFrame(b: Uint8Array): Rgba {
  const width = le16(b, 6);
  const height = le16(b, 8);
  const packed = b[10]!;
  let at = 13;
  let palette: Uint8Array | null = null;
  if (packed & 0x80) {
    const size = 3 * (1 << ((packed & 0x07) + 1));
    palette = b.subarray(at, at + size);
    at += size;
  }
  let transparent = -1;
  const skipSubBlocks = (from: number) => {
    let p = from;
    while (p < b.length && b[p] !== 0) p += 1 + b[p]!;
    if (p >= b.length) throw new ImageFormatError('the GIF is cut short (in a data block)');
    return p + 1;
  };
  while (at < b.length) {
    const introducer = b[at]!;
    if (introducer === 0x21) {
      if (b[at + 1] === 0xf9 && b[at + 2]! >= 4 && at + 7 <= b.length && (b[at + 3]! & 1)) transparent = b[at + 6]!;
      at = skipSubBlocks(at + 2);
      continue;
    }
    if (introducer !== 0x2c) break;
    if (at + 10 > b.length) break;
    const fx = le16(b, at + 1);
    const fy = le16(b, at + 3);
    const fw = le16(b, at + 5);
    const fh = le16(b, at + 7);
    const local = b[at + 9]!;
    if (fw === 0 || fh === 0 || fx + fw > width || fy + fh > height) throw new ImageFormatError(`the GIF's first frame (${fw}×${fh} at ${fx},${fy}) lies outside its ${width}×${height} screen`);
    let p = at + 10;
    if (local & 0x80) {
      const size = 3 * (1 << ((local & 0x07) + 1));
      palette = b.subarray(p, p + size);
      p += size;
    }
    if (!palette) throw new ImageFormatError('the GIF has no colour table');
    const minCodeSize = b[p]!;
    skipSubBlocks(p + 1); // the data blocks end before the input does
    const parts: Uint8Array[] = [];
    for (let q = p + 1; b[q] !== 0; q += 1 + b[q]!) parts.push(b.subarray(q + 1, q + 1 + b[q]!));
    const data = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
    let o = 0;
    for (const part of parts) {
      data.set(part, o);
      o += part.length;
    }
    const indexes = lzwDecode(data, minCodeSize, fw * fh);
    const rows = (local & 0x40) ? interlacedRows(fh) : null;
    const rgba = new Uint8Array(width * height * 4);
    const colours = palette.length / 3;
    for (let i = 0; i < fw * fh; i++) {
      const index = indexes[i]!;
      if (index === transparent || index >= colours) continue;
      const row = rows ? rows[Math.floor(i / fw)]! : Math.floor(i / fw);
      const target = ((fy + row) * width + fx + (i % fw)) * 4;
      rgba[target] = palette[index * 3]!;
      rgba[target + 1] = palette[index * 3 + 1]!;
      rgba[target + 2] = palette[index * 3 + 2]!;
      rgba[target + 3] = 255;
    }
    return { width, height, data: rgba };
  }
  throw new ImageFormatError('the GIF has no image');
}

/** The screen row of each decoded row of an interlaced frame (passes of every 8th, 8th from 4, 4th from 2, 2nd from 1). */
function interlacedRows(height: number): number[] {
  const rows: number[] = [];
  for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]] as const) for (let r = start; r < height; r += step) rows.push(r);
  return rows;
}
