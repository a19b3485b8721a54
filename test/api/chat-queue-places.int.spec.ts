// Queue places of waiting chats over graphql-ws (issue 11), as the shared group queue tells them (chat.ts,
// GroupQueue): three customers wait in one group and each sees its place; when the first leaves, the others
// move up; a chat of another group does not disturb them; a chat joining at the back moves nobody; the place
// after the group's queue was left alone for a while (followers gone) is right again for a new follower.
import { randomUUID } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';
import { collect } from '../support/ws-client.ts';

const origin = 'https://queue.example';
const EVENTS = 'subscription($c: ID!) { conversationEvents(contactId: $c, afterSeq: 0) { kind conversation { contactId status queuePosition } } }';
const START = 'mutation($input: StartChatInput!) { startChat(input: $input) { contactId status queuePosition } }';

interface Status {
  conversationEvents: { kind: string; conversation: { contactId: string; status: string; queuePosition: number | null } | null };
}

describe('queue places of waiting chats', () => {
  let t: TestKefu;
  let url: string;
  const clients: Client[] = [];

  async function channel(adminKey: string, name: string): Promise<string> {
    // A group with no agent: its chats wait.
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(adminKey, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', { input: { name, channel: 'ONLINE', maxConcurrency: 1 } })).createSkillGroup.id;
    return (
      await t.ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: `${name} site`, allowedOrigins: [origin], skillGroupId: group },
      })
    ).createWebChannel.webChannel.publicKey;
  }

  async function customerChat(key: string): Promise<{ token: string; contactId: string; queuePosition: number | null }> {
    const session = await t.kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', origin },
      payload: JSON.stringify({ query: 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token } }', variables: { input: { channelKey: key, name: 'Waiting' } } }),
    });
    const token = (session.json() as { data: { startCustomerSession: { token: string } } }).data.startCustomerSession.token;
    const res = await t.kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', origin, authorization: `Bearer ${token}` },
      payload: JSON.stringify({ query: START, variables: { input: { clientChatId: randomUUID() } } }),
    });
    const chat = (res.json() as { data: { startChat: { contactId: string; queuePosition: number | null } } }).data.startChat;
    return { token, ...chat };
  }

  function follow(token: string, contactId: string) {
    class PageSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { origin } });
      }
    }
    const client = createClient({ url: `${url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: PageSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: true });
    clients.push(client);
    const seen = collect<Status>(client, EVENTS, { c: contactId });
    const places = () => seen.received.flatMap((r) => (r.conversationEvents.kind === 'STATUS' ? [r.conversationEvents.conversation!.queuePosition] : []));
    return { seen, places, client };
  }

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true, env: { KEFU_CHAT_LIMIT_CHAT: '1000/3600' } });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await t?.close();
  });

  it('each waiting chat sees its place, moves up when one ahead leaves, and is not moved by chats behind it or in another group', async () => {
    const seed = await seedInstance(t, { agents: [] });
    const key = await channel(seed.adminKey, 'Waiting');
    const otherKey = await channel(seed.adminKey, 'Elsewhere');
    const a = await customerChat(key);
    const b = await customerChat(key);
    const c = await customerChat(key);
    expect([a.queuePosition, b.queuePosition, c.queuePosition]).toEqual([1, 2, 3]);

    const fa = follow(a.token, a.contactId);
    const fb = follow(b.token, b.contactId);
    const fc = follow(c.token, c.contactId);
    await until(async () => [fa.places(), fb.places(), fc.places()], (p) => p[0]!.length > 0 && p[1]!.length > 0 && p[2]!.length > 0, 30_000);
    expect([fa.places().at(-1), fb.places().at(-1), fc.places().at(-1)]).toEqual([1, 2, 3]);

    // Chats that move no place: one in another group, one joining this queue at the back.
    await customerChat(otherKey);
    const d = await customerChat(key);
    expect(d.queuePosition).toBe(4);

    // The first leaves: the others move up, each told once per move.
    const end = await t.kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', origin, authorization: `Bearer ${a.token}` },
      payload: JSON.stringify({ query: 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', variables: { c: a.contactId } }),
    });
    expect((end.json() as { data: { endChat: { status: string } } }).data.endChat.status).toBe('ENDED');
    await until(async () => [fb.places().at(-1), fc.places().at(-1)], (p) => p[0] === 1 && p[1] === 2, 30_000);
    expect(fb.places()).toEqual([2, 1]);
    expect(fc.places()).toEqual([3, 2]);
    await until(async () => fa.seen.received, (r) => r.some((x) => x.conversationEvents.conversation?.status === 'ENDED'), 30_000);

    // Everyone stops following; a later follower of the same queue gets the right place again, and moves.
    await fb.client.dispose();
    await fc.client.dispose();
    const fd = follow(d.token, d.contactId);
    await until(async () => fd.places(), (p) => p.at(-1) === 3, 30_000);
    await t.kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', origin, authorization: `Bearer ${b.token}` },
      payload: JSON.stringify({ query: 'mutation($c: ID!) { endChat(input: { contactId: $c }) { status } }', variables: { c: b.contactId } }),
    });
    await until(async () => fd.places(), (p) => p.at(-1) === 2, 30_000);
    expect(fd.places()).toEqual([3, 2]);
  }, 120_000);
});
