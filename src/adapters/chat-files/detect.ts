// What an uploaded chat file is, from its first bytes (OL-15): never from its name or the type the browser
// declared. Images and PDF have signatures; plain text is recognised by being valid UTF-8 without control
// characters; anything else is application/octet-stream, accepted only if the allow-list names it.

export type ImageType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

export interface DetectedType {
  contentType: string;
  /** Images are checked, stripped of metadata, measured and get a thumbnail; other files are kept as sent. */
  image: boolean;
  /** True when a signature named the type; false for the fallbacks (text, octet-stream). */
  bySignature: boolean;
  /** The extension a download of it should carry. */
  extension: string;
}

const startsWith = (bytes: Uint8Array, signature: readonly number[], at = 0) =>
  bytes.length >= at + signature.length && signature.every((b, i) => bytes[at + i] === b);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

const signatures: { contentType: string; image: boolean; extension: string; matches: (b: Uint8Array) => boolean }[] = [
  { contentType: 'image/jpeg', image: true, extension: 'jpg', matches: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  { contentType: 'image/png', image: true, extension: 'png', matches: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { contentType: 'image/gif', image: true, extension: 'gif', matches: (b) => startsWith(b, ascii('GIF87a')) || startsWith(b, ascii('GIF89a')) },
  { contentType: 'image/webp', image: true, extension: 'webp', matches: (b) => startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8) },
  { contentType: 'application/pdf', image: false, extension: 'pdf', matches: (b) => startsWith(b, ascii('%PDF-')) },
  { contentType: 'application/zip', image: false, extension: 'zip', matches: (b) => startsWith(b, [0x50, 0x4b, 0x03, 0x04]) },
  { contentType: 'audio/mpeg', image: false, extension: 'mp3', matches: (b) => startsWith(b, ascii('ID3')) },
  { contentType: 'video/mp4', image: false, extension: 'mp4', matches: (b) => startsWith(b, ascii('ftyp'), 4) },
];

/** Every type detection can name: the allow-list setting may only name these. */
export const detectableTypes: readonly string[] = [...signatures.map((s) => s.contentType), 'text/plain', 'application/octet-stream'];

export const defaultAllowedTypes: readonly string[] = ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'application/pdf', 'text/plain'];

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Valid UTF-8 with no control characters other than tab, line feed, form feed and carriage return. */
function isPlainText(bytes: Uint8Array): boolean {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(text);
}

export function detectFileType(bytes: Uint8Array): DetectedType {
  for (const s of signatures) {
    if (s.matches(bytes)) return { contentType: s.contentType, image: s.image, bySignature: true, extension: s.extension };
  }
  if (bytes.length > 0 && isPlainText(bytes)) return { contentType: 'text/plain', image: false, bySignature: false, extension: 'txt' };
  return { contentType: 'application/octet-stream', image: false, bySignature: false, extension: 'bin' };
}

const imageExtensions = /\.(jpe?g|jfif|png|apng|gif|webp|bmp|heic|heif|avif|tiff?|svg)$/i;

/** Whether the sender presented the file as an image (by its name or its declared type). */
export function claimsImage(filename: string | null, declaredType: string | null): boolean {
  return (declaredType !== null && /^image\//i.test(declaredType.trim())) || (filename !== null && imageExtensions.test(filename.trim()));
}

const extensionsOf: Record<string, readonly string[]> = {
  'image/jpeg': ['jpg', 'jpeg', 'jfif'],
  'image/png': ['png'],
  'image/gif': ['gif'],
  'image/webp': ['webp'],
  'application/pdf': ['pdf'],
  'application/zip': ['zip', 'docx', 'xlsx', 'pptx', 'odt', 'ods', 'odp', 'epub'],
  'audio/mpeg': ['mp3'],
  'video/mp4': ['mp4', 'm4a', 'm4v', 'mov'],
  'text/plain': ['txt', 'text', 'log', 'csv', 'md', 'json'],
};

/**
 * The name a file is kept and served under: the base name the browser sent, without control or path
 * characters, at most 120 characters, with an extension matching what the content is (a PDF called
 * photo.png becomes photo.pdf, so no program opens it as something else).
 */
export function safeFileName(filename: string | null, detected: DetectedType): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  let name = base.replace(/[\u0000-\u001f\u007f"<>:|?*\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '').trim();
  name = [...name].slice(0, 120).join('');
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  const allowed = extensionsOf[detected.contentType] ?? [];
  const cleanStem = stem.replace(/^\.+/, '').trim() || 'file';
  if (allowed.includes(ext)) return `${cleanStem}.${ext}`;
  return `${cleanStem}.${detected.extension}`;
}
