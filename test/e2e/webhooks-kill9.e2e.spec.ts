// Webhooks across kill -9 (issue 16): Kefu runs as a child process and is killed while it is delivering to a
// local endpoint that failed at first and answers slowly; after a restart on the same data every event is
// delivered (at least once: a delivery in flight at the kill may come twice, with the same Kefu-Delivery id),
// in order, each with a valid signature.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/adapters/webhooks/webhook-signature.ts';
import { freshPostgresSchema } from '../support/services.ts';
import { okHttp, seedOverHttp, spawnKefu } from '../support/process.ts';
import { until } from '../support/until.ts';
import { startWebhookReceiver } from '../support/webhook-receiver.ts';

const operatorToken = 'webhooks-kill-nine-operator-token';
const webhookEnv = {
  KEFU_OPERATOR_TOKEN: operatorToken,
  KEFU_WEBHOOK_ALLOW_HTTP: 'on',
  KEFU_WEBHOOK_ALLOW_PRIVATE: 'on',
  KEFU_WEBHOOK_BACKOFF_MIN_MS: '50',
  KEFU_WEBHOOK_BACKOFF_MAX_MS: '200',
};

async function deliversAcrossKill(env: Record<string, string>) {
  const receiver = await startWebhookReceiver();
  // Two failures first, then slow answers: the kill comes while deliveries are still queued.
  receiver.answerWith(({ n }) => (n < 2 ? 503 : { status: 200, delayMs: 100 }));
  const first = await spawnKefu({ ...env, ...webhookEnv }, 180_000);
  let second: Awaited<ReturnType<typeof spawnKefu>> | null = null;
  try {
    const seed = await seedOverHttp(first.url, operatorToken);
    const created = await okHttp<{ createWebhook: { secret: string } }>(first.url, seed.adminKey, 'mutation($url: String!) { createWebhook(input: { url: $url, eventKinds: [AGENT_STATUS_CHANGED] }) { secret } }', {
      url: receiver.url,
    });
    const cycle = ['AVAILABLE', 'BREAK', 'OFFLINE'];
    const expected = Array.from({ length: 24 }, (_, i) => cycle[i % 3]!);
    for (const p of expected) {
      await okHttp(first.url, seed.agentToken, 'mutation($input: SetPresenceInput!) { setPresence(input: $input) { id } }', { input: { presence: p, ...(p === 'BREAK' ? { reason: 'Meal' } : {}) } });
    }
    await until(async () => receiver.delivered().length, (n) => n >= 4);
    await first.kill9();
    const beforeRestart = receiver.delivered().length;
    expect(beforeRestart).toBeLessThan(expected.length);

    second = await spawnKefu({ ...env, ...webhookEnv }, 180_000);
    const delivered = await until(async () => receiver.delivered(), (d) => d.length >= expected.length, 120_000);
    expect(delivered.map((d) => d.json.data.presence)).toEqual(expected);
    expect(new Set(delivered.map((d) => d.json.eventId)).size).toBe(expected.length);
    const now = Math.floor(Date.now() / 1000);
    for (const d of receiver.received) expect(verifySignature(created.createWebhook.secret, d.body, d.signature, now)).toBe(true);
    // Whatever came twice came with the same delivery id, in place (a resend of the delivery in flight at the kill).
    const ids = receiver.received.filter((r) => r.answered === 200).map((r) => r.deliveryId);
    const order = delivered.map((d) => d.deliveryId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i).every((id) => order.includes(id))).toBe(true);
  } finally {
    await first.stop();
    await second?.stop();
    await receiver.close();
  }
}

describe('webhooks across kill -9', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('delivers everything in order after a restart on the embedded database', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-webhooks-kill9-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    await deliversAcrossKill({ KEFU_DATA_DIR: dir });
  }, 600_000);

  it('delivers everything in order after a restart on PostgreSQL', async () => {
    const schema = await freshPostgresSchema();
    await schema.client.close();
    cleanups.push(schema.drop);
    const files = mkdtempSync(path.join(tmpdir(), 'kefu-webhooks-kill9-files-'));
    cleanups.push(async () => rmSync(files, { recursive: true, force: true }));
    await deliversAcrossKill({ DATABASE_URL: schema.url, KEFU_DATA_DIR: files });
  }, 600_000);
});
