// Chat conversations (issue 11) through the public API: a customer (a session from a web channel's key) and an
// agent chat over graphql-ws. Every message has a gap-free seq; a retried send (same clientMessageId) is stored
// once and answered with the same message, for the customer and the agent; a subscription resumes after a seq
// with nothing missed or repeated, even while messages are being sent; typing and read state reach the other
// side; the system notices tell queued, connected and ended; an ended chat refuses new messages (CONFLICT);
// another customer's, or an uninvolved agent's, look at a chat is NOT_FOUND.
import { createHmac, randomUUID } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { fromPage, codeOf } from '../support/chat.ts';
import { until } from '../support/until.ts';
import { noReceptionPrompts } from '../support/reception.ts';
import { collect, wsClient } from '../support/ws-client.ts';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const origin = 'https://shop.example';

interface Message {
  id: string;
  seq: number;
  clientMessageId: string | null;
  sender: 'AGENT' | 'CUSTOMER' | 'SYSTEM';
  kind: string;
  text: string | null;
  agentName: string | null;
  system: { type: string; agentName: string | null; endStatus: string | null } | null;
}
interface Conversation {
  contactId: string;
  status: string;
  queuePosition: number | null;
  agentName: string | null;
  lastSeq: number;
  customerLastReadSeq: number;
  agentLastReadSeq: number;
  endStatus: string | null;
}
interface ConversationEvent {
  kind: 'MESSAGE' | 'TYPING' | 'READ' | 'STATUS';
  contactId: string;
  sender: string | null;
  typing: boolean | null;
  readSeq: number | null;
  message: Message | null;
  conversation: Conversation | null;
}

const MESSAGE = 'id seq clientMessageId sender kind text agentName system { type agentName endStatus }';
const CONVERSATION = 'contactId status queuePosition agentName lastSeq customerLastReadSeq agentLastReadSeq endStatus';
const EVENTS = `subscription($c: ID!, $after: Int) { conversationEvents(contactId: $c, afterSeq: $after) { kind contactId sender typing readSeq message { ${MESSAGE} } conversation { ${CONVERSATION} } } }`;
const START = `mutation($input: StartChatInput!) { startChat(input: $input) { ${CONVERSATION} } }`;
const SEND = `mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { ${MESSAGE} } }`;
const TRANSCRIPT = `query($c: ID!, $after: Int, $before: Int, $first: Int) { chatTranscript(contactId: $c, afterSeq: $after, beforeSeq: $before, first: $first) { hasBefore hasAfter messages { ${MESSAGE} } } }`;

describe('chat conversations', () => {
  let t: TestKefu;
  let url: string;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let channelKey: string;
  let identitySecret: string;
  let groupId: string;
  const clients: Client[] = [];
  const ann = () => seed.agents[0]!;
  const bob = () => seed.agents[1]!;
  const sue = () => seed.agents[2]!;

  /** A request as a customer's browser makes it: the page's Origin, the customer's token. */
  const { gql, ok } = fromPage(() => t, origin);

  async function customer(name = 'Ann Customer', visitorId?: string, key = channelKey): Promise<{ token: string; visitorId: string }> {
    const r = await ok<{ startCustomerSession: { token: string; visitorId: string } }>(
      null,
      'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token visitorId } }',
      { input: { channelKey: key, name, ...(visitorId ? { visitorId } : {}) } },
    );
    return r.startCustomerSession;
  }
  /** A customer the business's server vouches for (HMAC of their id with the channel's identity secret). */
  async function verifiedCustomer(customerId: string): Promise<string> {
    const customerHash = createHmac('sha256', identitySecret).update(customerId).digest('hex');
    const r = await ok<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', {
      input: { channelKey, customerId, customerHash },
    });
    return r.startCustomerSession.token;
  }

  /** A graphql-ws client as the widget's: the page's Origin on the upgrade. */
  function customerWs(token: string): Client {
    class PageSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { origin } });
      }
    }
    const client = createClient({ url: `${url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: PageSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: true });
    clients.push(client);
    return client;
  }
  function staffWs(token: string): Client {
    const client = wsClient(url, token);
    clients.push(client);
    return client;
  }

  const startChat = (token: string, firstText?: string) =>
    ok<{ startChat: Conversation }>(token, START, {
      input: {
        clientChatId: randomUUID(),
        visitor: { pageUrl: 'https://shop.example/cart', userAgent: 'Vitest', attributes: [{ key: 'plan', value: 'gold' }] },
        ...(firstText ? { firstMessage: { clientMessageId: randomUUID(), text: firstText } } : {}),
      },
    }).then((r) => r.startChat);
  const send = (token: string, contactId: string, text: string, clientMessageId = randomUUID()) => gql<{ sendChatMessage: Message }>(token, SEND, { input: { contactId, message: { clientMessageId, text } } });
  const transcript = async (token: string, contactId: string, range: { after?: number; before?: number; first?: number } = {}) =>
    (await ok<{ chatTranscript: { hasBefore: boolean; hasAfter: boolean; messages: Message[] } }>(token, TRANSCRIPT, { c: contactId, ...range })).chatTranscript;

  /** Makes the agent available, waits for the chat's offer to them and accepts it. */
  async function takes(agent: { token: string }, contactId: string): Promise<void> {
    await t.ok(agent.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const offered = await until(
      () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(agent.token, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }).catch(() => null),
      (r) => r?.contact.status === 'OFFERED',
    );
    await t.ok(agent.token, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
  }
  const annTakes = (contactId: string) => takes(ann(), contactId);

  /** A desk of its own (a group, two agents, a channel), so that other tests' chats do not ring its agents. */
  async function freshDesk(tag: string) {
    const agents: { id: string; token: string }[] = [];
    for (const name of [`${tag} One`, `${tag} Two`]) {
      const login = name.toLowerCase().replace(/ /g, '.');
      const id = (await t.ok<{ createAgent: { id: string } }>(seed.adminKey, 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', { input: { name, login, password: 'password-123' } })).createAgent.id;
      const token = (await t.ok<{ loginAgent: { token: string } }>(null, 'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }', { input: { instanceId: seed.instanceId, login, password: 'password-123' } })).loginAgent.token;
      agents.push({ id, token });
    }
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: `${tag} chat`, channel: 'ONLINE', maxConcurrency: 3 } })).createSkillGroup.id;
    for (const a of agents) await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: a.id });
    const key = (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: `${tag} shop`, allowedOrigins: [origin], skillGroupId: group, receptionPrompts: noReceptionPrompts },
      })
    ).createWebChannel.webChannel.publicKey;
    return { key, one: agents[0]!, two: agents[1]! };
  }

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true, env: { KEFU_CHAT_LIMIT_MESSAGE: '1000/10', KEFU_CHAT_LIMIT_CHAT: '1000/3600' } });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    seed = await seedInstance(t, {
      agents: [
        { name: 'Ann', login: 'ann' },
        { name: 'Bob', login: 'bob' },
        { name: 'Sue', login: 'sue', role: 'SUPERVISOR' },
      ],
    });
    groupId = (
      await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
        input: { name: 'Chat', channel: 'ONLINE', maxConcurrency: 5 },
      })
    ).createSkillGroup.id;
    for (const a of [ann(), bob()]) {
      await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: a.id });
    }
    const made = (
      await t.ok<{ createWebChannel: { identitySecret: string; webChannel: { publicKey: string } } }>(
        seed.adminKey,
        'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { identitySecret webChannel { publicKey } } }',
        // Issue 11's conversation as it was: the reception prompts (reception-prompts.int.spec.ts) would add messages.
        { input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: groupId, receptionPrompts: noReceptionPrompts } },
      )
    ).createWebChannel;
    channelKey = made.webChannel.publicKey;
    identitySecret = made.identitySecret;
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await t?.close();
  });

  it('a whole chat over graphql-ws: queued, connected, typing, messages both ways, read state, ended; seq without a gap', async () => {
    const me = await customer();
    const chat = await startChat(me.token, 'Hello 👋 <b>not bold</b>');
    expect(chat).toMatchObject({ status: 'QUEUED', queuePosition: 1, lastSeq: 2, endStatus: null });

    const mine = collect<{ conversationEvents: ConversationEvent }>(customerWs(me.token), EVENTS, { c: chat.contactId, after: 0 });
    const events = () => mine.received.map((r) => r.conversationEvents);
    const messagesSeen = () => events().flatMap((e) => (e.kind === 'MESSAGE' ? [e.message!] : []));
    // The replay: the first message (text kept as written) and the QUEUED notice, then where the chat stands.
    await until(async () => events(), (e) => e.some((x) => x.kind === 'STATUS'));
    expect(messagesSeen().map((m) => [m.seq, m.sender, m.kind, m.text, m.system?.type ?? null])).toEqual([
      [1, 'CUSTOMER', 'TEXT', 'Hello 👋 <b>not bold</b>', null],
      [2, 'SYSTEM', 'SYSTEM', null, 'QUEUED'],
    ]);
    expect(events().find((e) => e.kind === 'STATUS')!.conversation).toMatchObject({ status: 'QUEUED', queuePosition: 1 });

    await annTakes(chat.contactId);
    await until(async () => messagesSeen(), (m) => m.some((x) => x.system?.type === 'CONNECTED'));
    expect(messagesSeen().find((m) => m.system?.type === 'CONNECTED')).toMatchObject({ seq: 3, sender: 'SYSTEM', system: { agentName: 'Ann' } });
    await until(async () => events(), (e) => e.some((x) => x.kind === 'STATUS' && x.conversation?.status === 'CONNECTED' && x.conversation.agentName === 'Ann'));

    // The agent follows the chat too: everything so far, then live.
    const hers = collect<{ conversationEvents: ConversationEvent }>(staffWs(ann().token), EVENTS, { c: chat.contactId, after: 0 });
    const herEvents = () => hers.received.map((r) => r.conversationEvents);
    await until(async () => herEvents(), (e) => e.filter((x) => x.kind === 'MESSAGE').length === 3 && e.some((x) => x.kind === 'STATUS'));

    // Typing reaches the other side only.
    await ok(me.token, 'mutation($c: ID!) { setTyping(input: { contactId: $c, typing: true }) }', { c: chat.contactId });
    await until(async () => herEvents(), (e) => e.some((x) => x.kind === 'TYPING' && x.sender === 'CUSTOMER' && x.typing === true));
    await t.ok(ann().token, 'mutation($c: ID!) { setTyping(input: { contactId: $c, typing: true }) }', { c: chat.contactId });
    await until(async () => events(), (e) => e.some((x) => x.kind === 'TYPING' && x.sender === 'AGENT' && x.typing === true));
    expect(events().filter((e) => e.kind === 'TYPING').every((e) => e.sender === 'AGENT')).toBe(true);
    expect(herEvents().filter((e) => e.kind === 'TYPING').every((e) => e.sender === 'CUSTOMER')).toBe(true);

    // Messages both ways; the agent's retried send is stored once and answered with the same message.
    const replyId = randomUUID();
    const reply = await t.ok<{ sendChatMessage: Message }>(ann().token, SEND, { input: { contactId: chat.contactId, message: { clientMessageId: replyId, text: 'Hi! How can I help?' } } });
    expect(reply.sendChatMessage).toMatchObject({ seq: 4, sender: 'AGENT', agentName: 'Ann', clientMessageId: replyId });
    const replyAgain = await t.ok<{ sendChatMessage: Message }>(ann().token, SEND, { input: { contactId: chat.contactId, message: { clientMessageId: replyId, text: 'Hi! How can I help?' } } });
    expect(replyAgain.sendChatMessage).toEqual(reply.sendChatMessage);
    await until(async () => messagesSeen(), (m) => m.some((x) => x.seq === 4));
    expect(messagesSeen().find((m) => m.seq === 4)).toMatchObject({ sender: 'AGENT', agentName: 'Ann', text: 'Hi! How can I help?' });

    // The customer's retried send: the same message, once.
    const askId = randomUUID();
    const ask = await send(me.token, chat.contactId, 'Where is my order? 📦', askId);
    const askAgain = await send(me.token, chat.contactId, 'Where is my order? 📦', askId);
    expect(ask.data!.sendChatMessage).toMatchObject({ seq: 5, sender: 'CUSTOMER', clientMessageId: askId });
    expect(askAgain.data!.sendChatMessage).toEqual(ask.data!.sendChatMessage);

    // Read state both ways.
    const read = await ok<{ markRead: Conversation }>(me.token, `mutation($c: ID!) { markRead(input: { contactId: $c, seq: 4 }) { ${CONVERSATION} } }`, { c: chat.contactId });
    expect(read.markRead.customerLastReadSeq).toBe(4);
    await until(async () => herEvents(), (e) => e.some((x) => x.kind === 'READ' && x.sender === 'CUSTOMER' && x.readSeq === 4));
    await t.ok(ann().token, 'mutation($c: ID!) { markRead(input: { contactId: $c, seq: 5 }) { agentLastReadSeq } }', { c: chat.contactId });
    await until(async () => events(), (e) => e.some((x) => x.kind === 'READ' && x.sender === 'AGENT' && x.readSeq === 5));
    expect((await gql(me.token, 'mutation($c: ID!) { markRead(input: { contactId: $c, seq: 99 }) { lastSeq } }', { c: chat.contactId })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });

    // The customer ends it: an ENDED notice, the ENDED status; a new send is a CONFLICT, a retried one is still answered.
    const ended = await ok<{ endChat: Conversation }>(me.token, `mutation($c: ID!) { endChat(input: { contactId: $c }) { ${CONVERSATION} } }`, { c: chat.contactId });
    expect(ended.endChat).toMatchObject({ status: 'ENDED', endStatus: 'CUSTOMER_ENDED' });
    await until(async () => messagesSeen(), (m) => m.some((x) => x.system?.type === 'ENDED'));
    expect(messagesSeen().find((m) => m.system?.type === 'ENDED')).toMatchObject({ seq: 6, system: { endStatus: 'CUSTOMER_ENDED' } });
    expect(codeOf(await send(me.token, chat.contactId, 'One more thing'))).toBe('CONFLICT');
    expect(codeOf(await gql(ann().token, SEND, { input: { contactId: chat.contactId, message: { clientMessageId: randomUUID(), text: 'Bye' } } }))).toBe('CONFLICT');
    expect((await send(me.token, chat.contactId, 'Where is my order? 📦', askId)).data!.sendChatMessage).toEqual(ask.data!.sendChatMessage);

    // Everyone saw every message once, in order, 1..6.
    await until(async () => herEvents(), (e) => e.some((x) => x.message?.seq === 6));
    expect(messagesSeen().map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(herEvents().flatMap((e) => (e.message ? [e.message.seq] : []))).toEqual([1, 2, 3, 4, 5, 6]);
    const all = await transcript(me.token, chat.contactId);
    expect(all.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(all.messages.filter((m) => m.clientMessageId === askId)).toHaveLength(1);
    expect(all.messages.filter((m) => m.clientMessageId === replyId)).toHaveLength(1);
    expect(all.messages.map((m) => m.system?.type ?? m.sender)).toEqual(['CUSTOMER', 'QUEUED', 'CONNECTED', 'AGENT', 'CUSTOMER', 'ENDED']);
    mine.dispose();
    hers.dispose();
  }, 180_000);

  it('pages the transcript both ways, and a subscription resumes after N while messages are being sent: none missed, none twice', async () => {
    const me = await customer('Resumer');
    const chat = await startChat(me.token);
    for (let i = 1; i <= 10; i++) expect((await send(me.token, chat.contactId, `before ${i}`)).errors).toBeUndefined();
    // 1: QUEUED, 2..11: the messages.
    const forward = await transcript(me.token, chat.contactId, { after: 3, first: 4 });
    expect(forward.messages.map((m) => m.seq)).toEqual([4, 5, 6, 7]);
    expect([forward.hasBefore, forward.hasAfter]).toEqual([true, true]);
    const backward = await transcript(me.token, chat.contactId, { before: 4, first: 10 });
    expect(backward.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect([backward.hasBefore, backward.hasAfter]).toEqual([false, true]);
    const last = await transcript(me.token, chat.contactId, { before: 12, first: 2 });
    expect(last.messages.map((m) => m.seq)).toEqual([10, 11]);
    expect([last.hasBefore, last.hasAfter]).toEqual([true, false]);

    // Sends go on while the subscription starts: the switch from the read model to live loses and repeats nothing.
    const sending = (async () => {
      for (let i = 1; i <= 30; i++) expect((await send(me.token, chat.contactId, `during ${i}`)).errors).toBeUndefined();
    })();
    const resumed = collect<{ conversationEvents: ConversationEvent }>(customerWs(me.token), EVENTS, { c: chat.contactId, after: 5 });
    await sending;
    const seqs = () => resumed.received.flatMap((r) => (r.conversationEvents.message ? [r.conversationEvents.message.seq] : []));
    await until(async () => seqs(), (s) => s.length >= 36, 60_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(seqs()).toEqual(Array.from({ length: 36 }, (_, i) => i + 6));
    expect((await transcript(me.token, chat.contactId, { before: 1000, first: 1 })).messages[0]!.seq).toBe(41);
    resumed.dispose();
  }, 180_000);

  it("another customer's chat, or an agent's who never had it, is NOT_FOUND; a supervisor sees it", async () => {
    const owner = await customer('Owner');
    const chat = await startChat(owner.token, 'private');
    const stranger = await customer('Stranger');
    const c = chat.contactId;
    for (const token of [stranger.token, bob().token]) {
      expect(codeOf(await gql(token, `query($c: ID!) { conversation(contactId: $c) { ${CONVERSATION} } }`, { c }))).toBe('NOT_FOUND');
      expect(codeOf(await gql(token, TRANSCRIPT, { c }))).toBe('NOT_FOUND');
      expect(codeOf(await gql(token, SEND, { input: { contactId: c, message: { clientMessageId: randomUUID(), text: 'hi' } } }))).toBe('NOT_FOUND');
      expect(codeOf(await gql(token, 'mutation($c: ID!) { markRead(input: { contactId: $c, seq: 1 }) { lastSeq } }', { c }))).toBe('NOT_FOUND');
    }
    expect(codeOf(await gql(stranger.token, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c }))).toBe('NOT_FOUND');
    const peek = collect<{ conversationEvents: ConversationEvent }>(customerWs(stranger.token), EVENTS, { c, after: 0 });
    await until(async () => peek.errors.length, (n) => n > 0);
    expect(JSON.stringify(peek.errors)).toContain('NOT_FOUND');
    expect(peek.received).toEqual([]);
    // The stranger's own list does not have it; the owner's does.
    const list = `{ myConversations(first: 10) { edges { node { contactId } } pageInfo { hasNextPage } } }`;
    expect((await ok<{ myConversations: { edges: { node: { contactId: string } }[] } }>(stranger.token, list)).myConversations.edges).toEqual([]);
    expect((await ok<{ myConversations: { edges: { node: { contactId: string } }[] } }>(owner.token, list)).myConversations.edges.map((e) => e.node.contactId)).toEqual([c]);
    // Staff who may: a supervisor reads it.
    const seen = await t.ok<{ chatTranscript: { messages: Message[] } }>(sue().token, TRANSCRIPT, { c });
    expect(seen.chatTranscript.messages[0]).toMatchObject({ seq: 1, text: 'private' });
  }, 180_000);

  it('startChat again with the same clientChatId is the same chat; myConversations pages newest first; the same visitor on a new session sees their chats', async () => {
    const me = await customer('Again');
    const clientChatId = randomUUID();
    const first = await ok<{ startChat: Conversation }>(me.token, START, { input: { clientChatId } });
    const again = await ok<{ startChat: Conversation }>(me.token, START, { input: { clientChatId } });
    expect(again.startChat.contactId).toBe(first.startChat.contactId);
    // Another clientChatId while that chat is open joins it (one open chat per customer: visitor-chat.int.spec.ts);
    // once it has ended, the next start is a chat of its own.
    expect((await startChat(me.token)).contactId).toBe(first.startChat.contactId);
    await ok(me.token, 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', { c: first.startChat.contactId });
    const second = await startChat(me.token);
    expect(second.contactId).not.toBe(first.startChat.contactId);
    const later = await customer('Again', me.visitorId);
    const page1 = await ok<{ myConversations: { edges: { node: { contactId: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } }>(later.token, '{ myConversations(first: 1) { edges { node { contactId } } pageInfo { hasNextPage endCursor } } }');
    expect(page1.myConversations.edges.map((e) => e.node.contactId)).toEqual([second.contactId]);
    expect(page1.myConversations.pageInfo.hasNextPage).toBe(true);
    const page2 = await ok<{ myConversations: { edges: { node: { contactId: string } }[]; pageInfo: { hasNextPage: boolean } } }>(later.token, 'query($after: String) { myConversations(first: 5, after: $after) { edges { node { contactId } } pageInfo { hasNextPage } } }', {
      after: page1.myConversations.pageInfo.endCursor,
    });
    expect(page2.myConversations.edges.map((e) => e.node.contactId)).toEqual([first.startChat.contactId]);
    expect(page2.myConversations.pageInfo.hasNextPage).toBe(false);
  }, 180_000);

  it("a verified customer sees their chats from every device; an anonymous visitor with the same id string does not", async () => {
    const visitor = await customer('Visitor');
    // The business's customer id happens to be spelled like the visitor's id: still another customer.
    const phone = await verifiedCustomer(visitor.visitorId);
    const chat = await startChat(phone, 'from my phone');
    const laptop = await verifiedCustomer(visitor.visitorId);
    const list = '{ myConversations(first: 10) { edges { node { contactId } } } }';
    expect((await ok<{ myConversations: { edges: { node: { contactId: string } }[] } }>(laptop, list)).myConversations.edges.map((e) => e.node.contactId)).toEqual([chat.contactId]);
    expect((await transcript(laptop, chat.contactId)).messages[0]).toMatchObject({ seq: 1, text: 'from my phone' });
    expect((await send(laptop, chat.contactId, 'and from my laptop')).data!.sendChatMessage).toMatchObject({ seq: 3, sender: 'CUSTOMER' });
    expect((await ok<{ myConversations: { edges: unknown[] } }>(visitor.token, list)).myConversations.edges).toEqual([]);
    expect(codeOf(await gql(visitor.token, TRANSCRIPT, { c: chat.contactId }))).toBe('NOT_FOUND');
  }, 180_000);

  it('a transfer is told in the conversation; the new agent takes over, the first one still reads it', async () => {
    const desk = await freshDesk('Transfer');
    const me = await customer('Transferred', undefined, desk.key);
    const chat = await startChat(me.token, 'billing question');
    await takes(desk.one, chat.contactId);
    await t.ok(desk.two.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await t.ok(desk.one.token, 'mutation($c: ID!, $b: ID!) { transferContact(input: { contactId: $c, toAgentId: $b, note: "billing" }) { status } }', { c: chat.contactId, b: desk.two.id });
    await takes(desk.two, chat.contactId);
    expect((await t.gql(desk.two.token, SEND, { input: { contactId: chat.contactId, message: { clientMessageId: randomUUID(), text: 'Two here' } } })).errors).toBeUndefined();
    expect(codeOf(await t.gql(desk.one.token, SEND, { input: { contactId: chat.contactId, message: { clientMessageId: randomUUID(), text: 'still me?' } } }))).toBe('CONFLICT');
    // The first agent held it: they still read it.
    const seen = await t.ok<{ chatTranscript: { messages: Message[] } }>(desk.one.token, TRANSCRIPT, { c: chat.contactId });
    expect(seen.chatTranscript.messages.map((m) => [m.seq, m.system ? `${m.system.type}:${m.system.agentName ?? ''}` : m.sender])).toEqual([
      [1, 'CUSTOMER'],
      [2, 'QUEUED:'],
      [3, 'CONNECTED:Transfer One'],
      [4, 'TRANSFERRED:Transfer Two'],
      [5, 'CONNECTED:Transfer Two'],
      [6, 'AGENT'],
    ]);
    const conv = await ok<{ conversation: Conversation }>(me.token, `query($c: ID!) { conversation(contactId: $c) { ${CONVERSATION} } }`, { c: chat.contactId });
    expect(conv.conversation).toMatchObject({ status: 'CONNECTED', agentName: 'Transfer Two', lastSeq: 6 });
  }, 180_000);

  it('a blacklisted customer is turned away neutrally: the chat is ENDED, the customer is not told why', async () => {
    const me = await customer('Blocked');
    await t.ok(sue().token, 'mutation($id: String!) { addToBlacklist(input: { channel: ONLINE, identity: $id, reason: "abuse" }) { id } }', { id: me.visitorId });
    const chat = await startChat(me.token, 'let me in');
    expect(chat).toMatchObject({ status: 'ENDED', endStatus: null, queuePosition: null });
    const messages = (await transcript(me.token, chat.contactId)).messages;
    expect(messages.map((m) => [m.seq, m.system?.type ?? m.sender, m.system?.endStatus ?? null])).toEqual([
      [1, 'CUSTOMER', null],
      [2, 'ENDED', null],
    ]);
    // Staff see the real end status.
    const staff = await t.ok<{ conversation: Conversation }>(sue().token, `query($c: ID!) { conversation(contactId: $c) { ${CONVERSATION} } }`, { c: chat.contactId });
    expect(staff.conversation.endStatus).toBe('BLACKLISTED');
    expect(codeOf(await send(me.token, chat.contactId, 'hello?'))).toBe('CONFLICT');
  }, 180_000);

  it('refuses bad input naming the field', async () => {
    const me = await customer('Careless');
    const chat = await startChat(me.token);
    const tooLong = await send(me.token, chat.contactId, 'x'.repeat(5001));
    expect(tooLong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.message.text' });
    const neither = await gql(me.token, SEND, { input: { contactId: chat.contactId, message: { clientMessageId: randomUUID() } } });
    expect(neither.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.message.text' });
    const noId = await gql(me.token, SEND, { input: { contactId: chat.contactId, message: { clientMessageId: '', text: 'hi' } } });
    expect(noId.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.message.clientMessageId' });
    // Staff operations stay closed to customers; chat operations need a session.
    expect(codeOf(await gql(me.token, '{ contacts { edges { node { id } } } }'))).toBe('FORBIDDEN');
    expect(codeOf(await gql(null, START, { input: { clientChatId: randomUUID() } }))).toBe('UNAUTHENTICATED');
  }, 180_000);
});
