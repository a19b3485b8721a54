// The router and the chat reception keep a folded state of every chat in memory, but never decide on it: they
// keep no client message ids (sentMessages), which only the decider reads, from the command handler's fold of
// the stream (issue 11: each message left an entry and its key alive in both, for as long as they kept the chat).
// A retried send is still answered with the message stored the first time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sentMessageKey, sentMessageSeq, type ContactState } from '../../src/domain/contact/contact.ts';
import { streams } from '../../src/domain/streams.ts';
import { chatDesk, connectedChat, fromPage } from '../support/chat.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const origin = 'https://shop.example';

/** What the router and the reception keep of a chat. */
interface Kept {
  state: ContactState;
}
interface RouterInside {
  contacts: Map<string, Kept>;
  working: Promise<void>;
}
interface ReceptionInside {
  chats: Map<string, Kept>;
}

const sentSize = (s: ContactState | undefined) => (s && s.status !== 'none' ? (s.sentMessages?.size ?? 0) : -1);
const messagesOf = (s: ContactState | undefined) => (s && s.status !== 'none' ? (s.messageCount ?? 0) : -1);

describe('router and chat reception: no client message ids in memory (pglite)', () => {
  let t: TestKefu;
  const page = fromPage(() => t, origin);
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', env: { KEFU_CHAT_LIMIT_MESSAGE: '1000/10' } });
  }, 180_000);
  afterAll(async () => t?.close());

  it('keeps messages counted without their ids; the decider still answers a retry with the stored message', async () => {
    const { seed, ann, key } = await chatDesk(t, origin);
    const { customer, contactId } = await connectedChat(t, page, key, ann.token);

    const send = async (token: string, clientMessageId: string, text: string) =>
      (await page.ok<{ sendChatMessage: { seq: number; text: string } }>(token, 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { seq text } }', { input: { contactId, message: { clientMessageId, text } } })).sendChatMessage;
    const sent: { from: 'CUSTOMER' | 'AGENT'; id: string; seq: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const c = randomUUID();
      sent.push({ from: 'CUSTOMER', id: c, seq: (await send(customer, c, `question ${i}`)).seq });
      const a = randomUUID();
      sent.push({ from: 'AGENT', id: a, seq: (await send(ann.token, a, `answer ${i}`)).seq });
    }
    // Retries (the same client message ids, other text): the first messages again, nothing appended.
    expect(await send(customer, sent[0]!.id, 'question 0 again')).toEqual({ seq: sent[0]!.seq, text: 'question 0' });
    expect(await send(ann.token, sent[1]!.id, 'answer 0 again')).toEqual({ seq: sent[1]!.seq, text: 'answer 0' });

    const chatKey = streams.contact(seed.instanceId, contactId);
    const router = t.kefu.router as unknown as RouterInside;
    const reception = t.kefu.reception as unknown as ReceptionInside;
    const last = Math.max(...sent.map((s) => s.seq));
    // Both have folded every message (counted), and kept none of their ids.
    await until(async () => [messagesOf(router.contacts.get(chatKey)?.state), messagesOf(reception.chats.get(chatKey)?.state)], (n) => n.every((m) => m >= last), 30_000);
    await router.working;
    expect(messagesOf(router.contacts.get(chatKey)?.state)).toBe(last);
    expect(messagesOf(reception.chats.get(chatKey)?.state)).toBe(last);
    expect(sentSize(router.contacts.get(chatKey)?.state)).toBe(0);
    expect(sentSize(reception.chats.get(chatKey)?.state)).toBe(0);
    // The decider's state (the command handler's fold) has each of them, with its seq.
    const decided = t.kefu.commands.peek<ContactState>(chatKey)?.state;
    const agentId = (s: (typeof sent)[number]) => (s.from === 'AGENT' ? ann.id : null);
    expect(sent.map((s) => (decided && decided.status !== 'none' ? sentMessageSeq(decided.sentMessages, sentMessageKey(s.from, agentId(s), s.id)) : undefined))).toEqual(sent.map((s) => s.seq));
  }, 120_000);
});
