// A live projection's batch (contacts: what a chat send settles on, and what publishes its message to the
// conversation's subscribers) runs on the client's reserved connections (liveDb), not on the pool the requests share: with
// every connection of that pool taken, it still applies (issue 11: in the chat bench the shared pool had all its
// connections taken a third of the time and a contacts batch waited for one p50 100-500 ms, every send behind it).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { createKysely } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPostgresClient, reservedView, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { contactsProjection } from '../../src/projections/contacts/contacts.projection.ts';
import { ProjectionRunner } from '../../src/projections/projection-runner.ts';
import type { ReadModelDb } from '../../src/projections/read-model-db.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

let t: TestKefu;

describe('live projections have connections of their own', () => {
  beforeAll(async () => {
    t = await startTestKefu({ database: 'postgres' });
    // Its projections' leases go back, so that the runner below runs contacts.
    await t.kefu.projections.stop();
  });
  afterAll(async () => t?.close());

  it('applies a contacts batch while every connection of the shared pool is taken', async () => {
    // The shared pool: one connection, taken below for as long as the test needs; liveDb as main.ts makes it.
    const shared: SqlClient = createPostgresClient(t.databaseUrl!, { max: 1 });
    const db = createKysely<ReadModelDb>(shared);
    const liveDb = createKysely<ReadModelDb>(reservedView(shared));
    const runner = new ProjectionRunner({ store: t.kefu.store, db, liveDb, sql: t.kefu.sql, bus: new InProcessBus(), projections: [contactsProjection], logger: silent });
    let release!: () => void;
    let held: Promise<void> | null = null;
    try {
      await runner.start();
      const head = await t.kefu.store.headPosition();
      if (head) expect(await runner.waitFor(head, { timeoutMs: 30_000 })).toBe(true);
      // Every connection of the shared pool taken (requests waiting for one, say).
      let taken!: () => void;
      const isTaken = new Promise<void>((resolve) => (taken = resolve));
      held = shared.withConnection(() => {
        taken();
        return new Promise<void>((resolve) => (release = resolve));
      });
      await isTaken;
      const instanceId = randomUUID();
      const contactId = randomUUID();
      const { position } = await t.kefu.commands.handle(streams.contact(instanceId, contactId), contactDecider, {
        type: 'CreateContact',
        data: {
          contactId,
          channel: 'PHONE',
          direction: 'IN',
          customer: { kind: 'PHONE', id: '+8613900000001', name: null },
          data: {},
          call: { callId: `${contactId}@trunk`, direction: 'IN', from: '+8613900000001', to: '+864009999999', trunkId: null, node: 'node-a' },
        },
        metadata: { now: new Date().toISOString(), instanceId, actor: 'system:sip', correlationId: randomUUID() },
      });
      // On the shared pool the batch would wait for the taken connection until the timeout.
      expect(await runner.waitFor(position!, { projections: ['contacts'], timeoutMs: 30_000 })).toBe(true);
      const row = await liveDb.selectFrom('contacts').select('id').where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirst();
      expect(row?.id).toBe(contactId);
    } finally {
      release?.();
      await held;
      await runner.stop();
      await db.destroy();
      await liveDb.destroy();
      await shared.close();
    }
  }, 120_000);
});
