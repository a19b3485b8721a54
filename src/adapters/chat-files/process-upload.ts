// One uploaded chat file from bytes to what is kept: its type from its content, the allow-list, and for
// images the metadata stripped, the pixels decoded (or the upload refused) and a thumbnail. Pure and
// synchronous: it runs on a worker thread (image-processor.ts) and directly in unit tests.
import { claimsImage, detectFileType, safeFileName, type DetectedType, type ImageType } from './detect.ts';
import { ImageFormatError, stripImageMetadata } from './strip-metadata.ts';
import { decodeImage, encodeThumbnail, orient, scaleToFit, type Thumbnail } from './thumbnail.ts';

/** Why an upload is refused: 415 for a type not allowed or content that is not what it claims to be. */
export class UploadRefusedError extends Error {
  override readonly name = 'UploadRefusedError';
  readonly status: 400 | 415;
  constructor(status: 400 | 415, message: string) {
    super(message);
    this.status = status;
  }
}

export interface UploadRequest {
  bytes: Uint8Array;
  filename: string | null;
  declaredType: string | null;
  allowedTypes: readonly string[];
  /** Thumbnails fit in a square of this many pixels. */
  thumbnailSize: number;
}

export interface ProcessedUpload {
  name: string;
  contentType: string;
  image: boolean;
  /** What is stored and served: for images, without metadata. */
  bytes: Uint8Array;
  width: number | null;
  height: number | null;
  thumbnail: Thumbnail | null;
}

export function processUpload(request: UploadRequest): ProcessedUpload {
  const { bytes } = request;
  if (bytes.length === 0) throw new UploadRefusedError(400, 'file: the file is empty');
  const detected: DetectedType = detectFileType(bytes);
  const name = safeFileName(request.filename, detected);
  if (!detected.image && !detected.bySignature && claimsImage(request.filename, request.declaredType)) {
    throw new UploadRefusedError(415, `file: the file is presented as an image (${describeClaim(request)}) but its content is not a JPEG, PNG, GIF or WebP image`);
  }
  if (!request.allowedTypes.includes(detected.contentType)) {
    throw new UploadRefusedError(415, `file: files of type ${detected.contentType} are not accepted here (accepted: ${request.allowedTypes.join(', ')})`);
  }
  if (!detected.image) return { name, contentType: detected.contentType, image: false, bytes, width: null, height: null, thumbnail: null };

  const type = detected.contentType as ImageType;
  try {
    const stripped = stripImageMetadata(bytes, type);
    const pixels = decodeImage(stripped.bytes, type, stripped);
    let thumbnail: Thumbnail | null = null;
    if (pixels) {
      if (pixels.width !== stripped.width || pixels.height !== stripped.height) throw new ImageFormatError('the image data does not match its declared size');
      thumbnail = encodeThumbnail(scaleToFit(orient(pixels, stripped.orientation), request.thumbnailSize));
    }
    // Width and height as the image is shown (a photo taken upright but stored sideways says so in EXIF).
    const turned = stripped.orientation >= 5;
    return {
      name,
      contentType: type,
      image: true,
      bytes: stripped.bytes,
      width: turned ? stripped.height : stripped.width,
      height: turned ? stripped.width : stripped.height,
      thumbnail,
    };
  } catch (err) {
    if (err instanceof ImageFormatError) throw new UploadRefusedError(415, `file: the content starts like ${type} but is not a valid image: ${err.message}`);
    throw err;
  }
}

function describeClaim(request: UploadRequest): string {
  const parts: string[] = [];
  if (request.filename) parts.push(`named ${JSON.stringify(request.filename.slice(0, 100))}`);
  if (request.declaredType && /^image\//i.test(request.declaredType)) parts.push(`declared ${request.declaredType.slice(0, 100)}`);
  return parts.join(', ');
}
