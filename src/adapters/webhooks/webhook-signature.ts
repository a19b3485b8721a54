// Webhook secrets and signatures (issue 16). A webhook's secret is derived, never stored: HMAC-SHA256 of the
// instance, the webhook and a random salt (the salt is in the webhook's events) under a key Kefu keeps
// (derived from the deployment's secrets key: src/adapters/sql/kept-keys.ts). Each delivery is signed
// HMAC-SHA256(secret, `${timestamp}.${body}`) and sent as `Kefu-Signature: t=<unix seconds>,v1=<hex>`.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export function newSecretSalt(): string {
  return randomBytes(18).toString('base64url');
}

export function webhookSecret(key: Uint8Array, instanceId: string, webhookId: string, salt: string): string {
  return `whsec_${createHmac('sha256', key).update(`${instanceId}/${webhookId}/${salt}`).digest('base64url')}`;
}

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does (the README shows it): recompute the HMAC over `${t}.${body}` with the secret and compare
 * in constant time; refuse a timestamp older than `toleranceSeconds` (a replayed request).
 */
export function verifySignature(secret: string, body: string, header: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const parts = new Map(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}
