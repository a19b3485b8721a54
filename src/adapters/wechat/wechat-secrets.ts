// Secrets of WeChat accounts at rest (AppSecret, token, EncodingAESKey): Kefu must read them back (to ask for
// tokens, check signatures, decrypt), so they are encrypted with AES-256-GCM, never hashed. The key is derived
// from the deployment's secrets key (src/adapters/sql/kept-keys.ts: KEFU_SECRETS_KEY, else a kept one). Events
// and read models hold only the sealed form.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { SealedSecret } from '../../domain/wechat-account/wechat-account.ts';

export class SecretBox {
  private readonly key: Buffer;
  constructor(key: Uint8Array) {
    // Any length of key material in, 32 bytes out.
    this.key = createHash('sha256').update('kefu-secrets\n').update(key).digest();
  }

  seal(secret: string): SealedSecret {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  open(sealed: SealedSecret): string {
    const [version, iv, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !body) throw new Error('not a sealed secret');
    const data = Buffer.from(body, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
  }
}
