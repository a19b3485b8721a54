// kill -9 of Kefu in the middle of a busy chat (issue 11): the customer and the agent keep sending, Kefu is
// killed with sends in flight, then restarted. Every acknowledged message is there once, with the seq it was
// acknowledged with; the sends that got no answer are retried with their clientMessageId, as a client does,
// and each is then stored exactly once; the conversation's seq runs from 1 without a gap.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema } from '../support/services.ts';
import { okHttp, spawnKefu, type KefuProcess } from '../support/process.ts';
import { until } from '../support/until.ts';

const operatorToken = 'chat-kill-nine-operator-token-1';
const origin = 'https://shop.example';

interface Sent {
  clientMessageId: string;
  token: string;
  text: string;
  acked: { id: string; seq: number } | null;
}

async function gql<T>(url: string, token: string | null, query: string, variables?: Record<string, unknown>): Promise<{ data: T | null; errors?: { extensions?: { code?: string } }[] }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data: T | null };
}

const SEND = 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { id seq clientMessageId sender } }';

describe('kill -9 in the middle of a busy chat', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('keeps every acknowledged message once, in order; unanswered sends retried are stored once', async () => {
    const schema = await freshPostgresSchema();
    await schema.client.close();
    cleanups.push(schema.drop);
    const env = { DATABASE_URL: schema.url, KEFU_OPERATOR_TOKEN: operatorToken, KEFU_CHAT_LIMIT_MESSAGE: '0' };
    let kefu: KefuProcess = await spawnKefu(env);
    cleanups.push(() => kefu.stop());
    const url = kefu.url;

    // An instance, an agent in an ONLINE group, a web channel, a customer's session and chat, taken by the agent.
    const created = await okHttp<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(url, operatorToken, 'mutation { createInstance(input: { name: "Acme" }) { instance { id } adminApiKey } }');
    const instanceId = created.createInstance.instance.id;
    const adminKey = created.createInstance.adminApiKey;
    await okHttp(url, operatorToken, 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 5 }) { seats } }', { id: instanceId });
    const agentId = (await okHttp<{ createAgent: { id: string } }>(url, adminKey, 'mutation { createAgent(input: { name: "Ann", login: "ann", password: "password-123" }) { id } }')).createAgent.id;
    const agentToken = (await okHttp<{ loginAgent: { token: string } }>(url, null, 'mutation($id: ID!) { loginAgent(input: { instanceId: $id, login: "ann", password: "password-123" }) { token } }', { id: instanceId })).loginAgent.token;
    const group = (await okHttp<{ createSkillGroup: { id: string } }>(url, adminKey, 'mutation { createSkillGroup(input: { name: "Chat", channel: ONLINE, maxConcurrency: 3 }) { id } }')).createSkillGroup.id;
    await okHttp(url, adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: agentId });
    const channelKey = (
      await okHttp<{ createWebChannel: { webChannel: { publicKey: string } } }>(url, adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group },
      })
    ).createWebChannel.webChannel.publicKey;
    const session = await gql<{ startCustomerSession: { token: string } }>(url, null, 'mutation($k: String!) { startCustomerSession(input: { channelKey: $k, name: "Carl" }) { token } }', { k: channelKey });
    const customerToken = session.data!.startCustomerSession.token;
    const chat = await gql<{ startChat: { contactId: string } }>(url, customerToken, 'mutation($id: String!) { startChat(input: { clientChatId: $id }) { contactId } }', { id: randomUUID() });
    const contactId = chat.data!.startChat.contactId;
    await okHttp(url, agentToken, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    let offerId: string | null = null;
    for (let i = 0; i < 300 && !offerId; i++) {
      const r = await gql<{ contact: { offer: { offerId: string } | null } }>(url, agentToken, 'query($id: ID!) { contact(id: $id) { offer { offerId } } }', { id: contactId });
      offerId = r.data?.contact.offer?.offerId ?? null;
      if (!offerId) await new Promise((r) => setTimeout(r, 100));
    }
    expect(offerId).not.toBeNull();
    await okHttp(url, agentToken, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offerId });

    // Both sides send without pause; Kefu is killed once enough were acknowledged, with sends in flight.
    const sent: Sent[] = [];
    let killed = false;
    const sender = async (token: string, who: string) => {
      for (let i = 0; !killed; i++) {
        const s: Sent = { clientMessageId: randomUUID(), token, text: `${who} ${i}`, acked: null };
        sent.push(s);
        try {
          const r = await gql<{ sendChatMessage: { id: string; seq: number } }>(url, token, SEND, { input: { contactId, message: { clientMessageId: s.clientMessageId, text: s.text } } });
          if (r.data?.sendChatMessage) s.acked = r.data.sendChatMessage;
        } catch {
          // The connection died with Kefu: no answer.
        }
      }
    };
    const senders = [sender(customerToken, 'customer'), sender(agentToken, 'agent'), sender(customerToken, 'customer-tab-2')];
    while (sent.filter((s) => s.acked).length < 60) await new Promise((r) => setTimeout(r, 10));
    await kefu.kill9();
    killed = true;
    await Promise.all(senders);
    const acked = sent.filter((s) => s.acked);
    const unanswered = sent.filter((s) => !s.acked);
    expect(acked.length).toBeGreaterThanOrEqual(60);
    // Each sender had one send in flight when Kefu died.
    expect(unanswered.length).toBeGreaterThan(0);

    kefu = await spawnKefu(env);
    const again = kefu.url;
    // The client retries what got no answer, with the same clientMessageId.
    for (const s of unanswered) {
      const r = await gql<{ sendChatMessage: { id: string; seq: number } }>(again, s.token, SEND, { input: { contactId, message: { clientMessageId: s.clientMessageId, text: s.text } } });
      expect(r.errors).toBeUndefined();
      s.acked = r.data!.sendChatMessage;
    }
    // And an acknowledged one retried late is answered with the same message.
    const late = acked[0]!;
    const lateAgain = await gql<{ sendChatMessage: { id: string; seq: number } }>(again, late.token, SEND, { input: { contactId, message: { clientMessageId: late.clientMessageId, text: late.text } } });
    expect(lateAgain.data!.sendChatMessage).toMatchObject(late.acked!);

    // The read model follows the store: sends are answered once stored, not once projected.
    type Row = { id: string; seq: number; clientMessageId: string | null; sender: string; text: string | null };
    const read = async () =>
      (await gql<{ chatTranscript: { messages: Row[] } }>(again, customerToken, 'query($c: ID!) { chatTranscript(contactId: $c, first: 500) { messages { id seq clientMessageId sender text } } }', { c: contactId })).data!
        .chatTranscript.messages;
    const messages = await until(read, (m) => m.filter((x) => x.sender !== 'SYSTEM').length >= sent.length, 60_000);
    expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
    const byClientId = new Map<string, typeof messages>();
    for (const m of messages) if (m.clientMessageId) byClientId.set(m.clientMessageId, [...(byClientId.get(m.clientMessageId) ?? []), m]);
    for (const s of sent) {
      const stored = byClientId.get(s.clientMessageId) ?? [];
      expect(stored, s.text).toHaveLength(1);
      expect(stored[0]).toMatchObject({ id: s.acked!.id, seq: s.acked!.seq, text: s.text });
    }
    // Nothing else: the notices (queued, connected) and exactly the messages sent.
    expect(messages.filter((m) => m.sender !== 'SYSTEM')).toHaveLength(sent.length);
  }, 240_000);
});
