// Secrets of WeChat accounts at rest (AppSecret, token, EncodingAESKey): Kefu must read them back (to ask for
// tokens, check signatures, decrypt), so they are encrypted with AES-256-GCM, never hashed. The key is
// KEFU_SECRETS_KEY when set (kept outside the databases), else one made on the first start and kept in
// kefu_secrets (shared by every process of the deployment). Events and read models hold only the sealed form.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { SealedSecret } from '../../domain/wechat-account/wechat-account.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { randomToken } from '../../api/credentials.ts';

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

/** The secrets key: KEFU_SECRETS_KEY, else the deployment's own, made once. */
export async function secretsKey(db: ReadModel, configured: string | undefined): Promise<Uint8Array> {
  if (configured) return Buffer.from(configured, 'utf8');
  await db
    .insertInto('kefu_secrets')
    .values({ name: 'secrets_key', value: randomToken(32), created_at: new Date() })
    .onConflict((c) => c.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('kefu_secrets').select('value').where('name', '=', 'secrets_key').executeTakeFirstOrThrow();
  return Buffer.from(row.value, 'base64url');
}
