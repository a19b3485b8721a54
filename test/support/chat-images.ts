// Real image files for the chat upload tests, built byte by byte: a phone-like JPEG whose EXIF holds GPS
// coordinates, a camera serial number and an orientation, plus XMP, IPTC and a comment; a PNG with text
// chunks and eXIf; a GIF with a comment; a WebP with EXIF and XMP chunks.
import jpeg from 'jpeg-js';
import { GifWriter } from 'omggif';
import { PNG } from 'pngjs';
import { deflateSync } from 'node:zlib';

/** A marker that must never survive stripping (in EXIF, XMP, comments and text chunks). */
export const secret = 'LAT-48.8584-SECRET';

const ascii = (s: string) => Buffer.from(s, 'latin1');

/** w×h RGBA pixels: a horizontal red→blue gradient (left half reddish, right half bluish). */
export function gradient(width: number, height: number, alpha = 255): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = Math.round(255 * (1 - x / Math.max(1, width - 1)));
      data[i + 1] = 40;
      data[i + 2] = Math.round(255 * (x / Math.max(1, width - 1)));
      data[i + 3] = alpha;
    }
  }
  return data;
}

function segment(marker: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[0] = 0xff;
  header[1] = marker;
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([header, payload]);
}

/** An EXIF APP1 payload (big-endian TIFF): IFD0 with Orientation, a serial number and a GPS IFD with latitude/longitude. */
export function exifWithGps(orientation = 1): Buffer {
  // Layout: TIFF header (8) | IFD0 at 8: 3 entries | GPS IFD | strings and rationals.
  const ifd0Entries = 3;
  const ifd0Size = 2 + ifd0Entries * 12 + 4;
  const gpsAt = 8 + ifd0Size;
  const gpsEntries = 4;
  const gpsSize = 2 + gpsEntries * 12 + 4;
  const dataAt = gpsAt + gpsSize;
  const serial = ascii(`${secret}\0`);
  const latAt = dataAt + serial.length;
  const lonAt = latAt + 24;
  const tiff = Buffer.alloc(lonAt + 24);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4);
  let p = 8;
  const entry = (tag: number, type: number, count: number, value: (at: number) => void) => {
    tiff.writeUInt16BE(tag, p);
    tiff.writeUInt16BE(type, p + 2);
    tiff.writeUInt32BE(count, p + 4);
    value(p + 8);
    p += 12;
  };
  tiff.writeUInt16BE(ifd0Entries, p);
  p += 2;
  entry(0x0112, 3, 1, (at) => tiff.writeUInt16BE(orientation, at)); // Orientation
  entry(0xa431, 2, serial.length, (at) => tiff.writeUInt32BE(dataAt, at)); // BodySerialNumber
  entry(0x8825, 4, 1, (at) => tiff.writeUInt32BE(gpsAt, at)); // GPS IFD
  tiff.writeUInt32BE(0, p);
  p = gpsAt;
  tiff.writeUInt16BE(gpsEntries, p);
  p += 2;
  entry(0x0001, 2, 2, (at) => tiff.write('N\0', at, 'latin1')); // GPSLatitudeRef
  entry(0x0002, 5, 3, (at) => tiff.writeUInt32BE(latAt, at)); // GPSLatitude
  entry(0x0003, 2, 2, (at) => tiff.write('E\0', at, 'latin1')); // GPSLongitudeRef
  entry(0x0004, 5, 3, (at) => tiff.writeUInt32BE(lonAt, at)); // GPSLongitude
  tiff.writeUInt32BE(0, p);
  serial.copy(tiff, dataAt);
  for (const [at, values] of [
    [latAt, [48, 51, 3050]],
    [lonAt, [2, 17, 4080]],
  ] as const) {
    values.forEach((v, i) => {
      tiff.writeUInt32BE(v, at + i * 8);
      tiff.writeUInt32BE(i === 2 ? 100 : 1, at + i * 8 + 4);
    });
  }
  return Buffer.concat([ascii('Exif\0\0'), tiff]);
}

/** A baseline JPEG of a gradient with EXIF (GPS, serial, orientation), XMP, IPTC (APP13), a comment and bytes after its end. */
export function phoneJpeg(options: { width?: number; height?: number; orientation?: number } = {}): Buffer {
  const width = options.width ?? 64;
  const height = options.height ?? 48;
  const plain = jpeg.encode({ width, height, data: gradient(width, height) }, 90).data;
  // jpeg-js writes SOI, APP0 JFIF, then the rest: put the metadata after APP0, as cameras do.
  const app0Length = plain.readUInt16BE(4);
  const afterApp0 = 4 + app0Length;
  const xmp = Buffer.concat([ascii('http://ns.adobe.com/xap/1.0/\0'), ascii(`<x:xmpmeta><exif:GPSLatitude>${secret}</exif:GPSLatitude></x:xmpmeta>`)]);
  const iptc = Buffer.concat([ascii('Photoshop 3.0\0'), ascii(`8BIM\x04\x04\0\0\0\0\0\x20\x1c\x02\x50\0\x18${secret}`)]);
  return Buffer.concat([
    plain.subarray(0, afterApp0),
    segment(0xe1, exifWithGps(options.orientation ?? 1)),
    segment(0xe1, xmp),
    segment(0xed, iptc),
    segment(0xfe, ascii(`comment ${secret}`)),
    plain.subarray(afterApp0),
    ascii(`trailing ${secret}`),
  ]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([ascii(type), data])), 0);
  return Buffer.concat([head, data, crc]);
}

let crcTable: Uint32Array | null = null;
function crc32(bytes: Buffer): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG (with transparency if alpha < 255) carrying tEXt, zTXt, iTXt, eXIf and tIME chunks. */
export function taggedPng(width = 40, height = 30, alpha = 255): Buffer {
  const png = new PNG({ width, height });
  png.data = gradient(width, height, alpha);
  const plain = PNG.sync.write(png);
  const ihdrEnd = 8 + 12 + 13;
  return Buffer.concat([
    plain.subarray(0, ihdrEnd),
    pngChunk('tEXt', ascii(`Author\0${secret}`)),
    pngChunk('zTXt', Buffer.concat([ascii('Comment\0\0'), deflateSync(ascii(secret))])),
    pngChunk('iTXt', ascii(`XML:com.adobe.xmp\0\0\0\0\0${secret}`)),
    pngChunk('eXIf', exifWithGps().subarray(6)),
    pngChunk('tIME', Buffer.from([0x07, 0xea, 12, 4, 15, 30, 0])),
    plain.subarray(ihdrEnd),
  ]);
}

/** An 8×6 GIF89a (omggif's writer) with a comment extension and an XMP application extension after its colour table. */
export function commentedGif(): Buffer {
  const width = 8;
  const height = 6;
  const out = Buffer.alloc(1024);
  const writer = new GifWriter(out, width, height, { palette: [0xff0000, 0x0000ff, 0x00ff00, 0xffffff], loop: 0 });
  writer.addFrame(0, 0, width, height, Array.from({ length: width * height }, (_, i) => (i % width < width / 2 ? 0 : 1)));
  const plain = out.subarray(0, writer.end());
  const afterTable = 13 + 3 * 4;
  const comment = Buffer.concat([Buffer.from([0x21, 0xfe, secret.length]), ascii(secret), Buffer.from([0])]);
  const xmp = Buffer.concat([Buffer.from([0x21, 0xff, 11]), ascii('XMP DataXMP'), Buffer.from([secret.length]), ascii(secret), Buffer.from([0])]);
  return Buffer.concat([plain.subarray(0, afterTable), comment, xmp, plain.subarray(afterTable)]);
}

/** A WebP (VP8L 1×1 header, extended with EXIF and XMP chunks). Not decodable here; its structure is checked. */
export function taggedWebp(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.write(type, 0, 'latin1');
    head.writeUInt32LE(data.length, 4);
    return Buffer.concat([head, data, data.length & 1 ? Buffer.from([0]) : Buffer.alloc(0)]);
  };
  const vp8x = Buffer.alloc(10);
  vp8x[0] = 0x0c; // EXIF + XMP flags
  vp8x.writeUIntLE(0, 4, 3); // width - 1
  vp8x.writeUIntLE(0, 7, 3); // height - 1
  const vp8l = Buffer.from([0x2f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
  const body = Buffer.concat([chunk('VP8X', vp8x), chunk('VP8L', vp8l), chunk('EXIF', exifWithGps().subarray(6)), chunk('XMP ', ascii(secret))]);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length + 4, 4);
  head.write('WEBP', 8, 'latin1');
  return Buffer.concat([head, body]);
}

export const tinyPdf = ascii('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
