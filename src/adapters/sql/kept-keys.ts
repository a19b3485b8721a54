// Keys Kefu keeps for itself (kefu_secrets): drawn once, on first use, and shared by every process of one
// deployment through its database. And the deployment's one secrets key (KEFU_SECRETS_KEY, kept outside the
// databases when set; else a kept key), from which each use derives its own key (HKDF-SHA256 with the use's
// name), so one setting covers WeChat's sealed secrets and webhook signing secrets, and no two uses share a key.
import { hkdfSync, randomBytes } from 'node:crypto';
import type { ReadModel } from '../../projections/projection.ts';

/** The kept key named `name`: made on the first call of any process, the same ever after. */
export async function keptKey(db: ReadModel, name: string): Promise<Uint8Array> {
  await db
    .insertInto('kefu_secrets')
    .values({ name, value: randomBytes(32).toString('base64url'), created_at: new Date() })
    .onConflict((c) => c.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('kefu_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return Buffer.from(row.value, 'base64url');
}

/** The key of one use (`purpose`), derived from the deployment's secrets key. */
export async function secretsKeyFor(db: ReadModel, configured: string | undefined, purpose: string): Promise<Uint8Array> {
  const master = configured ? Buffer.from(configured, 'utf8') : await keptKey(db, 'secrets_key');
  return new Uint8Array(hkdfSync('sha256', master, Buffer.alloc(0), `kefu/${purpose}`, 32));
}
