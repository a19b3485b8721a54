// A chat send's batch in the contacts projection (its ContactMessageRecorded, or a side's read mark) is written
// with the projection's checkpoint move in one statement (issue 11), as the agents projection writes a presence change: no BEGIN with
// the move, the messages' statement and COMMIT, three round trips on what every send waits for (settle). The
// statement is guarded as the transaction was: a checkpoint that is not where the batch expects it (another
// runner moved it) writes nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams } from '../../src/domain/streams.ts';
import { contactsProjection } from '../../src/projections/contacts/contacts.projection.ts';
import { applyBatch, CheckpointMoved } from '../../src/projections/projection-runner.ts';
import { fromPage } from '../support/chat.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { watchQueries } from '../support/read-model.ts';
import { noReceptionPrompts } from '../support/reception.ts';
import { wantPostgres } from '../support/services.ts';

const databases: ('pglite' | 'postgres')[] = (await wantPostgres()) ? ['pglite', 'postgres'] : ['pglite'];
const origin = 'https://shop.example';
const SEND = 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq } }';

describe.each(databases)('the contacts projection writes a chat send in one statement (%s)', (database) => {
  let t: TestKefu;
  let instanceId: string;
  let customer: string;
  let contactId: string;
  const contactsStatements: string[] = [];
  const { ok } = fromPage(() => t, origin);
  const send = async (text: string) =>
    (await ok<{ sendChatMessage: { seq: number } }>(customer, SEND, { input: { contactId, message: { clientMessageId: randomUUID(), text } } })).sendChatMessage.seq;
  const messages = () =>
    t.kefu.db.selectFrom('contact_messages').select(['seq', 'text', 'sender']).where('instance_id', '=', instanceId).where('contact_id', '=', contactId).orderBy('seq').execute();
  const chatRow = () => t.kefu.db.selectFrom('contacts').select(['last_seq', 'status', 'updated_at']).where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirstOrThrow();

  beforeAll(async () => {
    t = await startTestKefu({ database, env: { KEFU_CHAT_LIMIT_MESSAGE: '1000/10' } });
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    instanceId = seed.instanceId;
    const group = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
        input: { name: 'Chat', channel: 'ONLINE', maxConcurrency: 5 },
      })
    ).createSkillGroup.id;
    const key = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group, receptionPrompts: noReceptionPrompts },
      })
    ).createWebChannel.webChannel.publicKey;
    customer = (await ok<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey: key, name: 'Cathy' } }))
      .startCustomerSession.token;
    contactId = (await ok<{ startChat: { contactId: string } }>(customer, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId } }', { input: { clientChatId: randomUUID() } })).startChat.contactId;
    watchQueries(t.kefu.sql, (text) => {
      // The contacts projection's writes: its guarded move (alone or with BEGIN), the run's statement, or the one statement.
      if (!/^\s*select/i.test(text) && /name = 'contacts'|contact_messages|UPDATE contacts|update "contacts"/i.test(text)) contactsStatements.push(text);
    });
  }, 180_000);
  afterAll(async () => t?.close());

  it('writes each message with the checkpoint move in one statement', async () => {
    // The chat's first batches (created, queued) go in transactions; the projection has seen no parked part since.
    const first = await send('first');
    for (const text of ['Hello 👋', '<b>not bold</b>', 'third']) {
      contactsStatements.length = 0;
      const seq = await send(text);
      expect(contactsStatements).toHaveLength(1);
      expect(contactsStatements[0]).toMatch(/^\/\* prepared \*\/ WITH moved AS \(UPDATE kefu_projection_checkpoints/);
      const row = await chatRow();
      expect(row.last_seq).toBe(seq);
      expect((await messages()).at(-1)).toEqual({ seq, text, sender: 'CUSTOMER' });
    }
    const all = await messages();
    // Gap-free, each once.
    expect(all.filter((m) => m.seq >= first).map((m) => m.text)).toEqual(['first', 'Hello 👋', '<b>not bold</b>', 'third']);
    expect(all.map((m) => m.seq)).toEqual(all.map((_, i) => i + 1));
  });

  it("writes a side's read mark with the checkpoint move in one statement, leaving updated_at", async () => {
    // A live chat's read mark follows about every message (the other side saw it): it was BEGIN with the move, an
    // UPDATE of the row and COMMIT; now the run's one statement, as a message.
    const seq = await send('read me');
    const before = await chatRow();
    contactsStatements.length = 0;
    const read = await ok<{ markRead: { customerLastReadSeq: number } }>(customer, 'mutation($c: ID!) { markRead(input: { contactId: $c, seq: ' + String(seq) + ' }) { customerLastReadSeq } }', { c: contactId });
    expect(read.markRead.customerLastReadSeq).toBe(seq);
    expect(contactsStatements).toHaveLength(1);
    expect(contactsStatements[0]).toMatch(/^\/\* prepared \*\/ WITH moved AS \(UPDATE kefu_projection_checkpoints/);
    const row = await t.kefu.db.selectFrom('contacts').select(['customer_last_read_seq', 'agent_last_read_seq', 'last_seq', 'updated_at']).where('instance_id', '=', instanceId).where('id', '=', contactId).executeTakeFirstOrThrow();
    // Only the customer's read seq moved: the row's time is its last message's, as the one-at-a-time path leaves it.
    expect(row).toEqual({ customer_last_read_seq: seq, agent_last_read_seq: 0, last_seq: before.last_seq, updated_at: before.updated_at });
  });

  it('writes nothing when the checkpoint is not where the batch expects it', async () => {
    const seq = await send('one more');
    const event = (await t.kefu.store.readStream(streams.contact(instanceId, contactId))).findLast((e) => e.type === 'ContactMessageRecorded')!;
    const before = await chatRow();
    // A message that was never stored, from a position the checkpoint is not at (another runner moved it past): refused.
    const ghost = { ...event, data: { ...(event.data as object), messageId: randomUUID(), clientMessageId: randomUUID(), seq: seq + 1, text: 'ghost' } };
    contactsStatements.length = 0;
    await expect(applyBatch(t.kefu.db, contactsProjection, { commit: 1n, prepare: 0n }, [ghost as never])).rejects.toBeInstanceOf(CheckpointMoved);
    expect(contactsStatements[0]).toMatch(/^\/\* prepared \*\/ WITH moved AS/);
    expect(await chatRow()).toEqual(before);
    expect((await messages()).some((m) => m.text === 'ghost')).toBe(false);
  });
});
