// A chat message's send is answered once the contacts projection has it, and that projection's batch publishes the
// message to the conversation's subscribers: its batches do not wait for the live fan-out's frames in flight
// (yieldTo), which under a steady chat load are about always there (issue 11: each batch waited up to 100 ms).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { contactsProjection } from '../../src/projections/contacts/contacts.projection.ts';
import { ProjectionRunner } from '../../src/projections/projection-runner.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

let t: TestKefu;

describe('the contacts projection is live', () => {
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    // Its projections' leases go back, so that the runner below runs contacts.
    await t.kefu.projections.stop();
  });
  afterAll(async () => t?.close());

  it('applies a batch while the live fan-out has frames in flight', async () => {
    const runner = new ProjectionRunner({
      store: t.kefu.store,
      db: t.kefu.db,
      sql: t.kefu.sql,
      bus: new InProcessBus(),
      projections: [contactsProjection],
      logger: silent,
      // The fan-out never finishes writing; a projection that waits for it waits the whole cap.
      yieldTo: () => new Promise<void>(() => undefined),
      yieldMaxMs: 120_000,
    });
    await runner.start();
    try {
      const head = await t.kefu.store.headPosition();
      if (head) expect(await runner.waitFor(head, { timeoutMs: 30_000 })).toBe(true);
      const instanceId = randomUUID();
      const contactId = randomUUID();
      const { position } = await t.kefu.commands.handle(streams.contact(instanceId, contactId), contactDecider, {
        type: 'CreateContact',
        data: {
          contactId,
          channel: 'PHONE',
          direction: 'IN',
          customer: { kind: 'PHONE', id: '+8613900000000', name: null },
          data: {},
          call: { callId: `${contactId}@trunk`, direction: 'IN', from: '+8613900000000', to: '+864009999999', trunkId: null, node: 'node-a' },
        },
        metadata: { now: new Date().toISOString(), instanceId, actor: 'system:sip', correlationId: randomUUID() },
      });
      // Well before the cap: the batch did not wait for the frames.
      expect(await runner.waitFor(position!, { projections: ['contacts'], timeoutMs: 30_000 })).toBe(true);
      const row = await t.kefu.db.selectFrom('contacts').select('id').where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirst();
      expect(row?.id).toBe(contactId);
    } finally {
      await runner.stop();
    }
  }, 90_000);
});
