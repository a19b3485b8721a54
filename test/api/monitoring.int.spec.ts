// Queue monitoring through the API: skill group monitor (query and subscription), queue positions, and
// agents' workload beside their presence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { collect, settleSubscription, wsClient } from '../support/ws-client.ts';
import { until } from '../support/until.ts';


interface GroupStatus {
  skillGroup: { id: string };
  agentsOnline: number;
  agentsFree: number;
  queueLength: number;
  longestWaitSeconds: number;
}

describe('queue monitoring', () => {
  let t: TestKefu;
  let url: string;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => t?.close());

  it('shows agents online and free, queue length, longest wait, positions and workload, live', async () => {
    const seed = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }, { name: 'Sue', login: 'sue', role: 'SUPERVISOR' }] });
    const [ann, bob, sue] = seed.agents as [(typeof seed.agents)[0], (typeof seed.agents)[0], (typeof seed.agents)[0]];
    const key = (await t.ok<{ createApiKey: { secret: string } }>(seed.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }')).createApiKey.secret;
    const group = (await t.ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Support", channel: PHONE, ringTimeoutSeconds: 60 }) { id } }'))
      .createSkillGroup.id;
    for (const a of [ann, bob]) {
      await t.ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: group, a: a.id });
    }
    await t.ok(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const monitor = () => t.ok<{ skillGroupMonitor: GroupStatus[] }>(sue.token, '{ skillGroupMonitor { skillGroup { id } agentsOnline agentsFree queueLength longestWaitSeconds } }');
    expect((await monitor()).skillGroupMonitor).toEqual([{ skillGroup: { id: group }, agentsOnline: 1, agentsFree: 1, queueLength: 0, longestWaitSeconds: 0 }]);

    const contacts: string[] = [];
    for (const caller of ['+1', '+2', '+3']) {
      const r = await t.ok<{ createContact: { id: string } }>(key, 'mutation($input: CreateContactInput!) { createContact(input: $input) { id } }', {
        input: { channel: 'PHONE', customer: { kind: 'PHONE', id: caller }, skillGroupId: group },
      });
      contacts.push(r.createContact.id);
    }
    const busy = await until(monitor, (m) => m.skillGroupMonitor[0]!.agentsFree === 0 && m.skillGroupMonitor[0]!.queueLength === 2);
    expect(busy.skillGroupMonitor[0]).toMatchObject({ agentsOnline: 1, agentsFree: 0, queueLength: 2 });

    const position = (id: string) =>
      t.ok<{ queuePosition: { position: number | null; estimatedWaitSeconds: number | null; status: string } }>(key, 'query($id: ID!) { queuePosition(contactId: $id) { position estimatedWaitSeconds status } }', { id });
    expect((await position(contacts[0]!)).queuePosition).toEqual({ position: null, estimatedWaitSeconds: null, status: 'OFFERED' });
    expect((await position(contacts[1]!)).queuePosition).toEqual({ position: 1, estimatedWaitSeconds: 60, status: 'QUEUED' });
    expect((await position(contacts[2]!)).queuePosition).toEqual({ position: 2, estimatedWaitSeconds: 120, status: 'QUEUED' });

    const status = await t.ok<{ agentMonitor: { agent: { id: string }; presence: string; workload: { phone: number; online: number; av: number } }[] }>(
      sue.token,
      '{ agentMonitor { agent { id } presence workload { phone online av } } }',
    );
    expect(status.agentMonitor.find((s) => s.agent.id === ann.id)).toMatchObject({ presence: 'AVAILABLE', workload: { phone: 1, online: 0, av: 0 } });

    // A dashboard follows it live: Bob comes online and takes the next call.
    const client = wsClient(url, sue.token);
    const live = collect<{ skillGroupMonitorChanged: GroupStatus[] }>(client, 'subscription { skillGroupMonitorChanged { agentsOnline agentsFree queueLength } }');
    await settleSubscription();
    await t.ok(bob.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await until(
      async () => live.received,
      (r) => r.some((m) => m.skillGroupMonitorChanged[0]!.agentsOnline === 2 && m.skillGroupMonitorChanged[0]!.queueLength === 1),
    );
    live.dispose();
    await client.dispose();

    // Agents may not watch queues.
    const denied = await t.gql(ann.token, '{ skillGroupMonitor { queueLength } }');
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
