// Decoding proves an uploaded image is one (a file claiming to be a picture whose pixels do not decode is
// refused); the decoded pixels, scaled to fit a square and encoded again, are its thumbnail. Pure
// JavaScript (jpeg-js, pngjs, and gif-decode.ts): nothing to compile, nothing native to exploit. WebP has no pure-JS
// decoder here: its container and bitstream header are checked (strip-metadata.ts), and it has no thumbnail.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { ImageType } from './detect.ts';
import { decodeGifFirstFrame } from './gif-decode.ts';
import { ImageFormatError } from './strip-metadata.ts';

export interface Rgba {
  width: number;
  height: number;
  /** width × height × 4 bytes. */
  data: Uint8Array;
}

export interface Thumbnail {
  contentType: 'image/jpeg' | 'image/png';
  bytes: Uint8Array;
  width: number;
  height: number;
}

/** The largest image decoded (pixels): a phone photo is 12-50 MP; beyond that decoding costs too much memory. */
export const maxImagePixels = 60_000_000;

function checkSize(width: number, height: number): void {
  if (width <= 0 || height <= 0) throw new ImageFormatError('the image has no size');
  if (width * height > maxImagePixels) throw new ImageFormatError(`the image is too large to process (${width}×${height}; at most ${maxImagePixels / 1e6} megapixels)`);
}

/** The image's pixels; ImageFormatError when they do not decode. WebP: null (not decoded here). */
export function decodeImage(bytes: Uint8Array, type: ImageType, size: { width: number; height: number }): Rgba | null {
  checkSize(size.width, size.height);
  try {
    switch (type) {
      case 'image/jpeg': {
        const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxResolutionInMP: maxImagePixels / 1e6, maxMemoryUsageInMB: 1024 });
        return { width: image.width, height: image.height, data: image.data };
      }
      case 'image/png': {
        const image = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        return { width: image.width, height: image.height, data: new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength) };
      }
      case 'image/gif':
        return decodeGifFirstFrame(bytes);
      case 'image/webp':
        return null;
      default: {
        const unknown: never = type;
        throw new ImageFormatError(`not an image type: ${String(unknown)}`);
      }
    }
  } catch (err) {
    if (err instanceof ImageFormatError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new ImageFormatError(`the image data does not decode (${reason.slice(0, 200)})`);
  }
}

/** Turns pixels as EXIF orientation `o` (1-8) says, so the thumbnail shows upright without EXIF. */
export function orient(image: Rgba, o: number): Rgba {
  if (o <= 1 || o > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = o >= 5;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const out = new Uint8Array(ow * oh * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let nx: number;
      let ny: number;
      switch (o) {
        case 2: [nx, ny] = [w - 1 - x, y]; break;
        case 3: [nx, ny] = [w - 1 - x, h - 1 - y]; break;
        case 4: [nx, ny] = [x, h - 1 - y]; break;
        case 5: [nx, ny] = [y, x]; break;
        case 6: [nx, ny] = [h - 1 - y, x]; break;
        case 7: [nx, ny] = [h - 1 - y, w - 1 - x]; break;
        default: [nx, ny] = [y, w - 1 - x]; break; // 8
      }
      const from = (y * w + x) * 4;
      const to = (ny * ow + nx) * 4;
      out[to] = data[from]!;
      out[to + 1] = data[from + 1]!;
      out[to + 2] = data[from + 2]!;
      out[to + 3] = data[from + 3]!;
    }
  }
  return { width: ow, height: oh, data: out };
}

/** Scales to fit within `box`×`box` (never up), averaging the source pixels each target pixel covers. */
export function scaleToFit(image: Rgba, box: number): Rgba {
  const scale = Math.min(1, box / Math.max(image.width, image.height));
  const tw = Math.max(1, Math.round(image.width * scale));
  const th = Math.max(1, Math.round(image.height * scale));
  if (tw === image.width && th === image.height) return image;
  const out = new Uint8Array(tw * th * 4);
  const { width: sw, height: sh, data } = image;
  for (let ty = 0; ty < th; ty++) {
    const y0 = Math.floor((ty * sh) / th);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * sh) / th));
    for (let tx = 0; tx < tw; tx++) {
      const x0 = Math.floor((tx * sw) / tw);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * sw) / tw));
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      // Large images: sample at most 8×8 of the covered pixels, enough for a 320 px preview.
      const stepY = Math.max(1, Math.floor((y1 - y0) / 8));
      const stepX = Math.max(1, Math.floor((x1 - x0) / 8));
      let n = 0;
      for (let y = y0; y < y1; y += stepY) {
        for (let x = x0; x < x1; x += stepX) {
          const i = (y * sw + x) * 4;
          const alpha = data[i + 3]!;
          r += data[i]! * alpha;
          g += data[i + 1]! * alpha;
          b += data[i + 2]! * alpha;
          a += alpha;
          n++;
        }
      }
      const o = (ty * tw + tx) * 4;
      if (a > 0) {
        out[o] = Math.round(r / a);
        out[o + 1] = Math.round(g / a);
        out[o + 2] = Math.round(b / a);
      }
      out[o + 3] = Math.round(a / n);
    }
  }
  return { width: tw, height: th, data: out };
}

function hasTransparency(image: Rgba): boolean {
  for (let i = 3; i < image.data.length; i += 4) if (image.data[i]! < 255) return true;
  return false;
}

/** A thumbnail: JPEG for opaque images, PNG when some pixel is transparent. */
export function encodeThumbnail(image: Rgba): Thumbnail {
  if (hasTransparency(image)) {
    const png = new PNG({ width: image.width, height: image.height });
    png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
    const bytes = PNG.sync.write(png);
    return { contentType: 'image/png', bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), width: image.width, height: image.height };
  }
  const encoded = jpeg.encode({ width: image.width, height: image.height, data: image.data }, 80);
  return { contentType: 'image/jpeg', bytes: new Uint8Array(encoded.data.buffer, encoded.data.byteOffset, encoded.data.byteLength), width: image.width, height: image.height };
}
