// Chat uploads' content checks (OL-15): the type comes from the bytes, metadata is gone from every image
// format, the pixels must decode, and broken or cut files are refused with a clear reason, never a crash.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { GifReader } from 'omggif';
import { describe, expect, it } from 'vitest';
import { claimsImage, defaultAllowedTypes, detectFileType, safeFileName } from '../../src/adapters/chat-files/detect.ts';
import { decodeGifFirstFrame } from '../../src/adapters/chat-files/gif-decode.ts';
import { processUpload, UploadRefusedError, type UploadRequest } from '../../src/adapters/chat-files/process-upload.ts';
import { exifOrientation, ImageFormatError, stripImageMetadata } from '../../src/adapters/chat-files/strip-metadata.ts';
import { commentedGif, phoneJpeg, secret, taggedPng, taggedWebp, tinyPdf } from '../support/chat-images.ts';
import { seededRandom } from '../support/seeded-random.ts';

const has = (bytes: Uint8Array, needle: string) => Buffer.from(bytes).includes(Buffer.from(needle, 'latin1'));
const request = (bytes: Uint8Array, filename: string | null = null, declaredType: string | null = null): UploadRequest => ({
  bytes,
  filename,
  declaredType,
  allowedTypes: defaultAllowedTypes,
  thumbnailSize: 320,
});
const refusal = (r: UploadRequest): UploadRefusedError => {
  try {
    processUpload(r);
  } catch (err) {
    if (err instanceof UploadRefusedError) return err;
    throw err;
  }
  throw new Error('the upload was accepted');
};

describe('type detection from content', () => {
  it('names each format by its signature, whatever the name says', () => {
    expect(detectFileType(phoneJpeg()).contentType).toBe('image/jpeg');
    expect(detectFileType(taggedPng()).contentType).toBe('image/png');
    expect(detectFileType(commentedGif()).contentType).toBe('image/gif');
    expect(detectFileType(taggedWebp()).contentType).toBe('image/webp');
    expect(detectFileType(tinyPdf)).toMatchObject({ contentType: 'application/pdf', image: false, bySignature: true });
    expect(detectFileType(Buffer.from('héllo 👋\nworld\t!', 'utf8'))).toMatchObject({ contentType: 'text/plain', bySignature: false });
    expect(detectFileType(Buffer.from([0x00, 0x01, 0x02, 0xfe]))).toMatchObject({ contentType: 'application/octet-stream' });
    expect(detectFileType(Buffer.from([0xc3, 0x28]))).toMatchObject({ contentType: 'application/octet-stream' }); // invalid UTF-8
    expect(detectFileType(Buffer.from('<svg onload="alert(1)"/>')).contentType).toBe('text/plain'); // never image/svg+xml
  });

  it('knows what presents itself as an image', () => {
    expect(claimsImage('cat.PNG', null)).toBe(true);
    expect(claimsImage('notes.txt', 'image/png')).toBe(true);
    expect(claimsImage('notes.txt', 'text/plain')).toBe(false);
    expect(claimsImage(null, null)).toBe(false);
  });

  it('keeps a safe name whose extension matches the content', () => {
    const pdf = detectFileType(tinyPdf);
    expect(safeFileName('scan.png', pdf)).toBe('scan.pdf');
    expect(safeFileName('C:\\Users\\me\\Report "final".PDF', pdf)).toBe('Report final.pdf');
    expect(safeFileName('../../etc/passwd', detectFileType(Buffer.from('root:x:0:0')))).toBe('passwd.txt');
    expect(safeFileName('\u202egnp.exe', pdf)).toBe('gnp.pdf');
    expect(safeFileName(null, detectFileType(phoneJpeg()))).toBe('file.jpg');
    expect(safeFileName('photo.jpeg', detectFileType(phoneJpeg()))).toBe('photo.jpeg');
  });
});

describe('metadata stripping', () => {
  it('JPEG: EXIF (GPS, serial), XMP, IPTC, comments and trailing bytes are gone; pixels are the same', () => {
    const original = phoneJpeg();
    expect(has(original, secret)).toBe(true);
    expect(has(original, 'Exif')).toBe(true);
    const stripped = stripImageMetadata(original, 'image/jpeg');
    expect(has(stripped.bytes, secret)).toBe(false);
    expect(has(stripped.bytes, 'Exif')).toBe(false); // orientation 1: no EXIF at all
    expect(has(stripped.bytes, 'Photoshop')).toBe(false);
    expect(has(stripped.bytes, 'http://ns.adobe.com/xap')).toBe(false);
    expect([stripped.width, stripped.height]).toEqual([64, 48]);
    const a = jpeg.decode(original, { useTArray: true });
    const b = jpeg.decode(stripped.bytes, { useTArray: true });
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
  });

  it('JPEG: a rotated photo keeps only its orientation, in an EXIF of its own', () => {
    const stripped = stripImageMetadata(phoneJpeg({ orientation: 6 }), 'image/jpeg');
    expect(has(stripped.bytes, secret)).toBe(false);
    expect(stripped.orientation).toBe(6);
    const app1 = Buffer.from(stripped.bytes).indexOf(Buffer.from('Exif\0\0', 'latin1'));
    expect(app1).toBeGreaterThan(0);
    expect(exifOrientation(stripped.bytes.subarray(app1))).toBe(6);
    expect(stripped.bytes.length).toBeLessThan(phoneJpeg({ orientation: 6 }).length);
  });

  it('PNG: tEXt, zTXt, iTXt, eXIf and tIME are gone; the image decodes to the same pixels', () => {
    const original = taggedPng();
    const stripped = stripImageMetadata(original, 'image/png');
    for (const chunk of ['tEXt', 'zTXt', 'iTXt', 'eXIf', 'tIME', secret]) expect(has(stripped.bytes, chunk)).toBe(false);
    expect(PNG.sync.read(Buffer.from(stripped.bytes)).data.equals(PNG.sync.read(original).data)).toBe(true);
  });

  it('GIF: the comment and the XMP application extension are gone; the looping extension stays', () => {
    const original = commentedGif();
    expect(has(original, secret)).toBe(true);
    const stripped = stripImageMetadata(original, 'image/gif');
    expect(has(stripped.bytes, secret)).toBe(false);
    expect(has(stripped.bytes, 'XMP DataXMP')).toBe(false);
    expect(has(stripped.bytes, 'NETSCAPE2.0')).toBe(true);
    const reader = new GifReader(Buffer.from(stripped.bytes));
    expect([reader.width, reader.height, reader.numFrames()]).toEqual([8, 6, 1]);
  });

  it('WebP: the EXIF and XMP chunks and their header flags are gone', () => {
    const stripped = stripImageMetadata(taggedWebp(), 'image/webp');
    expect(has(stripped.bytes, secret)).toBe(false);
    expect(has(stripped.bytes, 'EXIF')).toBe(false);
    const b = Buffer.from(stripped.bytes);
    expect(b.readUInt32LE(4)).toBe(b.length - 8);
    expect(b[20]! & 0x0c).toBe(0);
    expect([stripped.width, stripped.height]).toEqual([1, 1]);
  });
});

describe('processing an upload', () => {
  it('a JPEG photo: stripped, measured, and a thumbnail that fits in 320 px and decodes', () => {
    const out = processUpload(request(phoneJpeg({ width: 800, height: 600 }), 'IMG_0001.JPG', 'image/jpeg'));
    expect(out).toMatchObject({ name: 'IMG_0001.jpg', contentType: 'image/jpeg', image: true, width: 800, height: 600 });
    expect(has(out.bytes, secret)).toBe(false);
    expect(out.thumbnail).toMatchObject({ contentType: 'image/jpeg', width: 320, height: 240 });
    const thumb = jpeg.decode(out.thumbnail!.bytes, { useTArray: true });
    expect([thumb.width, thumb.height]).toEqual([320, 240]);
    // Left reddish, right bluish: the pixels were scaled, not invented.
    expect(thumb.data[0]!).toBeGreaterThan(200);
    expect(thumb.data[(320 - 1) * 4 + 2]!).toBeGreaterThan(200);
    expect(has(out.thumbnail!.bytes, secret)).toBe(false);
  });

  it('a sideways photo is measured and thumbnailed upright', () => {
    const out = processUpload(request(phoneJpeg({ width: 400, height: 200, orientation: 6 }), 'p.jpg'));
    expect([out.width, out.height]).toEqual([200, 400]);
    expect([out.thumbnail!.width, out.thumbnail!.height]).toEqual([160, 320]);
  });

  it('a transparent PNG gets a PNG thumbnail; a small GIF one too', () => {
    const png = processUpload(request(taggedPng(40, 30, 128), 'a.png'));
    expect(png).toMatchObject({ contentType: 'image/png', width: 40, height: 30 });
    expect(png.thumbnail?.contentType).toBe('image/png');
    const gif = processUpload(request(commentedGif(), 'anim.gif'));
    expect(gif).toMatchObject({ contentType: 'image/gif', width: 8, height: 6 });
    expect(gif.thumbnail).not.toBeNull();
    // Kefu's own GIF decoder draws the same pixels as omggif's on a valid file.
    const reader = new GifReader(commentedGif());
    const expected = new Uint8Array(8 * 6 * 4);
    reader.decodeAndBlitFrameRGBA(0, expected);
    expect(Buffer.from(decodeGifFirstFrame(commentedGif()).data).equals(Buffer.from(expected))).toBe(true);
  });

  it('a WebP is accepted with its size but no thumbnail', () => {
    const out = processUpload(request(taggedWebp(), 'x.webp'));
    expect(out).toMatchObject({ contentType: 'image/webp', width: 1, height: 1, thumbnail: null });
  });

  it('a PDF named .png is a PDF; text named .png is refused (415)', () => {
    expect(processUpload(request(tinyPdf, 'photo.png', 'image/png'))).toMatchObject({ contentType: 'application/pdf', name: 'photo.pdf', image: false, thumbnail: null });
    const text = refusal(request(Buffer.from('just some notes'), 'photo.png', 'image/png'));
    expect(text.status).toBe(415);
    expect(text.message).toMatch(/not a JPEG, PNG, GIF or WebP image/);
    expect(processUpload(request(Buffer.from('just some notes'), 'notes.txt', 'text/plain'))).toMatchObject({ contentType: 'text/plain', name: 'notes.txt' });
  });

  it('refuses types outside the allow-list and empty files', () => {
    const zip = refusal(request(Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3]), 'a.zip'));
    expect(zip.status).toBe(415);
    expect(zip.message).toMatch(/application\/zip are not accepted/);
    expect(refusal(request(Buffer.from([0, 1, 2, 3]), 'a.bin')).status).toBe(415);
    expect(refusal({ ...request(tinyPdf), allowedTypes: ['image/jpeg'] }).message).toMatch(/application\/pdf/);
    expect(refusal(request(new Uint8Array(0), 'empty.jpg')).status).toBe(400);
  });
});

describe('broken images are refused, never a crash', () => {
  const cases: [string, () => Uint8Array][] = [
    ['a JPEG signature and nothing else', () => Buffer.from([0xff, 0xd8, 0xff])],
    ['a JPEG cut in half', () => phoneJpeg().subarray(0, Math.floor(phoneJpeg().length / 2))],
    ['a JPEG with a segment length past the end', () => Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff, 1, 2, 3])],
    ['a JPEG whose scan data is garbage', () => corruptScan(phoneJpeg())],
    ['a JPEG with a huge declared size', () => hugeJpegFrame()],
    ['a PNG cut before IEND', () => taggedPng().subarray(0, taggedPng().length - 20)],
    ['a PNG with a broken CRC in its image data', () => corruptPngData(taggedPng())],
    ['a PNG claiming 100000×100000 pixels', () => hugePng()],
    ['a GIF cut short', () => commentedGif().subarray(0, 30)],
    ['a GIF without a trailer', () => commentedGif().subarray(0, commentedGif().length - 1)],
    ['a WebP with a RIFF size past the end', () => Buffer.concat([Buffer.from('RIFF\xff\xff\x00\x00WEBPVP8 ', 'latin1'), Buffer.alloc(8)])],
    ['a WebP without image data', () => Buffer.concat([Buffer.from('RIFF', 'latin1'), Buffer.from([12, 0, 0, 0]), Buffer.from('WEBPXMP \x00\x00\x00\x00', 'latin1')])],
  ];
  for (const [what, bytes] of cases) {
    it(`${what}: 415 with the reason`, () => {
      const err = refusal(request(bytes(), 'x'));
      expect(err.status).toBe(415);
      expect(err.message).toMatch(/^file: the content starts like image\/\w+ but is not a valid image: /);
    });
  }

  it('random truncations and byte flips of every format end in a result or a refusal, nothing else', () => {
    const random = seededRandom(11);
    const originals = [phoneJpeg(), taggedPng(), commentedGif(), taggedWebp()];
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      const original = originals[i % originals.length]!;
      const bytes = Buffer.from(original);
      const mode = Math.floor(random() * 3);
      let mutated: Uint8Array = bytes;
      if (mode === 0) mutated = bytes.subarray(0, 4 + Math.floor(random() * (bytes.length - 4)));
      else for (let k = 0; k < 1 + Math.floor(random() * 8); k++) bytes[4 + Math.floor(random() * (bytes.length - 4))] = Math.floor(random() * 256);
      if (mode === 2) mutated = bytes.subarray(0, Math.max(8, bytes.length - Math.floor(random() * 40)));
      try {
        const out = processUpload(request(mutated, 'x'));
        expect(has(out.bytes, secret)).toBe(false);
      } catch (err) {
        expect(err).toBeInstanceOf(UploadRefusedError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(100);
  });

  it('stripping throws ImageFormatError (not RangeError or TypeError) on short input of every format', () => {
    for (const type of ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const) {
      for (const n of [0, 1, 5, 12, 19]) expect(() => stripImageMetadata(new Uint8Array(n), type)).toThrow(ImageFormatError);
    }
  });
});

function corruptScan(b: Buffer): Buffer {
  const out = Buffer.from(b);
  const sos = out.indexOf(Buffer.from([0xff, 0xda]));
  const start = sos + 2 + out.readUInt16BE(sos + 2);
  const end = out.indexOf(Buffer.from([0xff, 0xd9]), start);
  // Replace the scan with a run of bytes that is not valid Huffman data for these tables.
  for (let i = start; i < end; i++) out[i] = 0xff === (i & 0xff) ? 0x00 : 0xfe;
  return out;
}

function hugeJpegFrame(): Buffer {
  const out = Buffer.from(phoneJpeg());
  const sof = out.indexOf(Buffer.from([0xff, 0xc0]));
  out.writeUInt16BE(60000, sof + 5);
  out.writeUInt16BE(60000, sof + 7);
  return out;
}

function corruptPngData(b: Buffer): Buffer {
  const out = Buffer.from(b);
  const idat = out.indexOf(Buffer.from('IDAT', 'latin1'));
  out[idat + 6] = out[idat + 6]! ^ 0xff;
  return out;
}

function hugePng(): Buffer {
  const out = Buffer.from(taggedPng());
  out.writeUInt32BE(100000, 16);
  out.writeUInt32BE(100000, 20);
  return out;
}
