// agentStatusChanged through a real graphql-ws client against a listening server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { collect, settleSubscription, wsClient } from '../support/ws-client.ts';

interface StatusMessage {
  agentStatusChanged: { agent: { id: string; name: string }; presence: string; reason: string | null; onlineSecondsToday: number };
}

const subscription = 'subscription($agentId: ID) { agentStatusChanged(agentId: $agentId) { agent { id name } presence reason since onlineSecondsToday } }';

describe('agentStatusChanged over graphql-ws', () => {
  let t: TestKefu;
  let url: string;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    const address = t.kefu.app.server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => t?.close());

  it('tells a supervisor every change of every agent of the instance, and nothing of other instances', async () => {
    const acme = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Sue', login: 'sue', role: 'SUPERVISOR' }] });
    const other = await seedInstance(t, { name: 'Other', agents: [{ name: 'Olga', login: 'olga' }] });
    const [ann, sue] = acme.agents as [(typeof acme.agents)[0], (typeof acme.agents)[0]];
    const client = wsClient(url, sue.token);
    const sub = collect<StatusMessage>(client, subscription);
    await settleSubscription();
    await t.ok(other.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: BREAK, reason: "Rest" }) { id } }');
    const got = await sub.next(2);
    expect(got.map((m) => [m.agentStatusChanged.agent.id, m.agentStatusChanged.presence, m.agentStatusChanged.reason])).toEqual([
      [ann.id, 'AVAILABLE', null],
      [ann.id, 'BREAK', 'Rest'],
    ]);
    sub.dispose();
    await client.dispose();
  });

  it('lets an agent follow only themselves', async () => {
    const acme = await seedInstance(t, { agents: [{ name: 'Al', login: 'al' }, { name: 'Bo', login: 'bo' }] });
    const [al, bo] = acme.agents as [(typeof acme.agents)[0], (typeof acme.agents)[0]];
    const client = wsClient(url, al.token);
    const own = collect<StatusMessage>(client, subscription);
    await settleSubscription();
    await t.ok(bo.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await t.ok(al.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const got = await own.next(1);
    expect(got.map((m) => m.agentStatusChanged.agent.id)).toEqual([al.id]);
    const others = collect<StatusMessage>(client, subscription, { agentId: bo.id });
    await expect(others.next(1, 3000)).rejects.toThrow(/"code":"FORBIDDEN"/);
    own.dispose();
    await client.dispose();
  });

  it('refuses a connection without a valid token', async () => {
    const client = wsClient(url, 'not-a-token');
    const sub = collect<StatusMessage>(client, subscription);
    await expect(sub.next(1, 3000)).rejects.toThrow();
    await client.dispose();
  });
});
