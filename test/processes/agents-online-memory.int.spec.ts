// A chat flow's route with a "no agent online" branch (issue 12) asks whether anyone of the group is online. In the
// process that routes, the router's state answers (the same events folded by the same rule: a member AVAILABLE or
// on a break, not forced offline, not deleted, of a group not deleted), with no statement on the customer's send;
// elsewhere (no lease, or a group or member it has not seen) the read model answers as before. The widget's
// agentsOnline (and availability) is answered the same way.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyAgentOnline, anyAgentOnlineInReadModel } from '../../src/processes/chat-flows/chat-flow-runner.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { fromPage } from '../support/chat.ts';
import { watchQueries } from '../support/read-model.ts';
import { wantPostgres } from '../support/services.ts';
import { until } from '../support/until.ts';

const origin = 'https://shop.example';
const databases: ('pglite' | 'postgres')[] = (await wantPostgres()) ? ['pglite', 'postgres'] : ['pglite'];
/** The read model's "anyone online" statement (anyAgentOnlineInReadModel). */
const onlineStatement = /^select "a"\."id" from "skill_group_members" as "m" inner join "agents" as "a"/;

describe.each(databases)('who is online for a chat flow, from the router where it routes (%s)', (database) => {
  let t: TestKefu;
  let seed: Awaited<ReturnType<typeof seedInstance>>;
  let groupId: string;
  let key: string;
  let reads = 0;
  const { ok, customerToken } = fromPage(() => t, origin);
  const ann = () => seed.agents[0]!;
  const bob = () => seed.agents[1]!;

  /** A chat on the channel: its flow routes at once (QUEUED) or takes the "no agent online" branch (ENDED). */
  const startChat = async () => {
    const token = await customerToken(key);
    const before = reads;
    const chat = (await ok<{ startChat: { status: string; endStatus: string | null } }>(token, 'mutation($input: StartChatInput!) { startChat(input: $input) { status endStatus } }', { input: { clientChatId: randomUUID() } })).startChat;
    return { chat, statements: reads - before };
  };
  const expectRoute = async (online: boolean) => {
    // The read model (what answered before) says the same.
    expect(await anyAgentOnlineInReadModel(t.kefu.db, seed.instanceId, groupId)).toBe(online);
    const { chat, statements } = await startChat();
    expect(chat).toMatchObject(online ? { status: 'QUEUED' } : { status: 'ENDED', endStatus: 'NO_AGENT_ONLINE' });
    expect(statements).toBe(0);
    // The widget's question (agentsOnline, availability) is answered from the same memory.
    const token = await customerToken(key);
    const before = reads;
    const seen = (await ok<{ customerWebChannel: { agentsOnline: boolean; availability: string } }>(token, '{ customerWebChannel { agentsOnline availability } }')).customerWebChannel;
    expect(seen).toEqual({ agentsOnline: online, availability: online ? 'OPEN' : 'NO_AGENT_ONLINE' });
    expect(reads - before).toBe(0);
  };
  const presence = (agent: { token: string }, p: string) => ok(agent.token, `mutation { setPresence(input: { presence: ${p} }) { id } }`);

  beforeAll(async () => {
    t = await startTestKefu({ database, env: { KEFU_CHAT_LIMIT_MESSAGE: '1000/10', KEFU_CHAT_LIMIT_CHAT: '1000/3600' } });
    seed = await seedInstance(t, { name: 'Online', agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob', role: 'SUPERVISOR' }] });
    groupId = (await ok<{ createSkillGroup: { id: string } }>(seed.adminKey, 'mutation { createSkillGroup(input: { name: "Web", channel: ONLINE }) { id } }')).createSkillGroup.id;
    await ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: ann().id });
    const definition = { start: 'route', nodes: [{ id: 'route', type: 'route', skillGroupId: groupId, onNoAgent: 'nobody' }, { id: 'nobody', type: 'end', text: 'Nobody is online.' }] };
    const flowId = (await ok<{ createFlow: { id: string } }>(seed.adminKey, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', { input: { name: 'Route', kind: 'CHAT', definition } })).createFlow.id;
    key = (
      await ok<{ createWebChannel: { webChannel: { publicKey: string } } }>(seed.adminKey, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
        input: { name: 'Shop', allowedOrigins: [origin], skillGroupId: groupId, flowId },
      })
    ).createWebChannel.webChannel.publicKey;
    watchQueries(t.kefu.sql, (text) => {
      if (onlineStatement.test(text)) reads++;
    });
    // The router routes in this process once it caught up with the store.
    await until(
      () => Promise.resolve(t.kefu.router.leading),
      (leading) => leading,
      60_000,
    );
  }, 180_000);
  afterAll(async () => t?.close());

  it('answers each route from memory, as the read model would, as presence, membership and forcing change', async () => {
    await expectRoute(false); // Ann offline
    await presence(ann(), 'AVAILABLE');
    await expectRoute(true);
    await presence(ann(), 'BREAK'); // a break is online
    await expectRoute(true);
    await ok(bob().token, 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "training" }) { id } }', { id: ann().id });
    await expectRoute(false);
    await ok(bob().token, 'mutation($id: ID!) { restoreAgent(input: { agentId: $id }) { id } }', { id: ann().id });
    await presence(ann(), 'AVAILABLE');
    await expectRoute(true);
    await presence(bob(), 'AVAILABLE'); // online, but no member
    await ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { removeSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: ann().id });
    await expectRoute(false);
    await ok(seed.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: bob().id });
    await expectRoute(true);
  });

  it('reads the read model where the router cannot answer: not routing here, or a group it has not seen', async () => {
    expect(t.kefu.router.anyMemberOnlineNow(seed.instanceId, randomUUID())).toBeNull();
    const online = await anyAgentOnlineInReadModel(t.kefu.db, seed.instanceId, groupId);
    const before = reads;
    expect(await anyAgentOnline(t.kefu.db, seed.instanceId, groupId, () => null)).toBe(online);
    expect(reads - before).toBe(1);
    expect(await anyAgentOnline(t.kefu.db, seed.instanceId, groupId, (i, g) => t.kefu.router.anyMemberOnlineNow(i, g))).toBe(online);
    expect(reads - before).toBe(1);
  });
});
