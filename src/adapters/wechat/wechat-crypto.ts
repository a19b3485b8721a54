// WeChat's callback protocol, as its docs describe it (../shared/CHANNELS.md "WeChat"): the SHA-1 signature of
// the sorted token, timestamp and nonce; safe mode's msg_signature (the same with the Encrypt field) and its
// AES-256-CBC envelope: key = base64(EncodingAESKey + "="), IV = the key's first 16 bytes, PKCS#7 padding to a
// multiple of 32 bytes, plaintext = random(16) ‖ length (4 bytes, big-endian) ‖ message ‖ AppID.
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

export function wechatSignature(...parts: string[]): string {
  return createHash('sha1').update([...parts].sort().join('')).digest('hex');
}

/** Whether `given` is the signature of the parts (constant time). */
export function signatureMatches(given: string, ...parts: string[]): boolean {
  const expected = Buffer.from(wechatSignature(...parts));
  const actual = Buffer.from(given.toLowerCase());
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** An EncodingAESKey is 43 characters of base64 (without its final "="), 32 bytes. */
export function isEncodingAesKey(value: string): boolean {
  return /^[A-Za-z0-9+/]{43}$/.test(value) && Buffer.from(`${value}=`, 'base64').length === 32;
}

function aesKey(encodingAesKey: string): Buffer {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (key.length !== 32) throw new Error('the EncodingAESKey is not 32 bytes');
  return key;
}

const block = 32;

/**
 * Decryption keys by EncodingAESKey, as KeyObjects with their IV: a decipher made from a KeyObject skips checking
 * and copying raw key bytes (several times cheaper per push). A few accounts' keys; forgotten wholesale past 1000.
 */
const decryptionKeys = new Map<string, { key: KeyObject; iv: Buffer }>();

function decryptionKey(encodingAesKey: string): { key: KeyObject; iv: Buffer } {
  let k = decryptionKeys.get(encodingAesKey);
  if (!k) {
    const raw = aesKey(encodingAesKey);
    k = { key: createSecretKey(raw), iv: Buffer.from(raw.subarray(0, 16)) };
    if (decryptionKeys.size >= 1000) decryptionKeys.clear();
    decryptionKeys.set(encodingAesKey, k);
  }
  return k;
}

export function encryptWechatMessage(encodingAesKey: string, appId: string, message: string, random: Buffer = randomBytes(16)): string {
  const key = aesKey(encodingAesKey);
  const body = Buffer.from(message, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const plain = Buffer.concat([random, length, body, Buffer.from(appId, 'utf8')]);
  const pad = block - (plain.length % block);
  const padded = Buffer.concat([plain, Buffer.alloc(pad, pad)]);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(padded), cipher.final()]).toString('base64');
}

export class WechatCryptoError extends Error {
  override readonly name = 'WechatCryptoError';
}

/** The message inside an Encrypt field, and the AppID it was sealed for (the caller compares it). */
export function decryptWechatMessage(encodingAesKey: string, encrypted: string): { message: string; appId: string } {
  const { key, iv } = decryptionKey(encodingAesKey);
  const data = Buffer.from(encrypted, 'base64');
  if (data.length === 0 || data.length % 16 !== 0) throw new WechatCryptoError('the Encrypt field is not whole AES blocks');
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    decipher.setAutoPadding(false);
    plain = Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    throw new WechatCryptoError('the Encrypt field does not decrypt');
  }
  const pad = plain[plain.length - 1]!;
  if (pad < 1 || pad > block || pad > plain.length) throw new WechatCryptoError('bad padding');
  // PKCS#7: every padding byte is the padding's length (WeChat pads so; anything else is not its envelope).
  for (let i = plain.length - pad; i < plain.length; i++) if (plain[i] !== pad) throw new WechatCryptoError('bad padding');
  const content = plain.subarray(0, plain.length - pad);
  if (content.length < 20) throw new WechatCryptoError('too short');
  const length = content.readUInt32BE(16);
  if (20 + length > content.length) throw new WechatCryptoError('bad length');
  return { message: content.subarray(20, 20 + length).toString('utf8'), appId: content.subarray(20 + length).toString('utf8') };
}
