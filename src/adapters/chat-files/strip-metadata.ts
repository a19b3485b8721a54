// Removes what an image carries besides its pixels (OL-15): a phone photo's EXIF holds where it was taken,
// the camera's serial number and the time; XMP, IPTC and comments hold names and software. Each format is
// walked block by block, keeping only what drawing the image needs (an allow-list, so an unknown block
// is dropped too) and nothing after the image's end. A structure that does not hold together (a length
// past the end, no end marker) is an ImageFormatError, never a crash.
import type { ImageType } from './detect.ts';

export class ImageFormatError extends Error {
  override readonly name = 'ImageFormatError';
}

export interface StrippedImage {
  bytes: Uint8Array;
  width: number;
  height: number;
  /** JPEG only: the EXIF orientation (1-8) kept so the photo still shows upright; 1 otherwise. */
  orientation: number;
}

export function stripImageMetadata(bytes: Uint8Array, type: ImageType): StrippedImage {
  switch (type) {
    case 'image/jpeg':
      return stripJpeg(bytes);
    case 'image/png':
      return stripPng(bytes);
    case 'image/gif':
      return stripGif(bytes);
    case 'image/webp':
      return stripWebp(bytes);
    default: {
      const unknown: never = type;
      throw new ImageFormatError(`not an image type: ${String(unknown)}`);
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const be16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const be32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const le24 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
const le32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
const text = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

// ---- JPEG -------------------------------------------------------------------------------------------

/** The EXIF Orientation tag (0x0112) of an APP1 Exif segment's payload, or 1. Never throws. */
export function exifOrientation(payload: Uint8Array): number {
  if (payload.length < 14 || text(payload, 0, 6) !== 'Exif\0\0') return 1;
  const tiff = payload.subarray(6);
  const little = text(tiff, 0, 2) === 'II';
  if (!little && text(tiff, 0, 2) !== 'MM') return 1;
  const u16 = (at: number) => (at + 2 <= tiff.length ? (little ? le16(tiff, at) : be16(tiff, at)) : -1);
  const u32 = (at: number) => (at + 4 <= tiff.length ? (little ? le32(tiff, at) : be32(tiff, at)) : -1);
  const ifd = u32(4);
  const count = u16(ifd);
  if (ifd < 8 || count < 0) return 1;
  for (let i = 0; i < count && i < 1000; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return 1;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/** An APP1 Exif segment holding nothing but the Orientation tag (so a rotated photo still shows upright). */
function orientationOnlyExif(orientation: number): Uint8Array {
  const tiff = [0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8, /* one entry */ 0, 1, /* tag */ 0x01, 0x12, /* SHORT */ 0, 3, /* count */ 0, 0, 0, 1, /* value */ 0, orientation, 0, 0, /* next IFD */ 0, 0, 0, 0];
  const payload = [...ascii('Exif\0\0'), ...tiff];
  const length = payload.length + 2;
  return new Uint8Array([0xff, 0xe1, length >> 8, length & 0xff, ...payload]);
}

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

function stripJpeg(b: Uint8Array): StrippedImage {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) throw new ImageFormatError('not a JPEG (no start-of-image marker)');
  const kept: Uint8Array[] = [b.subarray(0, 2)];
  let orientation = 1;
  let width = 0;
  let height = 0;
  let at = 2;
  let sawScan = false;
  for (;;) {
    // Markers may be preceded by fill bytes 0xFF.
    if (at >= b.length) throw new ImageFormatError('the JPEG is cut short (no end-of-image marker)');
    if (b[at] !== 0xff) throw new ImageFormatError(`the JPEG is malformed (no marker at byte ${at})`);
    while (at < b.length && b[at] === 0xff) at++;
    if (at >= b.length) throw new ImageFormatError('the JPEG is cut short');
    const marker = b[at]!;
    at++;
    if (marker === 0xd9) {
      if (!sawScan) throw new ImageFormatError('the JPEG has no image data');
      kept.push(new Uint8Array([0xff, 0xd9]));
      break; // anything after the end of the image (appended files, a second picture) is dropped
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      kept.push(new Uint8Array([0xff, marker]));
      continue;
    }
    if (at + 2 > b.length) throw new ImageFormatError('the JPEG is cut short (in a segment header)');
    const length = be16(b, at);
    if (length < 2 || at + length > b.length) throw new ImageFormatError('the JPEG is cut short or malformed (a segment runs past the end)');
    const segment = b.subarray(at - 2, at + length);
    const payload = b.subarray(at + 2, at + length);
    at += length;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      // Start of frame: precision, height, width.
      if (payload.length < 6) throw new ImageFormatError('the JPEG frame header is too short');
      height = be16(payload, 1);
      width = be16(payload, 3);
      kept.push(segment);
    } else if (marker === 0xe1) {
      // EXIF (and XMP): only the orientation survives, rewritten on its own.
      const o = exifOrientation(payload);
      if (o !== 1) orientation = o;
    } else if (marker === 0xe0) {
      if (text(payload, 0, 5) === 'JFIF\0') kept.push(segment);
    } else if (marker === 0xe2) {
      if (text(payload, 0, 12) === 'ICC_PROFILE\0') kept.push(segment); // colours, not people
    } else if (marker === 0xee) {
      if (text(payload, 0, 5) === 'Adobe') kept.push(segment); // says how the colours are coded
    } else if ((marker >= 0xe3 && marker <= 0xef) || marker === 0xfe) {
      // Other APPn (IPTC in APP13, maker data) and comments: dropped.
    } else if (marker === 0xda) {
      sawScan = true;
      kept.push(segment);
      // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart marker.
      const start = at;
      while (at < b.length) {
        if (b[at] === 0xff && at + 1 < b.length) {
          const next = b[at + 1]!;
          if (next !== 0x00 && !(next >= 0xd0 && next <= 0xd7) && next !== 0xff) break;
        }
        at++;
      }
      if (at >= b.length) throw new ImageFormatError('the JPEG is cut short (image data without end)');
      kept.push(b.subarray(start, at));
    } else {
      kept.push(segment); // DQT, DHT, DRI, DNL, DAC, ...
    }
  }
  if (width === 0 || height === 0) throw new ImageFormatError('the JPEG has no frame size');
  if (orientation !== 1) kept.splice(kept.length > 1 && isJfif(kept[1]!) ? 2 : 1, 0, orientationOnlyExif(orientation));
  return { bytes: concat(kept), width, height, orientation };
}

const isJfif = (segment: Uint8Array) => segment[1] === 0xe0;

// ---- PNG --------------------------------------------------------------------------------------------

/** Chunks drawing needs (critical ones and colour/transparency/animation); text, eXIf, tIME and unknown ones go. */
const pngKeep = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND', 'tRNS', 'gAMA', 'cHRM', 'sRGB', 'iCCP', 'sBIT', 'bKGD', 'pHYs', 'acTL', 'fcTL', 'fdAT']);

function stripPng(b: Uint8Array): StrippedImage {
  if (b.length < 8 + 25) throw new ImageFormatError('the PNG is cut short');
  const kept: Uint8Array[] = [b.subarray(0, 8)];
  let at = 8;
  let width = 0;
  let height = 0;
  let first = true;
  for (;;) {
    if (at + 12 > b.length) throw new ImageFormatError('the PNG is cut short (no IEND chunk)');
    const length = be32(b, at);
    const type = text(b, at + 4, 4);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new ImageFormatError(`the PNG is malformed (chunk type at byte ${at})`);
    if (length > b.length - at - 12) throw new ImageFormatError(`the PNG is cut short (chunk ${type} runs past the end)`);
    if (first) {
      if (type !== 'IHDR' || length !== 13) throw new ImageFormatError('the PNG does not start with its header chunk');
      width = be32(b, at + 8);
      height = be32(b, at + 12);
      first = false;
    }
    const chunk = b.subarray(at, at + 12 + length);
    at += 12 + length;
    const critical = (type.charCodeAt(0) & 0x20) === 0;
    if (critical && !pngKeep.has(type)) throw new ImageFormatError(`the PNG has an unknown critical chunk ${type}`);
    if (pngKeep.has(type)) kept.push(chunk);
    if (type === 'IEND') break;
  }
  if (width === 0 || height === 0) throw new ImageFormatError('the PNG has no size');
  return { bytes: concat(kept), width, height, orientation: 1 };
}

// ---- GIF --------------------------------------------------------------------------------------------

/** Application extensions that only say how to loop an animation. */
const gifKeepApplications = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0']);

function stripGif(b: Uint8Array): StrippedImage {
  if (b.length < 13) throw new ImageFormatError('the GIF is cut short');
  const width = le16(b, 6);
  const height = le16(b, 8);
  const packed = b[10]!;
  let at = 13;
  if (packed & 0x80) at += 3 * (1 << ((packed & 0x07) + 1));
  if (at > b.length) throw new ImageFormatError('the GIF is cut short (in its colour table)');
  const kept: Uint8Array[] = [b.subarray(0, at)];
  /** The end of the data sub-blocks starting at `from`. */
  const subBlocksEnd = (from: number) => {
    let p = from;
    for (;;) {
      if (p >= b.length) throw new ImageFormatError('the GIF is cut short (in a data block)');
      const size = b[p]!;
      p += 1 + size;
      if (size === 0) return p;
    }
  };
  let frames = 0;
  for (;;) {
    if (at >= b.length) throw new ImageFormatError('the GIF is cut short (no trailer)');
    const introducer = b[at]!;
    if (introducer === 0x3b) {
      kept.push(b.subarray(at, at + 1));
      break;
    }
    if (introducer === 0x21) {
      if (at + 2 > b.length) throw new ImageFormatError('the GIF is cut short (in an extension)');
      const label = b[at + 1]!;
      const end = subBlocksEnd(at + 2);
      const block = b.subarray(at, end);
      if (label === 0xf9 || label === 0x01) kept.push(block); // graphic control, plain text
      else if (label === 0xff && b[at + 2] === 11 && gifKeepApplications.has(text(b, at + 3, 11))) kept.push(block);
      // 0xFE comments, XMP and other application data: dropped.
      at = end;
    } else if (introducer === 0x2c) {
      if (at + 10 > b.length) throw new ImageFormatError('the GIF is cut short (in an image descriptor)');
      const local = b[at + 9]!;
      let p = at + 10;
      if (local & 0x80) p += 3 * (1 << ((local & 0x07) + 1));
      p += 1; // LZW minimum code size
      const end = subBlocksEnd(p);
      kept.push(b.subarray(at, end));
      at = end;
      frames++;
    } else {
      throw new ImageFormatError(`the GIF is malformed (unknown block 0x${introducer.toString(16)} at byte ${at})`);
    }
  }
  if (frames === 0) throw new ImageFormatError('the GIF has no image');
  if (width === 0 || height === 0) throw new ImageFormatError('the GIF has no size');
  return { bytes: concat(kept), width, height, orientation: 1 };
}

// ---- WebP -------------------------------------------------------------------------------------------

const webpKeep = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF', 'ICCP']);

function stripWebp(b: Uint8Array): StrippedImage {
  if (b.length < 20) throw new ImageFormatError('the WebP is cut short');
  const riffEnd = 8 + le32(b, 4);
  if (riffEnd > b.length) throw new ImageFormatError('the WebP is cut short (its RIFF size runs past the end)');
  const kept: Uint8Array[] = [];
  let at = 12;
  let width = 0;
  let height = 0;
  let hasImage = false;
  while (at < riffEnd) {
    if (at + 8 > riffEnd) throw new ImageFormatError('the WebP is cut short (in a chunk header)');
    const type = text(b, at, 4);
    const size = le32(b, at + 4);
    const padded = size + (size & 1);
    if (size > riffEnd - at - 8) throw new ImageFormatError(`the WebP is cut short (chunk ${JSON.stringify(type)} runs past the end)`);
    const payload = b.subarray(at + 8, at + 8 + size);
    if (type === 'VP8X') {
      if (size < 10) throw new ImageFormatError('the WebP extended header is too short');
      width = le24(payload, 4) + 1;
      height = le24(payload, 7) + 1;
      const header = new Uint8Array(b.subarray(at, at + 8 + padded));
      header[8] = header[8]! & ~0x0c; // no EXIF, no XMP
      kept.push(header);
    } else if (type === 'VP8 ') {
      if (size < 10 || payload[3] !== 0x9d || payload[4] !== 0x01 || payload[5] !== 0x2a) throw new ImageFormatError('the WebP image data is malformed');
      if (width === 0) {
        width = le16(payload, 6) & 0x3fff;
        height = le16(payload, 8) & 0x3fff;
      }
      hasImage = true;
      kept.push(b.subarray(at, Math.min(at + 8 + padded, riffEnd)));
    } else if (type === 'VP8L') {
      if (size < 5 || payload[0] !== 0x2f) throw new ImageFormatError('the WebP lossless image data is malformed');
      if (width === 0) {
        const bits = le32(payload, 1);
        width = (bits & 0x3fff) + 1;
        height = ((bits >>> 14) & 0x3fff) + 1;
      }
      hasImage = true;
      kept.push(b.subarray(at, Math.min(at + 8 + padded, riffEnd)));
    } else if (webpKeep.has(type)) {
      if (type === 'ANMF') hasImage = true;
      kept.push(b.subarray(at, Math.min(at + 8 + padded, riffEnd)));
    }
    at += 8 + padded;
  }
  if (!hasImage) throw new ImageFormatError('the WebP has no image data');
  if (width === 0 || height === 0) throw new ImageFormatError('the WebP has no size');
  const body = concat(kept);
  const header = new Uint8Array(12);
  header.set(ascii('RIFF'), 0);
  new DataView(header.buffer).setUint32(4, body.length + 4, true);
  header.set(ascii('WEBP'), 8);
  return { bytes: concat([header, body]), width, height, orientation: 1 };
}
