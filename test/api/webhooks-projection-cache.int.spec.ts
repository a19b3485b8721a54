// The webhooks projection keeps each instance's webhooks between batches instead of reading its table for every
// batch of chat messages (issue 11). What it keeps must follow every change: a webhook created, its kinds
// changed, deleted; a change in a batch that rolls back is not kept; a runner start or rebuild forgets it all.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { webhooksProjection } from '../../src/projections/webhooks/webhooks.projection.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { wantPostgres } from '../support/services.ts';

describe('webhooks projection: the webhooks it keeps between batches', async () => {
  const database = (await wantPostgres()) ? 'postgres' : 'pglite';
  let t: TestKefu;
  let n = 0;
  const instanceId = `cache-${randomUUID()}`;
  const webhookId = randomUUID();
  const event = (streamId: string, type: string, data: Record<string, unknown>): RecordedEvent => {
    n++;
    return {
      id: randomUUID(),
      streamId,
      revision: n,
      type,
      data,
      metadata: { correlationId: 'c', causationId: null, actor: 'test', instanceId, occurredAt: new Date().toISOString() },
      position: { commit: BigInt(1_000_000 + n), prepare: 0n },
    };
  };
  const message = () => event(`contact-${instanceId}.c1`, 'ContactMessageRecorded', { contactId: 'c1', messageId: randomUUID(), from: 'CUSTOMER', agentId: null, text: 'hi', seq: n, at: new Date().toISOString() });
  const webhook = (type: string, data: Record<string, unknown>) => event(`webhook-${instanceId}.${webhookId}`, type, data);
  /** Applies a batch in a transaction of its own; `rollBack`: the transaction fails after it. */
  const apply = async (events: RecordedEvent[], rollBack = false) => {
    await t.kefu.db
      .transaction()
      .execute(async (trx) => {
        await webhooksProjection.applyBatch!(trx, events, { publish: () => undefined });
        if (rollBack) throw new Error('rolled back');
      })
      .catch((err: unknown) => {
        if (!rollBack) throw err;
      });
  };
  const queued = async (events: RecordedEvent[]) => {
    const rows = await t.kefu.db.selectFrom('webhook_deliveries').select('event_id').where('instance_id', '=', instanceId).execute();
    const ids = new Set(rows.map((r) => r.event_id));
    return events.map((e) => ids.has(e.id));
  };

  beforeAll(async () => {
    t = await startTestKefu({ database });
  });
  afterAll(async () => t?.close());

  it('queues by the webhooks as they are after each change, never by one rolled back', async () => {
    // No webhook: nothing queued (and "none" is what it keeps).
    const m1 = message();
    await apply([m1]);
    // Created: the next batch's message is queued even though "none" was kept.
    await apply([webhook('WebhookCreated', { webhookId, url: 'https://hooks.example/a', eventKinds: ['CHAT_MESSAGE'], secretSalt: 's' })]);
    const m2 = message();
    await apply([m2]);
    // Its kinds changed in a batch that rolls back: still queued by the committed kinds.
    await apply([webhook('WebhookUpdated', { eventKinds: ['CONTACT_ENDED'] }), message()], true);
    const m3 = message();
    await apply([m3]);
    // Changed for real, and a message in the same batch after it: not queued, nor later ones.
    const m4 = message();
    await apply([webhook('WebhookUpdated', { eventKinds: ['CONTACT_ENDED'] }), m4]);
    const m5 = message();
    await apply([m5]);
    // Kinds back, then deleted: queued in between, not after.
    await apply([webhook('WebhookUpdated', { eventKinds: ['CHAT_MESSAGE'] })]);
    const m6 = message();
    await apply([m6]);
    await apply([webhook('WebhookDeleted', {})]);
    const m7 = message();
    await apply([m7]);
    expect(await queued([m1, m2, m3, m4, m5, m6, m7])).toEqual([false, true, true, false, false, true, false]);
  });

  it('reads the table again after a reset (another process may have changed it)', async () => {
    const other = `cache-${randomUUID()}`;
    const mk = (type: string, data: Record<string, unknown>, stream: string): RecordedEvent => ({ ...event(stream, type, data), metadata: { ...event(stream, type, data).metadata, instanceId: other } });
    const before = mk('ContactMessageRecorded', { contactId: 'c2', messageId: randomUUID(), from: 'CUSTOMER', agentId: null, text: 'x', seq: 1, at: new Date().toISOString() }, `contact-${other}.c2`);
    await apply([before]);
    // A webhook written behind its back (as another process running the projection would).
    const now = new Date().toISOString();
    await t.kefu.db.insertInto('webhooks').values({ instance_id: other, id: randomUUID(), url: 'https://hooks.example/b', event_kinds: JSON.stringify(['CHAT_MESSAGE']), secret_salt: 's', created_at: now, updated_at: now }).execute();
    webhooksProjection.reset!();
    const after = mk('ContactMessageRecorded', { contactId: 'c2', messageId: randomUUID(), from: 'CUSTOMER', agentId: null, text: 'y', seq: 2, at: now }, `contact-${other}.c2`);
    await apply([after]);
    const rows = await t.kefu.db.selectFrom('webhook_deliveries').select('event_id').where('instance_id', '=', other).execute();
    expect(rows.map((r) => r.event_id)).toEqual([after.id]);
  });
});
