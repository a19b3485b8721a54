// One open chat per customer and web channel: a second startChat with another clientChatId (another tab
// without the widget's lock, a verified customer's second device, an API client) joins the chat that is open,
// and its first message goes there; starts racing each other make one chat; once the chat is over the next
// start makes a new one; another channel, or another customer, has chats of its own.
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { fromPage } from '../support/chat.ts';
import { noReceptionPrompts } from '../support/reception.ts';

const origin = 'https://shop.example';
const START = 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId status } }';

for (const database of ['pglite', 'postgres'] as const) {
  describe(`one open chat per customer (${database})`, () => {
    let t: TestKefu;
    let seed: Awaited<ReturnType<typeof seedInstance>>;
    const channels: { key: string; secret: string }[] = [];
    const { ok } = fromPage(() => t, origin);

    const sessionOf = async (input: Record<string, unknown>) =>
      (await ok<{ startCustomerSession: { token: string; visitorId: string | null } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token visitorId } }', { input })).startCustomerSession;
    const session = async (input: Record<string, unknown>) => (await sessionOf(input)).token;
    const visitor = (key = channels[0]!.key, visitorId?: string) => session({ channelKey: key, ...(visitorId ? { visitorId } : {}) });
    const verified = (customerId: string) => session({ channelKey: channels[0]!.key, customerId, customerHash: createHmac('sha256', channels[0]!.secret).update(customerId).digest('hex') });
    const start = async (token: string, firstText?: string) =>
      (
        await ok<{ startChat: { contactId: string; status: string } }>(token, START, {
          input: { clientChatId: randomUUID(), ...(firstText ? { firstMessage: { clientMessageId: randomUUID(), text: firstText } } : {}) },
        })
      ).startChat;
    const customerTexts = async (token: string, contactId: string) =>
      (
        await ok<{ chatTranscript: { messages: { sender: string; text: string | null }[] } }>(token, 'query($c: ID!) { chatTranscript(contactId: $c, first: 100) { messages { sender text } } }', { c: contactId })
      ).chatTranscript.messages
        .filter((m) => m.sender === 'CUSTOMER')
        .map((m) => m.text);

    beforeAll(async () => {
      t = await startTestKefu({ database, env: { KEFU_CHAT_LIMIT_CHAT: '1000/3600', KEFU_CHAT_LIMIT_MESSAGE: '1000/10' } });
      seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
      const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Chat', channel: 'ONLINE', maxConcurrency: 5 } })).createSkillGroup.id;
      for (const name of ['Shop', 'Other shop']) {
        const made = (
          await t.ok<{ createWebChannel: { identitySecret: string; webChannel: { publicKey: string } } }>(
            seed.adminKey,
            'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { identitySecret webChannel { publicKey } } }',
            { input: { name, allowedOrigins: [origin], skillGroupId: group, receptionPrompts: noReceptionPrompts } },
          )
        ).createWebChannel;
        channels.push({ key: made.webChannel.publicKey, secret: made.identitySecret });
      }
    }, 180_000);
    afterAll(async () => {
      await t?.close();
    });

    it('a second start joins the open chat and its first message goes there, once', async () => {
      const token = await visitor();
      const first = await start(token, 'My order is late');
      expect(first.status).toBe('QUEUED');
      const second = await start(token, 'Order SO-1');
      expect(second.contactId).toBe(first.contactId);
      expect(await customerTexts(token, first.contactId)).toEqual(['My order is late', 'Order SO-1']);
      // The same second start retried (same clientChatId and clientMessageId) stores nothing more.
      const retry = { clientChatId: randomUUID(), firstMessage: { clientMessageId: randomUUID(), text: 'Order SO-2' } };
      for (let i = 0; i < 2; i++) expect((await ok<{ startChat: { contactId: string } }>(token, START, { input: retry })).startChat.contactId).toBe(first.contactId);
      expect(await customerTexts(token, first.contactId)).toEqual(['My order is late', 'Order SO-1', 'Order SO-2']);
      // The customer's own list holds one chat.
      const mine = await ok<{ myConversations: { edges: unknown[] } }>(token, 'query { myConversations(first: 10) { edges { node { contactId } } } }');
      expect(mine.myConversations.edges).toHaveLength(1);
    });

    it('starts racing each other make one chat', async () => {
      const token = await visitor();
      const started = await Promise.all(Array.from({ length: 6 }, (_, i) => start(token, `tab ${i}`)));
      expect(new Set(started.map((s) => s.contactId)).size).toBe(1);
      const texts = await customerTexts(token, started[0]!.contactId);
      expect([...texts].sort()).toEqual(Array.from({ length: 6 }, (_, i) => `tab ${i}`));
    });

    it('a verified customer\'s second device joins the chat of the first', async () => {
      const id = `cust-${randomUUID()}`;
      const phone = await start(await verified(id), 'from my phone');
      const laptopToken = await verified(id);
      const laptop = await start(laptopToken, 'now on my laptop');
      expect(laptop.contactId).toBe(phone.contactId);
      expect(await customerTexts(laptopToken, phone.contactId)).toEqual(['from my phone', 'now on my laptop']);
    });

    it('after the chat ended the next start is a new chat; another channel or another visitor has its own', async () => {
      const me = await sessionOf({ channelKey: channels[0]!.key });
      const token = me.token;
      const first = await start(token);
      await ok(token, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { contactId } }', { c: first.contactId });
      const next = await start(token, 'one more question');
      expect(next.contactId).not.toBe(first.contactId);
      expect(next.status).toBe('QUEUED');
      // The same visitor id on the other channel, and another visitor on this one: chats of their own.
      const elsewhere = await start(await visitor(channels[1]!.key, me.visitorId!));
      expect(elsewhere.contactId).not.toBe(next.contactId);
      const someoneElse = await start(await visitor());
      expect(someoneElse.contactId).not.toBe(next.contactId);
    });
  });
}
