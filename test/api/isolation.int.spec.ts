// Tenant isolation: an id from another instance behaves exactly like an id that does not exist. Every
// query and mutation that takes an id is called with instance A's credentials, once with an id of
// instance B and once with a random UUID; both answers must be the same, and B must be unchanged.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { until } from '../support/until.ts';

type Seeded = Awaited<ReturnType<typeof seedInstance>>;

interface World {
  id: string;
  adminKey: string;
  agent: { id: string; login: string; token: string };
  supervisor: { id: string; login: string; token: string };
  groupId: string;
  integrationKeyId: string;
}

/** Everything instance B has, read with B's own credentials. */
const snapshotQuery = `query($id: ID!) {
  flows { id name version definition numbers { number } }
  trunks { id name allowedAddresses username hasPassword outboundUri }
  instance(id: $id) {
    id name seats seatsUsed breakReasons
    qualification { status companyName registrationNumber documents submittedAt reviewedAt reviewReason }
  }
  apiKeys { id name role createdAt revokedAt }
  agents(first: 200) {
    totalCount
    edges { node { id name login phone role presence breakReason forcedOfflineReason createdAt updatedAt skillGroups { level skillGroup { id } } } }
  }
  skillGroups {
    id name channel strategy maxConcurrency ringTimeoutSeconds wrapUpSeconds createdAt updatedAt
    members { level agent { id } }
  }
}`;

/** The same answer, whatever the id in it: error codes, fields and messages (with the id masked) and data. */
function normalize(r: GqlResult<unknown>, idInRequest: string) {
  const mask = (s: string) => s.split(idInRequest).join('<id>');
  return {
    status: r.status,
    data: r.data === null ? null : JSON.parse(mask(JSON.stringify(r.data))),
    errors: (r.errors ?? []).map((e) => ({ code: e.extensions?.code, field: e.extensions?.field, message: mask(e.message) })),
  };
}

describe('instance isolation (pglite)', () => {
  let t: TestKefu;
  let A: World;
  let B: World;
  let bBefore: unknown;
  /** A phone call of B's (its contact id), for the call record cases. */
  let bCallId: string;
  /** B's IVR flow and SIP trunk, for the telephony cases. */
  let bFlowId: string;
  let bTrunkId: string;

  async function world(seeded: Seeded, groupName: string): Promise<World> {
    const [agent, supervisor] = seeded.agents as [Seeded['agents'][0], Seeded['agents'][0]];
    const group = await t.ok<{ createSkillGroup: { id: string } }>(
      seeded.adminKey,
      'mutation($name: String!) { createSkillGroup(input: { name: $name, channel: PHONE }) { id } }',
      { name: groupName },
    );
    const groupId = group.createSkillGroup.id;
    for (const a of [agent, supervisor]) {
      await t.ok(seeded.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a, level: 2 }) { id } }', {
        g: groupId,
        a: a.id,
      });
    }
    const key = await t.ok<{ createApiKey: { apiKey: { id: string } } }>(
      seeded.adminKey,
      'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { apiKey { id } } }',
    );
    return { id: seeded.instanceId, adminKey: seeded.adminKey, agent, supervisor, groupId, integrationKeyId: key.createApiKey.apiKey.id };
  }

  const snapshotB = () => t.ok(B.adminKey, snapshotQuery, { id: B.id });

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    A = await world(
      await seedInstance(t, { name: 'Alpha', agents: [{ name: 'Ann Alpha', login: 'ann' }, { name: 'Sam Alpha', login: 'sam', role: 'SUPERVISOR' }] }),
      'Alpha sales',
    );
    // B uses different logins for its agents, and also one that A uses.
    B = await world(
      await seedInstance(t, { name: 'Beta', agents: [{ name: 'Bea Beta', login: 'bea.login' }, { name: 'Ann Beta', login: 'ann.b', role: 'SUPERVISOR' }] }),
      'Beta sales',
    );
    // B's agent is on a break and its supervisor forced offline, so that any change would show.
    await t.ok(B.agent.token, 'mutation { setPresence(input: { presence: BREAK, reason: "Meal" }) { presence } }');
    await t.ok(B.adminKey, 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "training" }) { presence } }', { id: B.supervisor.id });
    // A phone call in B, as the SIP side creates one; wait until B sees its call record.
    bCallId = randomUUID();
    await t.kefu.commands.handle(streams.contact(B.id, bCallId), contactDecider, {
      type: 'CreateContact',
      data: {
        contactId: bCallId,
        channel: 'PHONE',
        direction: 'IN',
        customer: { kind: 'PHONE', id: '+8613900000000', name: null },
        data: {},
        call: { callId: 'b-call@trunk', direction: 'IN', from: '+8613900000000', to: '+864009999999', trunkId: null, node: 'node-b' },
      },
      metadata: { now: new Date().toISOString(), instanceId: B.id, actor: 'system:sip', correlationId: randomUUID() },
    });
    await until(
      () => t.gql<{ callRecord: { contactId: string } }>(B.adminKey, 'query($id: ID!) { callRecord(contactId: $id) { contactId } }', { id: bCallId }),
      (r) => r.data?.callRecord?.contactId === bCallId,
    );
    const bFlow = await t.ok<{ createFlow: { id: string } }>(B.adminKey, 'mutation($d: JSON!) { createFlow(input: { name: "Beta IVR", kind: IVR, definition: $d }) { id } }', {
      d: { start: 'r', nodes: [{ id: 'r', type: 'route', skillGroupId: B.groupId }] },
    });
    bFlowId = bFlow.createFlow.id;
    const bTrunk = await t.ok<{ createTrunk: { id: string } }>(B.adminKey, 'mutation { createTrunk(input: { name: "Beta carrier", allowedAddresses: ["192.0.2.9"] }) { id } }');
    bTrunkId = bTrunk.createTrunk.id;
    bBefore = await snapshotB();
  });
  afterAll(async () => t?.close());

  it("B's snapshot holds B's agents, skill group, keys and states (so that a change would show)", () => {
    const b = bBefore as {
      instance: { id: string; seatsUsed: number };
      apiKeys: { id: string; revokedAt: string | null }[];
      agents: { totalCount: number; edges: { node: { id: string; presence: string; skillGroups: unknown[] } }[] };
      skillGroups: { id: string; members: unknown[] }[];
    };
    expect(b.instance).toMatchObject({ id: B.id, seatsUsed: 2 });
    expect(b.apiKeys.find((k) => k.id === B.integrationKeyId)).toMatchObject({ revokedAt: null });
    expect(b.agents.totalCount).toBe(2);
    expect(Object.fromEntries(b.agents.edges.map((e) => [e.node.id, e.node.presence]))).toEqual({
      [B.agent.id]: 'BREAK',
      [B.supervisor.id]: 'FORCED_OFFLINE',
    });
    expect(b.skillGroups.map((g) => [g.id, g.members.length])).toEqual([[B.groupId, 2]]);
  });

  interface Case {
    name: string;
    query: string;
    /** The variables, given the id under test (B's id or a random one). */
    vars: (id: string) => Record<string, unknown>;
    /** B's id used by the case. */
    foreign: () => string;
    /** What the admin key of A gets for both ids: an error code, or data (as a function of the id's absence). */
    expectCode?: string;
    expectData?: (r: GqlResult<Record<string, unknown>>) => void;
  }

  const cases: Case[] = [
    { name: 'agent(id)', query: 'query($id: ID!) { agent(id: $id) { id name } }', vars: (id) => ({ id }), foreign: () => B.agent.id, expectCode: 'NOT_FOUND' },
    {
      name: 'skillGroup(id)',
      query: 'query($id: ID!) { skillGroup(id: $id) { id name members { agent { id } } } }',
      vars: (id) => ({ id }),
      foreign: () => B.groupId,
      expectCode: 'NOT_FOUND',
    },
    { name: 'instance(id)', query: 'query($id: ID!) { instance(id: $id) { id name seats } }', vars: (id) => ({ id }), foreign: () => B.id, expectCode: 'NOT_FOUND' },
    {
      name: 'updateAgent',
      query: 'mutation($id: ID!) { updateAgent(input: { id: $id, name: "Hijacked", password: "hijacked-password" }) { id name } }',
      vars: (id) => ({ id }),
      foreign: () => B.agent.id,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'updateAgent changing the login',
      query: 'mutation($id: ID!) { updateAgent(input: { id: $id, login: "hijacked" }) { id login } }',
      vars: (id) => ({ id }),
      foreign: () => B.agent.id,
      expectCode: 'NOT_FOUND',
    },
    { name: 'deleteAgent', query: 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', vars: (id) => ({ id }), foreign: () => B.agent.id, expectCode: 'NOT_FOUND' },
    {
      name: 'setPresence with agentId',
      query: 'mutation($id: ID!) { setPresence(input: { presence: AVAILABLE, agentId: $id }) { id presence } }',
      vars: (id) => ({ id }),
      foreign: () => B.agent.id,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'setPresence OFFLINE with agentId',
      query: 'mutation($id: ID!) { setPresence(input: { presence: OFFLINE, agentId: $id }) { id presence } }',
      vars: (id) => ({ id }),
      foreign: () => B.agent.id,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'forceAgentOffline',
      query: 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "hijack" }) { id presence } }',
      vars: (id) => ({ id }),
      foreign: () => B.agent.id,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'restoreAgent',
      query: 'mutation($id: ID!) { restoreAgent(input: { agentId: $id }) { id presence } }',
      vars: (id) => ({ id }),
      foreign: () => B.supervisor.id,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'updateSkillGroup',
      query: 'mutation($id: ID!) { updateSkillGroup(input: { id: $id, name: "Hijacked", wrapUpSeconds: 99 }) { id name } }',
      vars: (id) => ({ id }),
      foreign: () => B.groupId,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'deleteSkillGroup',
      query: 'mutation($id: ID!) { deleteSkillGroup(input: { id: $id }) { id } }',
      vars: (id) => ({ id }),
      foreign: () => B.groupId,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'setSkillGroupMember with a foreign skill group',
      query: 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a, level: 1 }) { id members { agent { id } } } }',
      vars: (id) => ({ g: id, a: A.agent.id }),
      foreign: () => B.groupId,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'setSkillGroupMember with a foreign agent',
      query: 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a, level: 1 }) { id members { agent { id } } } }',
      vars: (id) => ({ g: A.groupId, a: id }),
      foreign: () => B.agent.id,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'removeSkillGroupMember with a foreign skill group',
      query: 'mutation($g: ID!, $a: ID!) { removeSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id members { agent { id } } } }',
      vars: (id) => ({ g: id, a: A.agent.id }),
      foreign: () => B.groupId,
      expectCode: 'NOT_FOUND',
    },
    {
      // Removing someone who is not a member changes nothing, whether they exist elsewhere or not.
      name: 'removeSkillGroupMember with a foreign agent',
      query: 'mutation($g: ID!, $a: ID!) { removeSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id members { agent { id } } } }',
      vars: (id) => ({ g: A.groupId, a: id }),
      foreign: () => B.agent.id,
      expectData: (r) => {
        const members = (r.data?.removeSkillGroupMember as { members: { agent: { id: string } }[] }).members.map((m) => m.agent.id).sort();
        expect(members).toEqual([A.agent.id, A.supervisor.id].sort());
      },
    },
    {
      name: 'revokeApiKey',
      query: 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id revokedAt } }',
      vars: (id) => ({ id }),
      foreign: () => B.integrationKeyId,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'agents(filter: { skillGroupId })',
      query: 'query($id: ID!) { agents(filter: { skillGroupId: $id }) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }',
      vars: (id) => ({ id }),
      foreign: () => B.groupId,
      expectData: (r) => expect(r.data).toEqual({ agents: { totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } } }),
    },
    {
      name: 'agentMonitor(skillGroupId)',
      query: 'query($id: ID!) { agentMonitor(skillGroupId: $id) { agent { id } } }',
      vars: (id) => ({ id }),
      foreign: () => B.groupId,
      expectData: (r) => expect(r.data).toEqual({ agentMonitor: [] }),
    },
    {
      name: 'callRecord(contactId)',
      query: 'query($id: ID!) { callRecord(contactId: $id) { contactId caller recording { url } } }',
      vars: (id) => ({ id }),
      foreign: () => bCallId,
      expectCode: 'NOT_FOUND',
    },
    {
      name: 'callRecords(filter: { agentId })',
      query: 'query($id: ID!) { callRecords(filter: { agentId: $id }) { edges { node { contactId } } pageInfo { hasNextPage endCursor } } }',
      vars: (id) => ({ id }),
      foreign: () => B.agent.id,
      expectData: (r) => expect(r.data).toEqual({ callRecords: { edges: [], pageInfo: { hasNextPage: false, endCursor: null } } }),
    },
    { name: 'flow(id)', query: 'query($id: ID!) { flow(id: $id) { id name definition } }', vars: (id) => ({ id }), foreign: () => bFlowId, expectCode: 'NOT_FOUND' },
    { name: 'flowVersion(id)', query: 'query($id: ID!) { flowVersion(id: $id, version: 1) { definition } }', vars: (id) => ({ id }), foreign: () => bFlowId, expectCode: 'NOT_FOUND' },
    {
      name: 'updateFlow',
      query: 'mutation($id: ID!) { updateFlow(input: { id: $id, name: "Hijacked" }) { id name } }',
      vars: (id) => ({ id }),
      foreign: () => bFlowId,
      expectCode: 'NOT_FOUND',
    },
    { name: 'deleteFlow', query: 'mutation($id: ID!) { deleteFlow(input: { id: $id }) { id } }', vars: (id) => ({ id }), foreign: () => bFlowId, expectCode: 'NOT_FOUND' },
    {
      name: 'bindNumber to a foreign flow',
      query: 'mutation($id: ID!) { bindNumber(input: { number: "+10005550199", flowId: $id }) { number } }',
      vars: (id) => ({ id }),
      foreign: () => bFlowId,
      // A's qualification is not approved: FORBIDDEN before any flow is looked at, for both ids.
      expectCode: 'FORBIDDEN',
    },
    {
      name: 'updateTrunk',
      query: 'mutation($id: ID!) { updateTrunk(input: { id: $id, allowedAddresses: ["0.0.0.0/0"] }) { id } }',
      vars: (id) => ({ id }),
      foreign: () => bTrunkId,
      expectCode: 'NOT_FOUND',
    },
    { name: 'deleteTrunk', query: 'mutation($id: ID!) { deleteTrunk(input: { id: $id }) { id } }', vars: (id) => ({ id }), foreign: () => bTrunkId, expectCode: 'NOT_FOUND' },
    {
      name: 'setAgentSipCredentials',
      query: 'mutation($id: ID!) { setAgentSipCredentials(input: { agentId: $id, password: "hijack-password" }) { username } }',
      vars: (id) => ({ id }),
      foreign: () => B.agent.id,
      expectCode: 'NOT_FOUND',
    },
  ];

  // Each case runs with every kind of credential of A: the answer for B's id and for a random id must be
  // the same whatever the caller's role (an agent gets FORBIDDEN for both, never something that tells).
  const callers: { name: string; token: () => string; expected: boolean }[] = [
    { name: "A's admin API key", token: () => A.adminKey, expected: true },
    { name: "A's supervisor", token: () => A.supervisor.token, expected: false },
    { name: "A's agent", token: () => A.agent.token, expected: false },
  ];

  for (const c of cases) {
    it(`${c.name}: B's id answers exactly like an id that exists nowhere, and B is unchanged`, async () => {
      for (const caller of callers) {
        const nowhere = randomUUID();
        const foreign = await t.gql<Record<string, unknown>>(caller.token(), c.query, c.vars(c.foreign()));
        const missing = await t.gql<Record<string, unknown>>(caller.token(), c.query, c.vars(nowhere));
        const label = `${caller.name}: ${JSON.stringify(foreign)} vs ${JSON.stringify(missing)}`;
        expect(normalize(foreign, c.foreign()), label).toEqual(normalize(missing, nowhere));
        if (caller.expected) {
          for (const r of [foreign, missing]) {
            if (c.expectCode) {
              expect(r.errors?.map((e) => e.extensions?.code), label).toEqual([c.expectCode]);
            } else {
              expect(r.errors, label).toBeUndefined();
              c.expectData!(r);
            }
          }
        }
        // Nothing of B leaks into the message.
        for (const e of foreign.errors ?? []) expect(e.message).not.toMatch(/Beta|bea\.login|ann\.b/);
      }
      expect(await snapshotB()).toEqual(bBefore);
    });
  }

  it("loginAgent: B's login against A's instance is refused like a login that exists nowhere", async () => {
    const login = (instanceId: string, name: string) =>
      t.gql<{ loginAgent: { token: string } }>(null, 'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token agent { id } } }', {
        input: { instanceId, login: name, password: 'password-123' },
      });
    const foreign = await login(A.id, B.agent.login);
    const missing = await login(A.id, `nobody-${randomUUID().slice(0, 8)}`);
    expect(foreign.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    expect(normalize(foreign, B.agent.login)).toEqual(normalize(missing, 'no id in this answer'));
    // And A's instance id with a random instance: also the same.
    const nowhere = await login(randomUUID(), B.agent.login);
    expect(nowhere.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    expect(nowhere.errors?.[0]?.message).toBe(foreign.errors?.[0]?.message);
    // B's agent logs into B, and the token it gets is B's.
    const own = await login(B.id, B.agent.login);
    expect(own.errors).toBeUndefined();
    const me = await t.ok<{ me: { instanceId: string; agent: { id: string } } }>(
      own.data!.loginAgent.token,
      '{ me { ... on AgentPrincipal { instanceId agent { id } } } }',
    );
    expect(me.me).toEqual({ instanceId: B.id, agent: { id: B.agent.id } });
  });

  it('operator-only mutations that take an instance id are forbidden to A alike for B and for a random id', async () => {
    for (const query of [
      'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 5 }) { seats } }',
      'mutation($id: ID!) { reviewQualification(input: { instanceId: $id, approve: true }) { id } }',
    ]) {
      for (const token of [A.adminKey, A.supervisor.token]) {
        const foreign = await t.gql(token, query, { id: B.id });
        const nowhere = randomUUID();
        const missing = await t.gql(token, query, { id: nowhere });
        expect(foreign.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
        expect(normalize(foreign, B.id)).toEqual(normalize(missing, nowhere));
      }
    }
    expect(await snapshotB()).toEqual(bBefore);
  });

  it("instance-scoped mutations without ids (submitQualification, configureBreakReasons, createApiKey) change only the caller's instance", async () => {
    const submitted = await t.ok<{ submitQualification: { id: string; qualification: { status: string } } }>(
      A.adminKey,
      'mutation { submitQualification(input: { companyName: "Alpha Ltd", registrationNumber: "A-1", documents: ["doc-a"] }) { id qualification { status } } }',
    );
    expect(submitted.submitQualification).toEqual({ id: A.id, qualification: { status: 'PENDING' } });
    await t.ok(A.adminKey, 'mutation { configureBreakReasons(input: { reasons: ["Alpha break"] }) }');
    await t.ok(A.adminKey, 'mutation { createApiKey(input: { name: "alpha-extra", role: ADMIN }) { apiKey { id } } }');
    const a = await t.ok<{ instance: { qualification: { status: string }; breakReasons: string[] } }>(
      A.adminKey,
      'query($id: ID!) { instance(id: $id) { qualification { status } breakReasons } }',
      { id: A.id },
    );
    expect(a.instance).toEqual({ qualification: { status: 'PENDING' }, breakReasons: ['Alpha break'] });
    expect(await snapshotB()).toEqual(bBefore);
  });

  it("lists show only the caller's instance, and the operator sees both instances", async () => {
    const a = await t.ok<{
      agents: { totalCount: number; edges: { node: { id: string; skillGroups: { skillGroup: { id: string } }[] } }[] };
      skillGroups: { id: string; members: { agent: { id: string } }[] }[];
      apiKeys: { id: string }[];
      agentMonitor: { agent: { id: string } }[];
    }>(A.adminKey, '{ agents { totalCount edges { node { id skillGroups { skillGroup { id } } } } } skillGroups { id members { agent { id } } } apiKeys { id } agentMonitor { agent { id } } }');
    const aAgents = [A.agent.id, A.supervisor.id].sort();
    expect(a.agents.totalCount).toBe(2);
    expect(a.agents.edges.map((e) => e.node.id).sort()).toEqual(aAgents);
    expect(a.agents.edges.flatMap((e) => e.node.skillGroups.map((g) => g.skillGroup.id))).toEqual([A.groupId, A.groupId]);
    expect(a.skillGroups.map((g) => g.id)).toEqual([A.groupId]);
    expect(a.skillGroups[0]!.members.map((m) => m.agent.id).sort()).toEqual(aAgents);
    expect(a.apiKeys.map((k) => k.id)).not.toContain(B.integrationKeyId);
    expect(a.agentMonitor.map((s) => s.agent.id).sort()).toEqual(aAgents);
    // Searching A's agents for B's names finds nothing.
    const search = await t.ok<{ agents: { totalCount: number } }>(A.adminKey, '{ agents(filter: { search: "Beta" }) { totalCount } }');
    expect(search.agents.totalCount).toBe(0);
    const ops = await t.ok<{ instances: { id: string }[] }>(operatorToken, '{ instances { id } }');
    expect(ops.instances.map((i) => i.id)).toEqual(expect.arrayContaining([A.id, B.id]));
  });

  it("no command of A ever wrote into a stream named after B's ids", async () => {
    for (const streamId of [`agent-${A.id}.${B.agent.id}`, `agent-${A.id}.${B.supervisor.id}`, `skillgroup-${A.id}.${B.groupId}`]) {
      expect(await t.kefu.store.readStream(streamId), streamId).toEqual([]);
    }
    expect(await snapshotB()).toEqual(bBefore);
  });
});
