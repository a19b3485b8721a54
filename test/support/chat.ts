// A chat customer's requests as their browser makes them (through fastify inject): the page's Origin, the
// customer's token. The chat specs' shared set-up.
import { randomUUID } from 'node:crypto';
import { seedInstance, type GqlResult, type TestKefu } from './kefu.ts';
import { noReceptionPrompts } from './reception.ts';
import { until } from './until.ts';

/** The first error's extensions.code. */
export const codeOf = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions?.code;

/** Requests from a page at `origin`; `kefu` is read at each call (specs start Kefu in beforeAll). */
export function fromPage(kefu: () => TestKefu, origin: string) {
  async function gql<T>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> {
    const res = await kefu().kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', origin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: JSON.stringify({ query, variables }),
    });
    return { status: res.statusCode, ...(res.json() as Omit<GqlResult<T>, 'status'>) };
  }
  /** As gql, and fails on any error. */
  async function ok<T>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
    const r = await gql<T>(token, query, variables);
    if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
    return r.data as T;
  }
  /** A customer starts a chat (a fresh clientChatId, nothing else); its contact id. */
  async function startChat(token: string): Promise<string> {
    const r = await ok<{ startChat: { contactId: string } }>(token, 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId } }', { input: { clientChatId: randomUUID() } });
    return r.startChat.contactId;
  }
  /** A customer's session on web channel `channelKey` (startCustomerSession, an anonymous visitor named `name`); its token. */
  async function customerToken(channelKey: string, name = 'Cathy'): Promise<string> {
    const r = await ok<{ startCustomerSession: { token: string } }>(null, 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', { input: { channelKey, name } });
    return r.startCustomerSession.token;
  }
  return { gql, ok, startChat, customerToken };
}

/** The agent takes the chat: waits (up to `timeoutMs`) until `contactId` is offered to them, and accepts the offer. */
export async function acceptWhenOffered(t: TestKefu, agentToken: string, contactId: string, timeoutMs = 60_000): Promise<void> {
  const offered = await until(
    () => t.ok<{ contact: { status: string; offer: { offerId: string } | null } }>(agentToken, 'query($id: ID!) { contact(id: $id) { status offer { offerId } } }', { id: contactId }).catch(() => null),
    (r) => r?.contact.status === 'OFFERED',
    timeoutMs,
  );
  await t.ok(agentToken, 'mutation($c: ID!, $o: ID!) { acceptOffer(input: { contactId: $c, offerId: $o }) { status } }', { c: contactId, o: offered!.contact.offer!.offerId });
}

/** POST /chat/uploads as `token` (multipart, as a browser's FormData sends it): the file `name` of `type` for chat `contactId`. */
export async function uploadChatFile(t: TestKefu, token: string, contactId: string, bytes: Buffer, type: string, name: string) {
  const form = new FormData();
  form.append('contactId', contactId);
  form.append('file', new Blob([bytes], { type }), name);
  const request = new Request('http://kefu.test/chat/uploads', { method: 'POST', body: form });
  return t.kefu.app.inject({ method: 'POST', url: '/chat/uploads', headers: { 'content-type': request.headers.get('content-type')!, authorization: `Bearer ${token}` }, payload: Buffer.from(await request.arrayBuffer()) });
}

/**
 * An instance with one agent (Ann) in a chat skill group of `maxConcurrency` chats and a web channel of `origin`
 * that starts that group (no reception prompts); Ann is made AVAILABLE unless `available` is false.
 */
export async function chatDesk(t: TestKefu, origin: string, options: { maxConcurrency?: number; available?: boolean } = {}) {
  const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
  const ann = seed.agents[0]!;
  const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name: 'Chat', channel: 'ONLINE', maxConcurrency: options.maxConcurrency ?? 5 } })).createSkillGroup.id;
  await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: ann.id });
  if (options.available !== false) await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
  const key = (
    await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
      input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: group, receptionPrompts: noReceptionPrompts },
    })
  ).createWebChannel.webChannel.publicKey;
  return { seed, ann, group, key };
}

/** A customer of `key`'s channel (from `page`) starts a chat and the agent takes it: the customer's token and the chat, CONNECTED. */
export async function connectedChat(t: TestKefu, page: ReturnType<typeof fromPage>, key: string, agentToken: string): Promise<{ customer: string; contactId: string }> {
  const customer = await page.customerToken(key);
  const contactId = await page.startChat(customer);
  await acceptWhenOffered(t, agentToken, contactId);
  const status = () => page.ok<{ conversation: { status: string } }>(customer, 'query($c: ID!) { conversation(contactId: $c) { status } }', { c: contactId });
  await until(status, (r) => r.conversation.status === 'CONNECTED', 60_000);
  return { customer, contactId };
}
