// Authentication and roles: who may call what, how bad credentials are refused, login throttling and
// case-insensitive logins, and the qualification review between an instance admin and the operator.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';

type Seeded = Awaited<ReturnType<typeof seedInstance>>;
type SeededAgent = Seeded['agents'][0];

const codes = (r: GqlResult<unknown>) => r.errors?.map((e) => e.extensions?.code);

describe('authentication and roles (pglite)', () => {
  let t: TestKefu;
  let seeded: Seeded;
  let ann: SeededAgent; // AGENT
  let sam: SeededAgent; // SUPERVISOR
  let ada: SeededAgent; // ADMIN
  let integrationKey: string;
  let groupId: string;

  /** A request with any Authorization header (or none) and client address, through fastify inject. */
  async function raw(authorization: string | null, query: string, variables?: Record<string, unknown>, remoteAddress = '127.0.0.1') {
    const res = await t.kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      remoteAddress,
      headers: { 'content-type': 'application/json', ...(authorization !== null ? { authorization } : {}) },
      payload: JSON.stringify({ query, variables }),
    });
    return { status: res.statusCode, ...(res.json() as Omit<GqlResult<Record<string, unknown>>, 'status'>) } as GqlResult<Record<string, unknown>> & {
      errors?: { message: string; extensions?: { code?: string; field?: string; retryAfterSeconds?: number } }[];
    };
  }

  const loginMutation = 'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token agent { id login } } }';
  /** Logs in from a given client address (failed logins are throttled per address too, so tests keep theirs apart). */
  const login = (instanceId: string, name: string, password: string, remoteAddress: string) =>
    raw(null, loginMutation, { input: { instanceId, login: name, password } }, remoteAddress);

  const createAgent = (token: string, name: string, loginName: string, role = 'AGENT') =>
    t.gql<{ createAgent: { id: string; login: string; role: string } }>(
      token,
      'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id login role } }',
      { input: { name, login: loginName, password: 'password-123', role } },
    );

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    seeded = await seedInstance(t, {
      name: 'Auth Co',
      seats: 30,
      agents: [
        { name: 'Ann', login: 'ann' },
        { name: 'Sam', login: 'sam', role: 'SUPERVISOR' },
        { name: 'Ada', login: 'ada', role: 'ADMIN' },
      ],
    });
    [ann, sam, ada] = seeded.agents as [SeededAgent, SeededAgent, SeededAgent];
    const key = await t.ok<{ createApiKey: { secret: string } }>(seeded.adminKey, 'mutation { createApiKey(input: { name: "crm", role: INTEGRATION }) { secret } }');
    integrationKey = key.createApiKey.secret;
    const group = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "Support", channel: PHONE }) { id } }');
    groupId = group.createSkillGroup.id;
  });
  afterAll(async () => t?.close());

  /** Every query and mutation with valid arguments (so only the caller decides the answer). */
  const everyOperation = (): [string, string, Record<string, unknown>?][] => {
    const someId = randomUUID();
    return [
      ['me', '{ me { __typename } }'],
      ['instances', '{ instances { id } }'],
      ['instance', 'query($id: ID!) { instance(id: $id) { id } }', { id: seeded.instanceId }],
      ['apiKeys', '{ apiKeys { id } }'],
      ['agents', '{ agents { totalCount } }'],
      ['agent', 'query($id: ID!) { agent(id: $id) { id } }', { id: ann.id }],
      ['skillGroups', '{ skillGroups { id } }'],
      ['skillGroup', 'query($id: ID!) { skillGroup(id: $id) { id } }', { id: groupId }],
      ['breakReasons', '{ breakReasons }'],
      ['agentMonitor', '{ agentMonitor { presence } }'],
      ['createInstance', 'mutation { createInstance(input: { name: "X" }) { adminApiKey } }'],
      ['submitQualification', 'mutation { submitQualification(input: { companyName: "X", registrationNumber: "1", documents: ["d"] }) { id } }'],
      ['reviewQualification', 'mutation($id: ID!) { reviewQualification(input: { instanceId: $id, approve: true }) { id } }', { id: seeded.instanceId }],
      ['purchaseSeats', 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 1 }) { id } }', { id: seeded.instanceId }],
      ['createApiKey', 'mutation { createApiKey(input: { name: "k", role: ADMIN }) { secret } }'],
      ['revokeApiKey', 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id } }', { id: someId }],
      ['configureBreakReasons', 'mutation { configureBreakReasons(input: { reasons: ["Meal"] }) }'],
      ['createAgent', 'mutation { createAgent(input: { name: "N", login: "anon-new", password: "password-123" }) { id } }'],
      ['updateAgent', 'mutation($id: ID!) { updateAgent(input: { id: $id, name: "Changed" }) { id } }', { id: ann.id }],
      ['deleteAgent', 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: ann.id }],
      ['setPresence', 'mutation($id: ID!) { setPresence(input: { presence: AVAILABLE, agentId: $id }) { id } }', { id: ann.id }],
      ['forceAgentOffline', 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "x" }) { id } }', { id: ann.id }],
      ['restoreAgent', 'mutation($id: ID!) { restoreAgent(input: { agentId: $id }) { id } }', { id: ann.id }],
      ['createSkillGroup', 'mutation { createSkillGroup(input: { name: "G", channel: PHONE }) { id } }'],
      ['updateSkillGroup', 'mutation($id: ID!) { updateSkillGroup(input: { id: $id, name: "Changed" }) { id } }', { id: groupId }],
      ['deleteSkillGroup', 'mutation($id: ID!) { deleteSkillGroup(input: { id: $id }) { id } }', { id: groupId }],
      ['setSkillGroupMember', 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: ann.id }],
      ['removeSkillGroupMember', 'mutation($g: ID!, $a: ID!) { removeSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: ann.id }],
    ];
  };

  it('without a token every query and mutation but loginAgent is UNAUTHENTICATED, and nothing changes', async () => {
    const before = await t.ok(seeded.adminKey, '{ agents { edges { node { id name presence updatedAt } } } skillGroups { id name updatedAt } apiKeys { id } }');
    const ops = everyOperation();
    expect(ops.length).toBe(28);
    for (const header of [null, 'Bearer', 'Bearer   ']) {
      for (const [name, query, variables] of ops) {
        const r = await raw(header, query, variables);
        expect(codes(r), `${name} with ${JSON.stringify(header)}: ${JSON.stringify(r)}`).toEqual(['UNAUTHENTICATED']);
      }
    }
    expect(await t.ok(seeded.adminKey, '{ agents { edges { node { id name presence updatedAt } } } skillGroups { id name updatedAt } apiKeys { id } }')).toEqual(before);
    const ok = await login(seeded.instanceId, 'ann', 'password-123', '127.0.0.1');
    expect(ok.errors).toBeUndefined();
    expect(ok.data).toMatchObject({ loginAgent: { agent: { id: ann.id, login: 'ann' } } });
  });

  it('a garbage token or a malformed Authorization header is UNAUTHENTICATED with HTTP 401', async () => {
    const foreignKey = new TextEncoder().encode('not-the-kefu-signing-key-0123456789abcdef');
    const forged = await new SignJWT({ iid: seeded.instanceId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(ann.id)
      .setIssuedAt()
      .setExpirationTime('1h')
      .setIssuer('kefu')
      .sign(foreignKey);
    const [, adminKeyId] = /^kefu_([0-9a-f-]{36})\./.exec(seeded.adminKey) ?? [];
    const headers = [
      'Bearer garbage',
      `Bearer ${operatorToken}x`,
      'Bearer kefu_garbage',
      `Bearer kefu_${randomUUID()}.c2VjcmV0`,
      `Bearer kefu_${adminKeyId}.wrong-secret`,
      'Bearer eyJhbGciOiJIUzI1NiJ9.garbage.garbage',
      `Bearer ${forged}`,
      `Bearer ${ann.token}x`,
      'Basic x',
      'Basic dXNlcjpwYXNz',
      `Basic ${seeded.adminKey}`,
      'Bearer two tokens',
      'garbage',
      `Token ${seeded.adminKey}`,
    ];
    for (const header of headers) {
      for (const query of ['{ me { __typename } }', '{ agents { totalCount } }', 'mutation { createSkillGroup(input: { name: "Hack", channel: PHONE }) { id } }']) {
        const r = await raw(header, query);
        expect(r.status, header).toBe(401);
        expect(r.data, header).toBeNull();
        expect(codes(r), header).toEqual(['UNAUTHENTICATED']);
        for (const e of r.errors ?? []) expect(e.message).not.toMatch(/\n\s+at |Internal/);
      }
    }
    const groups = await t.ok<{ skillGroups: { name: string }[] }>(seeded.adminKey, '{ skillGroups { name } }');
    expect(groups.skillGroups.map((g) => g.name)).not.toContain('Hack');
  });

  it('a revoked API key is UNAUTHENTICATED from the next request on', async () => {
    const created = await t.ok<{ createApiKey: { apiKey: { id: string; role: string; revokedAt: string | null }; secret: string } }>(
      seeded.adminKey,
      'mutation { createApiKey(input: { name: "short-lived", role: ADMIN }) { apiKey { id role revokedAt } secret } }',
    );
    const { apiKey, secret } = created.createApiKey;
    expect(apiKey).toMatchObject({ role: 'ADMIN', revokedAt: null });
    const me = await t.ok<{ me: { apiKey: { id: string } } }>(secret, '{ me { ... on ApiKeyPrincipal { apiKey { id } } } }');
    expect(me.me.apiKey.id).toBe(apiKey.id);
    const revoked = await t.ok<{ revokeApiKey: { id: string; revokedAt: string | null } }>(seeded.adminKey, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id revokedAt } }', {
      id: apiKey.id,
    });
    expect(revoked.revokeApiKey.revokedAt).not.toBeNull();
    for (const query of ['{ me { __typename } }', '{ agents { totalCount } }', 'mutation { createApiKey(input: { name: "again", role: ADMIN }) { secret } }']) {
      const r = await t.gql(secret, query);
      expect(r.status).toBe(401);
      expect(codes(r)).toEqual(['UNAUTHENTICATED']);
    }
    // A key may revoke itself; afterwards it is refused too.
    const self = await t.ok<{ createApiKey: { apiKey: { id: string }; secret: string } }>(
      seeded.adminKey,
      'mutation { createApiKey(input: { name: "self-revoking", role: ADMIN }) { apiKey { id } secret } }',
    );
    await t.ok(self.createApiKey.secret, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id } }', { id: self.createApiKey.apiKey.id });
    expect(codes(await t.gql(self.createApiKey.secret, '{ me { __typename } }'))).toEqual(['UNAUTHENTICATED']);
    // The instance's own admin key still works.
    expect((await t.gql(seeded.adminKey, '{ me { __typename } }')).errors).toBeUndefined();
  });

  it("a deleted agent's token is UNAUTHENTICATED, and the agent cannot log in again", async () => {
    const created = await createAgent(seeded.adminKey, 'Leaver', 'leaver');
    expect(created.errors).toBeUndefined();
    const logged = await login(seeded.instanceId, 'leaver', 'password-123', '10.0.1.1');
    const token = (logged.data as { loginAgent: { token: string } }).loginAgent.token;
    expect((await t.gql(token, '{ me { __typename } }')).data).toEqual({ me: { __typename: 'AgentPrincipal' } });
    await t.ok(seeded.adminKey, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: created.data!.createAgent.id });
    for (const query of ['{ me { __typename } }', '{ agents { totalCount } }', 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }']) {
      const r = await t.gql(token, query);
      expect(r.status).toBe(401);
      expect(codes(r)).toEqual(['UNAUTHENTICATED']);
    }
    const again = await login(seeded.instanceId, 'leaver', 'password-123', '10.0.1.2');
    expect(codes(again)).toEqual(['UNAUTHENTICATED']);
  });

  it('an agent may not manage agents, skill groups, keys or other agents’ presence (FORBIDDEN), but sets their own presence', async () => {
    const forbidden: [string, Record<string, unknown>?][] = [
      ['mutation { createAgent(input: { name: "N", login: "by-agent", password: "password-123" }) { id } }'],
      ['mutation($id: ID!) { updateAgent(input: { id: $id, name: "Changed" }) { id } }', { id: sam.id }],
      ['mutation($id: ID!) { updateAgent(input: { id: $id, role: ADMIN }) { id } }', { id: ann.id }],
      ['mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: sam.id }],
      ['mutation { createSkillGroup(input: { name: "G", channel: PHONE }) { id } }'],
      ['mutation($id: ID!) { updateSkillGroup(input: { id: $id, name: "Changed" }) { id } }', { id: groupId }],
      ['mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: ann.id }],
      ['mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "x" }) { id } }', { id: sam.id }],
      ['mutation($id: ID!) { restoreAgent(input: { agentId: $id }) { id } }', { id: sam.id }],
      ['mutation($id: ID!) { setPresence(input: { presence: AVAILABLE, agentId: $id }) { id } }', { id: sam.id }],
      ['mutation { createApiKey(input: { name: "k", role: ADMIN }) { secret } }'],
      ['{ apiKeys { id } }'],
      ['mutation { configureBreakReasons(input: { reasons: ["Nap"] }) }'],
      ['mutation { submitQualification(input: { companyName: "X", registrationNumber: "1", documents: ["d"] }) { id } }'],
      ['{ instances { id } }'],
      ['mutation { createInstance(input: { name: "X" }) { adminApiKey } }'],
    ];
    for (const [query, variables] of forbidden) {
      const r = await t.gql(ann.token, query, variables);
      expect(codes(r), `${query}: ${JSON.stringify(r)}`).toEqual(['FORBIDDEN']);
    }
    const sams = await t.ok<{ agent: { name: string; presence: string } }>(ann.token, 'query($id: ID!) { agent(id: $id) { name presence } }', { id: sam.id });
    expect(sams.agent).toEqual({ name: 'Sam', presence: 'OFFLINE' });
    // Their own presence, with or without naming themselves.
    const own = await t.ok<{ setPresence: { presence: string } }>(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { presence } }');
    expect(own.setPresence.presence).toBe('AVAILABLE');
    const named = await t.ok<{ setPresence: { presence: string } }>(ann.token, 'mutation($id: ID!) { setPresence(input: { presence: OFFLINE, agentId: $id }) { presence } }', {
      id: ann.id,
    });
    expect(named.setPresence.presence).toBe('OFFLINE');
  });

  it("a supervisor sets another agent's presence, forces them offline and restores them, but may not create agents", async () => {
    const set = await t.gql<{ setPresence: { id: string; presence: string } }>(
      sam.token,
      'mutation($id: ID!) { setPresence(input: { presence: AVAILABLE, agentId: $id }) { id presence } }',
      { id: ann.id },
    );
    expect(set.errors).toBeUndefined();
    expect(set.data?.setPresence).toEqual({ id: ann.id, presence: 'AVAILABLE' });
    const forced = await t.gql<{ forceAgentOffline: { presence: string; forcedOfflineReason: string } }>(
      sam.token,
      'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "coaching" }) { presence forcedOfflineReason } }',
      { id: ann.id },
    );
    expect(forced.data?.forceAgentOffline).toEqual({ presence: 'FORCED_OFFLINE', forcedOfflineReason: 'coaching' });
    const restored = await t.ok<{ restoreAgent: { presence: string } }>(sam.token, 'mutation($id: ID!) { restoreAgent(input: { agentId: $id }) { presence } }', {
      id: ann.id,
    });
    expect(restored.restoreAgent.presence).toBe('OFFLINE');
    const monitor = await t.ok<{ agentMonitor: { agent: { id: string } }[] }>(sam.token, '{ agentMonitor { agent { id } } }');
    expect(monitor.agentMonitor.map((s) => s.agent.id)).toEqual(expect.arrayContaining([ann.id, sam.id, ada.id]));
    for (const [query, variables] of [
      ['mutation { createAgent(input: { name: "N", login: "by-supervisor", password: "password-123" }) { id } }'],
      ['mutation($id: ID!) { updateAgent(input: { id: $id, role: SUPERVISOR }) { id } }', { id: ann.id }],
      ['mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: ann.id }],
      ['mutation { createSkillGroup(input: { name: "G", channel: PHONE }) { id } }'],
      ['mutation { createApiKey(input: { name: "k", role: ADMIN }) { secret } }'],
    ] as [string, Record<string, unknown>?][]) {
      expect(codes(await t.gql(sam.token, query, variables)), query).toEqual(['FORBIDDEN']);
    }
  });

  it('an ADMIN agent manages the instance like the admin key', async () => {
    const created = await createAgent(ada.token, 'By Ada', 'by-ada');
    expect(created.errors).toBeUndefined();
    expect(created.data?.createAgent).toMatchObject({ login: 'by-ada', role: 'AGENT' });
    const forced = await t.gql(ada.token, 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "x" }) { presence } }', { id: created.data!.createAgent.id });
    expect(forced.data).toEqual({ forceAgentOffline: { presence: 'FORCED_OFFLINE' } });
    expect((await t.gql(ada.token, '{ apiKeys { id } }')).errors).toBeUndefined();
    await t.ok(ada.token, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: created.data!.createAgent.id });
  });

  it('an INTEGRATION key reads agents but may not create agents or act as a supervisor (FORBIDDEN)', async () => {
    const read = await t.gql<{ agents: { totalCount: number } }>(integrationKey, '{ agents { totalCount } }');
    expect(read.errors).toBeUndefined();
    expect(read.data?.agents.totalCount).toBeGreaterThanOrEqual(3);
    for (const [query, variables] of [
      ['mutation { createAgent(input: { name: "N", login: "by-integration", password: "password-123" }) { id } }'],
      ['mutation($id: ID!) { updateAgent(input: { id: $id, name: "Changed" }) { id } }', { id: ann.id }],
      ['mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: ann.id }],
      ['mutation { createSkillGroup(input: { name: "G", channel: PHONE }) { id } }'],
      ['mutation { createApiKey(input: { name: "k", role: ADMIN }) { secret } }'],
      ['{ apiKeys { id } }'],
      ['mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "x" }) { id } }', { id: ann.id }],
      ['mutation($id: ID!) { setPresence(input: { presence: AVAILABLE, agentId: $id }) { id } }', { id: ann.id }],
      ['{ agentMonitor { presence } }'],
    ] as [string, Record<string, unknown>?][]) {
      expect(codes(await t.gql(integrationKey, query, variables)), query).toEqual(['FORBIDDEN']);
    }
    // An API key has no presence of its own.
    const own = await t.gql(integrationKey, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    expect(own.errors?.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'input.agentId']]);
  });

  it('the operator may not call instance-scoped operations (FORBIDDEN), only operator ones', async () => {
    for (const [query, variables] of [
      ['{ agents { totalCount } }'],
      ['query($id: ID!) { agent(id: $id) { id } }', { id: ann.id }],
      ['{ skillGroups { id } }'],
      ['{ apiKeys { id } }'],
      ['{ breakReasons }'],
      ['{ agentMonitor { presence } }'],
      ['mutation { createAgent(input: { name: "N", login: "by-operator", password: "password-123" }) { id } }'],
      ['mutation { createSkillGroup(input: { name: "G", channel: PHONE }) { id } }'],
      ['mutation($id: ID!) { setPresence(input: { presence: AVAILABLE, agentId: $id }) { id } }', { id: ann.id }],
      ['mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "x" }) { id } }', { id: ann.id }],
      ['mutation { submitQualification(input: { companyName: "X", registrationNumber: "1", documents: ["d"] }) { id } }'],
      ['mutation { createApiKey(input: { name: "k", role: ADMIN }) { secret } }'],
    ] as [string, Record<string, unknown>?][]) {
      const r = await t.gql(operatorToken, query, variables);
      expect(codes(r), `${query}: ${JSON.stringify(r)}`).toEqual(['FORBIDDEN']);
    }
    const me = await t.ok<{ me: unknown }>(operatorToken, '{ me { ... on OperatorPrincipal { operator } } }');
    expect(me.me).toEqual({ operator: true });
    const instance = await t.ok<{ instance: { id: string } }>(operatorToken, 'query($id: ID!) { instance(id: $id) { id } }', { id: seeded.instanceId });
    expect(instance.instance.id).toBe(seeded.instanceId);
  });

  it('an admin (key or ADMIN agent) may not create instances, purchase seats or review qualifications (FORBIDDEN)', async () => {
    const before = await t.ok<{ instance: { seats: number } }>(seeded.adminKey, 'query($id: ID!) { instance(id: $id) { seats } }', { id: seeded.instanceId });
    for (const token of [seeded.adminKey, ada.token]) {
      for (const [query, variables] of [
        ['mutation { createInstance(input: { name: "Mine" }) { adminApiKey } }'],
        ['mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 1000 }) { seats } }', { id: seeded.instanceId }],
        ['mutation($id: ID!) { reviewQualification(input: { instanceId: $id, approve: true }) { id } }', { id: seeded.instanceId }],
        ['{ instances { id } }'],
      ] as [string, Record<string, unknown>?][]) {
        const r = await t.gql(token, query, variables);
        expect(codes(r), `${query}: ${JSON.stringify(r)}`).toEqual(['FORBIDDEN']);
      }
    }
    const after = await t.ok<{ instance: { seats: number } }>(seeded.adminKey, 'query($id: ID!) { instance(id: $id) { seats } }', { id: seeded.instanceId });
    expect(after).toEqual(before);
  });

  it('after 5 wrong passwords the 6th login, even with the right password, is RATE_LIMITED with retryAfterSeconds', async () => {
    const created = await createAgent(seeded.adminKey, 'Target', 'target');
    expect(created.errors).toBeUndefined();
    const ip = '10.0.2.1';
    for (let i = 1; i <= 5; i++) {
      const wrong = await login(seeded.instanceId, 'target', `wrong-password-${i}`, ip);
      expect(codes(wrong), `attempt ${i}`).toEqual(['UNAUTHENTICATED']);
    }
    const sixth = await login(seeded.instanceId, 'target', 'password-123', ip);
    expect(codes(sixth), JSON.stringify(sixth)).toEqual(['RATE_LIMITED']);
    expect(sixth.data).toBeNull();
    const retry = sixth.errors?.[0]?.extensions?.retryAfterSeconds;
    expect(typeof retry).toBe('number');
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(300);
    // The login is limited from any address, whatever its case...
    const elsewhere = await login(seeded.instanceId, 'TARGET', 'password-123', '10.0.2.2');
    expect(codes(elsewhere)).toEqual(['RATE_LIMITED']);
    // ...and the address for any login.
    const otherLogin = await login(seeded.instanceId, 'ann', 'password-123', ip);
    expect(codes(otherLogin)).toEqual(['RATE_LIMITED']);
    // Other logins from other addresses are not affected.
    const fine = await login(seeded.instanceId, 'ann', 'password-123', '10.0.2.3');
    expect(fine.errors).toBeUndefined();
  });

  it('fewer than 5 failures do not block, and a success clears the login’s failures', async () => {
    const created = await createAgent(seeded.adminKey, 'Clumsy', 'clumsy');
    expect(created.errors).toBeUndefined();
    for (let i = 0; i < 4; i++) expect(codes(await login(seeded.instanceId, 'clumsy', 'wrong-password', `10.0.3.${i}`))).toEqual(['UNAUTHENTICATED']);
    expect((await login(seeded.instanceId, 'clumsy', 'password-123', '10.0.3.10')).errors).toBeUndefined();
    for (let i = 0; i < 4; i++) expect(codes(await login(seeded.instanceId, 'clumsy', 'wrong-password', `10.0.3.${20 + i}`))).toEqual(['UNAUTHENTICATED']);
    expect((await login(seeded.instanceId, 'clumsy', 'password-123', '10.0.3.30')).errors).toBeUndefined();
  });

  it('logins are case-insensitive on the login name, never on the password', async () => {
    const created = await createAgent(seeded.adminKey, 'Mixed Case', 'Mixed.Case');
    expect(created.errors).toBeUndefined();
    for (const [i, name] of ['Mixed.Case', 'mixed.case', 'MIXED.CASE', 'mIxEd.cAsE'].entries()) {
      const r = await login(seeded.instanceId, name, 'password-123', `10.0.4.${i}`);
      expect(r.errors, name).toBeUndefined();
      expect(r.data, name).toMatchObject({ loginAgent: { agent: { id: created.data!.createAgent.id, login: 'Mixed.Case' } } });
    }
    expect(codes(await login(seeded.instanceId, 'mixed.case', 'PASSWORD-123', '10.0.4.9'))).toEqual(['UNAUTHENTICATED']);
    // The same login in another case is the same login: taken.
    expect(codes(await createAgent(seeded.adminKey, 'Other', 'MIXED.case'))).toEqual(['CONFLICT']);
  });

  it('two logins in the same second get two different tokens (a jti each), and both are taken', async () => {
    const [a, b] = await Promise.all([login(seeded.instanceId, 'ann', 'password-123', '10.0.4.20'), login(seeded.instanceId, 'ann', 'password-123', '10.0.4.21')]);
    const tokens = [a, b].map((r) => (r.data as { loginAgent: { token: string } }).loginAgent.token);
    const claims = tokens.map((x) => JSON.parse(Buffer.from(x.split('.')[1]!, 'base64url').toString()) as { iat: number; jti?: string });
    expect(claims[0]!.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(tokens[0]).not.toBe(tokens[1]);
    for (const x of tokens) expect((await raw(`Bearer ${x}`, '{ me { __typename } }')).errors).toBeUndefined();
  });

  it('wrong instance, unknown login and wrong password give the same answer', async () => {
    const answers = await Promise.all([
      login(randomUUID(), 'ann', 'password-123', '10.0.5.1'),
      login(seeded.instanceId, 'nobody-here', 'password-123', '10.0.5.2'),
      login(seeded.instanceId, 'ann', 'not-the-password', '10.0.5.3'),
    ]);
    const shapes = answers.map((a) => ({ data: a.data, errors: a.errors?.map((e) => [e.extensions?.code, e.message]) }));
    expect(shapes[0]).toEqual({ data: null, errors: [['UNAUTHENTICATED', expect.any(String)]] });
    expect(shapes[1]).toEqual(shapes[0]);
    expect(shapes[2]).toEqual(shapes[0]);
  });

  describe('qualification review', () => {
    const submit = (token: string, companyName = 'Acme Ltd') =>
      t.gql<{ submitQualification: { id: string; qualification: { status: string; companyName: string; registrationNumber: string; documents: string[]; submittedAt: string | null } } }>(
        token,
        'mutation($c: String!) { submitQualification(input: { companyName: $c, registrationNumber: "RN-42", documents: ["file-1", "https://docs.example/2"] }) { id qualification { status companyName registrationNumber documents submittedAt } } }',
        { c: companyName },
      );
    const review = (instanceId: string, approve: boolean, reason?: string | null) =>
      t.gql<{ reviewQualification: { qualification: { status: string; reviewedAt: string | null; reviewReason: string | null } } }>(
        operatorToken,
        'mutation($input: ReviewQualificationInput!) { reviewQualification(input: $input) { qualification { status reviewedAt reviewReason } } }',
        { input: { instanceId, approve, ...(reason !== undefined && { reason }) } },
      );
    const status = async (token: string, instanceId: string) =>
      (await t.ok<{ instance: { qualification: { status: string } } }>(token, 'query($id: ID!) { instance(id: $id) { qualification { status } } }', { id: instanceId })).instance
        .qualification.status;

    it('submit → PENDING → the operator approves → APPROVED', async () => {
      const inst = await seedInstance(t, { name: 'To approve', seats: 0 });
      expect(await status(inst.adminKey, inst.instanceId)).toBe('NOT_SUBMITTED');
      // Nothing to review yet.
      expect(codes(await review(inst.instanceId, true))).toEqual(['CONFLICT']);
      const submitted = await submit(inst.adminKey);
      expect(submitted.errors).toBeUndefined();
      expect(submitted.data?.submitQualification).toMatchObject({
        id: inst.instanceId,
        qualification: { status: 'PENDING', companyName: 'Acme Ltd', registrationNumber: 'RN-42', documents: ['file-1', 'https://docs.example/2'] },
      });
      expect(submitted.data?.submitQualification.qualification.submittedAt).toEqual(expect.any(String));
      // Submitting again while it waits is a conflict.
      expect(codes(await submit(inst.adminKey))).toEqual(['CONFLICT']);
      const approved = await review(inst.instanceId, true);
      expect(approved.errors).toBeUndefined();
      expect(approved.data?.reviewQualification.qualification).toMatchObject({ status: 'APPROVED', reviewedAt: expect.any(String) });
      expect(await status(inst.adminKey, inst.instanceId)).toBe('APPROVED');
      // Once approved, it stays approved.
      expect(codes(await submit(inst.adminKey))).toEqual(['CONFLICT']);
      expect(codes(await review(inst.instanceId, false, 'changed my mind'))).toEqual(['CONFLICT']);
    });

    it('rejecting without a reason is BAD_USER_INPUT and changes nothing; with one it is REJECTED, and the instance may submit again', async () => {
      const inst = await seedInstance(t, { name: 'To reject', seats: 0 });
      await submit(inst.adminKey);
      for (const reason of [undefined, null, '', '   ']) {
        expect(codes(await review(inst.instanceId, false, reason)), `reason ${JSON.stringify(reason)}`).toEqual(['BAD_USER_INPUT']);
      }
      expect(await status(inst.adminKey, inst.instanceId)).toBe('PENDING');
      const rejected = await review(inst.instanceId, false, 'documents unreadable');
      expect(rejected.errors).toBeUndefined();
      expect(rejected.data?.reviewQualification.qualification).toMatchObject({ status: 'REJECTED', reviewReason: 'documents unreadable', reviewedAt: expect.any(String) });
      const again = await submit(inst.adminKey, 'Acme Holdings');
      expect(again.data?.submitQualification.qualification).toMatchObject({ status: 'PENDING', companyName: 'Acme Holdings' });
      // Approving needs no reason.
      expect((await review(inst.instanceId, true)).data?.reviewQualification.qualification.status).toBe('APPROVED');
    });

    it('a rejection without a reason names the same field, input.reason, whether the reason is missing, null or blank', async () => {
      // The API names fields by their path in the arguments (input.reason when the reason is "" or blank);
      // a missing or null reason must name the same field, not a bare "reason".
      const inst = await seedInstance(t, { name: 'Field names', seats: 0 });
      await submit(inst.adminKey);
      const fields: Record<string, unknown> = {};
      for (const reason of [undefined, null, '', '   ']) {
        const r = await review(inst.instanceId, false, reason);
        fields[JSON.stringify(reason) ?? 'missing'] = r.errors?.map((e) => e.extensions?.field);
      }
      expect(fields).toEqual({ missing: ['input.reason'], null: ['input.reason'], '""': ['input.reason'], '"   "': ['input.reason'] });
    });

    it('reviewing an instance that does not exist is NOT_FOUND; only admins submit', async () => {
      expect(codes(await review(randomUUID(), true))).toEqual(['NOT_FOUND']);
      expect(codes(await submit(ann.token))).toEqual(['FORBIDDEN']);
      expect(codes(await submit(sam.token))).toEqual(['FORBIDDEN']);
      expect(codes(await submit(integrationKey))).toEqual(['FORBIDDEN']);
    });
  });
});
