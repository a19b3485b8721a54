// Bad input: every mutation and query refuses bad arguments with BAD_USER_INPUT naming the field in
// extensions.field; malformed requests are BAD_USER_INPUT too, and no error shows internals. Also the
// rules around agents: seats, unique logins, pagination and filters, and deletion as an event.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';

type Seeded = Awaited<ReturnType<typeof seedInstance>>;
type SeededAgent = Seeded['agents'][0];
type GqlError = NonNullable<GqlResult<unknown>['errors']>[number];

interface AgentNode {
  id: string;
  name: string;
  login: string;
  role: string;
  presence: string;
}
interface AgentPage {
  agents: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { cursor: string; node: AgentNode }[] };
}

const codes = (r: GqlResult<unknown>) => r.errors?.map((e) => e.extensions?.code);

/** No stack trace, no "Internal", no SQL or file paths in an error shown to a client. */
function expectClean(errors: GqlError[] | undefined, label: string) {
  for (const e of errors ?? []) {
    expect(e.message, label).not.toMatch(/\n\s*at |^\s*at \S+ \(|Internal|INTERNAL|\.ts:\d+|node_modules|SELECT |syntax error at or near/);
    expect(e.extensions?.code, label).not.toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(e), label).not.toMatch(/"stack"|stacktrace/i);
  }
}

describe('bad input and agent rules (pglite)', () => {
  let t: TestKefu;
  let seeded: Seeded;
  let ann: SeededAgent;
  let phoneGroupId: string;
  let onlineGroupId: string;
  const seen: { label: string; errors: GqlError[] }[] = [];

  /** t.gql, remembering every error for the final check that none shows internals. */
  async function gql<T = Record<string, unknown>>(token: string | null, query: string, variables?: Record<string, unknown>) {
    const r = await t.gql<T>(token, query, variables);
    if (r.errors) seen.push({ label: query, errors: r.errors });
    return r;
  }

  /** A raw POST to /graphql with any body and content type. */
  async function post(payload: string, contentType = 'application/json') {
    const res = await t.kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': contentType, authorization: `Bearer ${seeded.adminKey}` },
      payload,
    });
    let body: { data?: unknown; errors?: GqlError[] };
    try {
      body = res.json();
    } catch {
      body = { errors: [{ message: res.body }] };
    }
    if (body.errors) seen.push({ label: payload, errors: body.errors });
    return { status: res.statusCode, data: body.data ?? null, errors: body.errors, raw: res.body };
  }

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    seeded = await seedInstance(t, { name: 'Inputs', seats: 20, agents: [{ name: 'Ann', login: 'ann' }] });
    [ann] = seeded.agents as [SeededAgent];
    const phone = await t.ok<{ createSkillGroup: { id: string } }>(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "Phones", channel: PHONE }) { id } }');
    phoneGroupId = phone.createSkillGroup.id;
    const online = await t.ok<{ createSkillGroup: { id: string } }>(
      seeded.adminKey,
      'mutation { createSkillGroup(input: { name: "Chats", channel: ONLINE, maxConcurrency: 4 }) { id } }',
    );
    onlineGroupId = online.createSkillGroup.id;
  });
  afterAll(async () => t?.close());

  type Who = 'admin' | 'agent' | 'operator' | 'anonymous';
  interface BadCase {
    name: string;
    who?: Who;
    query: string;
    vars?: () => Record<string, unknown>;
    field: string;
  }

  const createAgentQ = 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }';
  const updateAgentQ = 'mutation($input: UpdateAgentInput!) { updateAgent(input: $input) { id } }';
  const createGroupQ = 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }';
  const updateGroupQ = 'mutation($input: UpdateSkillGroupInput!) { updateSkillGroup(input: $input) { id } }';
  const agentInput = (over: Record<string, unknown>) => ({ input: { name: 'New Agent', login: `new-${randomUUID().slice(0, 8)}`, password: 'password-123', ...over } });
  const groupInput = (over: Record<string, unknown>) => ({ input: { name: 'New group', channel: 'PHONE', ...over } });

  const badCases: BadCase[] = [
    // createAgent
    { name: 'createAgent: empty name', query: createAgentQ, vars: () => agentInput({ name: '' }), field: 'input.name' },
    { name: 'createAgent: blank name', query: createAgentQ, vars: () => agentInput({ name: '   ' }), field: 'input.name' },
    { name: 'createAgent: name of 201 characters', query: createAgentQ, vars: () => agentInput({ name: 'n'.repeat(201) }), field: 'input.name' },
    { name: 'createAgent: login with spaces', query: createAgentQ, vars: () => agentInput({ login: 'ann smith' }), field: 'input.login' },
    { name: 'createAgent: login of 1 character', query: createAgentQ, vars: () => agentInput({ login: 'a' }), field: 'input.login' },
    { name: 'createAgent: login with a slash', query: createAgentQ, vars: () => agentInput({ login: 'ann/smith' }), field: 'input.login' },
    { name: 'createAgent: password of 3 characters', query: createAgentQ, vars: () => agentInput({ password: 'abc' }), field: 'input.password' },
    { name: 'createAgent: phone "abc"', query: createAgentQ, vars: () => agentInput({ phone: 'abc' }), field: 'input.phone' },
    { name: 'createAgent: phone of 2 digits', query: createAgentQ, vars: () => agentInput({ phone: '12' }), field: 'input.phone' },
    // updateAgent
    { name: 'updateAgent: id not a UUID', query: updateAgentQ, vars: () => ({ input: { id: 'ann', name: 'X' } }), field: 'input.id' },
    { name: 'updateAgent: empty name', query: updateAgentQ, vars: () => ({ input: { id: ann.id, name: '' } }), field: 'input.name' },
    { name: 'updateAgent: login with spaces', query: updateAgentQ, vars: () => ({ input: { id: ann.id, login: 'a n n' } }), field: 'input.login' },
    { name: 'updateAgent: password of 3 characters', query: updateAgentQ, vars: () => ({ input: { id: ann.id, password: 'abc' } }), field: 'input.password' },
    { name: 'updateAgent: phone "abc"', query: updateAgentQ, vars: () => ({ input: { id: ann.id, phone: 'abc' } }), field: 'input.phone' },
    // deleteAgent
    { name: 'deleteAgent: id not a UUID', query: 'mutation { deleteAgent(input: { id: "ann" }) { id } }', field: 'input.id' },
    // loginAgent
    {
      name: 'loginAgent: instanceId not a UUID',
      who: 'anonymous',
      query: 'mutation { loginAgent(input: { instanceId: "acme", login: "ann", password: "password-123" }) { token } }',
      field: 'input.instanceId',
    },
    {
      name: 'loginAgent: empty login',
      who: 'anonymous',
      query: 'mutation($id: ID!) { loginAgent(input: { instanceId: $id, login: "", password: "password-123" }) { token } }',
      vars: () => ({ id: seeded.instanceId }),
      field: 'input.login',
    },
    {
      name: 'loginAgent: empty password',
      who: 'anonymous',
      query: 'mutation($id: ID!) { loginAgent(input: { instanceId: $id, login: "ann", password: "" }) { token } }',
      vars: () => ({ id: seeded.instanceId }),
      field: 'input.password',
    },
    // setPresence, forceAgentOffline, restoreAgent
    { name: 'setPresence: agentId not a UUID', query: 'mutation { setPresence(input: { presence: AVAILABLE, agentId: "ann" }) { id } }', field: 'input.agentId' },
    { name: 'setPresence: empty break reason', who: 'agent', query: 'mutation { setPresence(input: { presence: BREAK, reason: "" }) { id } }', field: 'input.reason' },
    {
      name: 'setPresence: a break reason the instance does not have',
      who: 'agent',
      query: 'mutation { setPresence(input: { presence: BREAK, reason: "Party" }) { id } }',
      field: 'input.reason',
    },
    {
      name: 'forceAgentOffline: empty reason',
      query: 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "" }) { id } }',
      vars: () => ({ id: ann.id }),
      field: 'input.reason',
    },
    { name: 'forceAgentOffline: agentId not a UUID', query: 'mutation { forceAgentOffline(input: { agentId: "ann", reason: "x" }) { id } }', field: 'input.agentId' },
    { name: 'restoreAgent: agentId not a UUID', query: 'mutation { restoreAgent(input: { agentId: "ann" }) { id } }', field: 'input.agentId' },
    // createSkillGroup
    { name: 'createSkillGroup: empty name', query: createGroupQ, vars: () => groupInput({ name: '' }), field: 'input.name' },
    { name: 'createSkillGroup: maxConcurrency 0', query: createGroupQ, vars: () => groupInput({ channel: 'ONLINE', maxConcurrency: 0 }), field: 'input.maxConcurrency' },
    { name: 'createSkillGroup: maxConcurrency 99', query: createGroupQ, vars: () => groupInput({ channel: 'ONLINE', maxConcurrency: 99 }), field: 'input.maxConcurrency' },
    {
      name: 'createSkillGroup: maxConcurrency 2 on a PHONE group',
      query: createGroupQ,
      vars: () => groupInput({ channel: 'PHONE', maxConcurrency: 2 }),
      field: 'input.maxConcurrency',
    },
    { name: 'createSkillGroup: ringTimeoutSeconds 1', query: createGroupQ, vars: () => groupInput({ ringTimeoutSeconds: 1 }), field: 'input.ringTimeoutSeconds' },
    { name: 'createSkillGroup: ringTimeoutSeconds 601', query: createGroupQ, vars: () => groupInput({ ringTimeoutSeconds: 601 }), field: 'input.ringTimeoutSeconds' },
    { name: 'createSkillGroup: wrapUpSeconds -1', query: createGroupQ, vars: () => groupInput({ wrapUpSeconds: -1 }), field: 'input.wrapUpSeconds' },
    { name: 'createSkillGroup: RING_ALL on ONLINE', query: createGroupQ, vars: () => groupInput({ channel: 'ONLINE', strategy: 'RING_ALL' }), field: 'input.strategy' },
    { name: 'createSkillGroup: SATURATION on PHONE', query: createGroupQ, vars: () => groupInput({ channel: 'PHONE', strategy: 'SATURATION' }), field: 'input.strategy' },
    { name: 'createSkillGroup: onAgentDeviceLost REQUEUE on ONLINE', query: createGroupQ, vars: () => groupInput({ channel: 'ONLINE', onAgentDeviceLost: 'REQUEUE' }), field: 'input.onAgentDeviceLost' },
    // updateSkillGroup
    { name: 'updateSkillGroup: id not a UUID', query: updateGroupQ, vars: () => ({ input: { id: 'xyz', name: 'X' } }), field: 'input.id' },
    { name: 'updateSkillGroup: empty name', query: updateGroupQ, vars: () => ({ input: { id: phoneGroupId, name: '' } }), field: 'input.name' },
    { name: 'updateSkillGroup: maxConcurrency 0', query: updateGroupQ, vars: () => ({ input: { id: onlineGroupId, maxConcurrency: 0 } }), field: 'input.maxConcurrency' },
    { name: 'updateSkillGroup: maxConcurrency 99', query: updateGroupQ, vars: () => ({ input: { id: onlineGroupId, maxConcurrency: 99 } }), field: 'input.maxConcurrency' },
    { name: 'updateSkillGroup: ringTimeoutSeconds 1', query: updateGroupQ, vars: () => ({ input: { id: phoneGroupId, ringTimeoutSeconds: 1 } }), field: 'input.ringTimeoutSeconds' },
    { name: 'updateSkillGroup: RING_ALL on an ONLINE group', query: updateGroupQ, vars: () => ({ input: { id: onlineGroupId, strategy: 'RING_ALL' } }), field: 'input.strategy' },
    { name: 'updateSkillGroup: maxConcurrency 3 on a PHONE group', query: updateGroupQ, vars: () => ({ input: { id: phoneGroupId, maxConcurrency: 3 } }), field: 'input.maxConcurrency' },
    { name: 'updateSkillGroup: onAgentDeviceLost REQUEUE on an ONLINE group', query: updateGroupQ, vars: () => ({ input: { id: onlineGroupId, onAgentDeviceLost: 'REQUEUE' } }), field: 'input.onAgentDeviceLost' },
    // members
    {
      name: 'setSkillGroupMember: level 0',
      query: 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a, level: 0 }) { id } }',
      vars: () => ({ g: phoneGroupId, a: ann.id }),
      field: 'input.level',
    },
    {
      name: 'setSkillGroupMember: level 11',
      query: 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a, level: 11 }) { id } }',
      vars: () => ({ g: phoneGroupId, a: ann.id }),
      field: 'input.level',
    },
    {
      name: 'setSkillGroupMember: agentId not a UUID',
      query: 'mutation($g: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: "ann" }) { id } }',
      vars: () => ({ g: phoneGroupId }),
      field: 'input.agentId',
    },
    {
      name: 'removeSkillGroupMember: skillGroupId not a UUID',
      query: 'mutation($a: ID!) { removeSkillGroupMember(input: { skillGroupId: "phones", agentId: $a }) { id } }',
      vars: () => ({ a: ann.id }),
      field: 'input.skillGroupId',
    },
    { name: 'deleteSkillGroup: id not a UUID', query: 'mutation { deleteSkillGroup(input: { id: "phones" }) { id } }', field: 'input.id' },
    // instances, qualification, seats, keys, break reasons
    { name: 'createInstance: empty name', who: 'operator', query: 'mutation { createInstance(input: { name: "" }) { adminApiKey } }', field: 'input.name' },
    {
      name: 'purchaseSeats: 0 seats',
      who: 'operator',
      query: 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 0 }) { seats } }',
      vars: () => ({ id: seeded.instanceId }),
      field: 'input.seats',
    },
    {
      name: 'purchaseSeats: -5 seats',
      who: 'operator',
      query: 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: -5 }) { seats } }',
      vars: () => ({ id: seeded.instanceId }),
      field: 'input.seats',
    },
    { name: 'purchaseSeats: instanceId not a UUID', who: 'operator', query: 'mutation { purchaseSeats(input: { instanceId: "acme", seats: 1 }) { seats } }', field: 'input.instanceId' },
    {
      name: 'reviewQualification: instanceId not a UUID',
      who: 'operator',
      query: 'mutation { reviewQualification(input: { instanceId: "acme", approve: true }) { id } }',
      field: 'input.instanceId',
    },
    {
      name: 'submitQualification: empty company name',
      query: 'mutation { submitQualification(input: { companyName: "", registrationNumber: "1", documents: ["d"] }) { id } }',
      field: 'input.companyName',
    },
    {
      name: 'submitQualification: empty registration number',
      query: 'mutation { submitQualification(input: { companyName: "Acme", registrationNumber: " ", documents: ["d"] }) { id } }',
      field: 'input.registrationNumber',
    },
    {
      name: 'submitQualification: no documents',
      query: 'mutation { submitQualification(input: { companyName: "Acme", registrationNumber: "1", documents: [] }) { id } }',
      field: 'input.documents',
    },
    {
      name: 'submitQualification: an empty document',
      query: 'mutation { submitQualification(input: { companyName: "Acme", registrationNumber: "1", documents: ["d", ""] }) { id } }',
      field: 'input.documents.1',
    },
    { name: 'createApiKey: empty name', query: 'mutation { createApiKey(input: { name: "", role: ADMIN }) { secret } }', field: 'input.name' },
    { name: 'revokeApiKey: id not a UUID', query: 'mutation { revokeApiKey(input: { id: "key" }) { id } }', field: 'input.id' },
    { name: 'configureBreakReasons: no reasons', query: 'mutation { configureBreakReasons(input: { reasons: [] }) }', field: 'input.reasons' },
    { name: 'configureBreakReasons: an empty reason', query: 'mutation { configureBreakReasons(input: { reasons: ["Meal", ""] }) }', field: 'input.reasons.1' },
    { name: 'configureBreakReasons: the same reason twice', query: 'mutation { configureBreakReasons(input: { reasons: ["Meal", "Meal"] }) }', field: 'input.reasons' },
    // queries
    { name: 'agents: first 500', query: '{ agents(first: 500) { totalCount } }', field: 'first' },
    { name: 'agents: first -1', query: '{ agents(first: -1) { totalCount } }', field: 'first' },
    { name: 'agents: cursor "xyz"', query: '{ agents(after: "xyz") { totalCount } }', field: 'after' },
    {
      name: 'agents: a cursor of valid base64url that is not a cursor',
      query: 'query($c: String!) { agents(after: $c) { totalCount } }',
      vars: () => ({ c: Buffer.from(JSON.stringify({ not: 'a cursor' })).toString('base64url') }),
      field: 'after',
    },
    {
      name: 'agents: a cursor with a bad date',
      query: 'query($c: String!) { agents(after: $c) { totalCount } }',
      vars: () => ({ c: Buffer.from(JSON.stringify(['yesterday', randomUUID()])).toString('base64url') }),
      field: 'after',
    },
    { name: 'agents: filter skillGroupId not a UUID', query: '{ agents(filter: { skillGroupId: "phones" }) { totalCount } }', field: 'filter.skillGroupId' },
    { name: 'agent: id not a UUID', query: '{ agent(id: "ann") { id } }', field: 'id' },
    { name: 'skillGroup: id not a UUID', query: '{ skillGroup(id: "phones") { id } }', field: 'id' },
    { name: 'instance: id not a UUID', query: '{ instance(id: "acme") { id } }', field: 'id' },
    { name: 'agentMonitor: skillGroupId not a UUID', query: '{ agentMonitor(skillGroupId: "phones") { presence } }', field: 'skillGroupId' },
    { name: 'callRecords: first 0', query: '{ callRecords(first: 0) { pageInfo { hasNextPage } } }', field: 'first' },
    { name: 'callRecords: first 201', query: '{ callRecords(first: 201) { pageInfo { hasNextPage } } }', field: 'first' },
    { name: 'callRecords: cursor "xyz"', query: '{ callRecords(after: "xyz") { pageInfo { hasNextPage } } }', field: 'after' },
    { name: 'callRecords: filter agentId not a UUID', query: '{ callRecords(filter: { agentId: "ann" }) { pageInfo { hasNextPage } } }', field: 'filter.agentId' },
    {
      name: 'callRecords: filter to before from',
      query: '{ callRecords(filter: { from: "2026-12-02T10:00:00Z", to: "2026-12-02T09:00:00Z" }) { pageInfo { hasNextPage } } }',
      field: 'filter.to',
    },
    { name: 'callRecord: contactId not a UUID', query: '{ callRecord(contactId: "c-1") { contactId } }', field: 'contactId' },
    {
      name: 'createFlow: a next that names no node',
      query: 'mutation($d: JSON!) { createFlow(input: { name: "IVR", kind: IVR, definition: $d }) { id } }',
      vars: () => ({ d: { start: 'a', nodes: [{ id: 'a', type: 'play', prompt: { text: 'Hi' }, next: 'b' }] } }),
      field: 'input.definition.nodes.0.next',
    },
    { name: 'flowVersion: version 0', query: '{ flowVersion(id: "00000000-0000-4000-8000-000000000000", version: 0) { version } }', field: 'version' },
    { name: 'createTrunk: an address that is not an IP or CIDR', query: 'mutation { createTrunk(input: { name: "T", allowedAddresses: ["carrier.example"] }) { id } }', field: 'input.allowedAddresses.0' },
    { name: 'bindNumber: not a number', query: 'mutation { bindNumber(input: { number: "call me", flowId: "00000000-0000-4000-8000-000000000000" }) { number } }', field: 'input.number' },
    {
      name: 'setAgentSipCredentials: a short password',
      query: 'mutation { setAgentSipCredentials(input: { agentId: "00000000-0000-4000-8000-000000000000", password: "short" }) { username } }',
      field: 'input.password',
    },
  ];

  const tokenOf = (who: Who): string | null =>
    who === 'admin' ? seeded.adminKey : who === 'agent' ? ann.token : who === 'operator' ? operatorToken : null;

  describe('BAD_USER_INPUT naming the field', () => {
    for (const c of badCases) {
      it(`${c.name} → ${c.field}`, async () => {
        const r = await gql(tokenOf(c.who ?? 'admin'), c.query, c.vars?.());
        expect(r.errors?.map((e) => ({ code: e.extensions?.code, field: e.extensions?.field })), JSON.stringify(r.errors)).toEqual([
          { code: 'BAD_USER_INPUT', field: c.field },
        ]);
        expectClean(r.errors, c.name);
      });
    }

    it('nothing was created or changed by the refused mutations', async () => {
      const state = await t.ok<{
        agents: { totalCount: number; edges: { node: { name: string; login: string; phone: string | null; presence: string } }[] };
        skillGroups: { id: string; name: string; strategy: string; maxConcurrency: number; ringTimeoutSeconds: number; members: unknown[] }[];
        instance: { seats: number; breakReasons: string[]; qualification: { status: string } };
      }>(
        seeded.adminKey,
        'query($id: ID!) { agents { totalCount edges { node { name login phone presence } } } skillGroups { id name strategy maxConcurrency ringTimeoutSeconds members { level } } instance(id: $id) { seats breakReasons qualification { status } } }',
        { id: seeded.instanceId },
      );
      expect(state.agents).toEqual({ totalCount: 1, edges: [{ node: { name: 'Ann', login: 'ann', phone: null, presence: 'OFFLINE' } }] });
      expect(state.skillGroups).toEqual([
        { id: onlineGroupId, name: 'Chats', strategy: 'LONGEST_IDLE', maxConcurrency: 4, ringTimeoutSeconds: 15, members: [] },
        { id: phoneGroupId, name: 'Phones', strategy: 'LONGEST_IDLE', maxConcurrency: 1, ringTimeoutSeconds: 15, members: [] },
      ]);
      expect(state.instance).toMatchObject({ seats: 20, qualification: { status: 'NOT_SUBMITTED' } });
      expect(state.instance.breakReasons).not.toContain('Party');
    });
  });

  describe('malformed requests are BAD_USER_INPUT', () => {
    const expectBad = (r: { status: number; errors?: GqlError[] | undefined; raw?: string }, label: string) => {
      expect(r.errors?.length, `${label}: ${JSON.stringify(r)}`).toBeGreaterThan(0);
      for (const e of r.errors ?? []) expect(e.extensions?.code, `${label}: ${JSON.stringify(r)}`).toBe('BAD_USER_INPUT');
      expectClean(r.errors, label);
    };

    it('an unknown enum value, inline or in a variable (GraphQL validation)', async () => {
      expectBad(await gql(seeded.adminKey, 'mutation { createSkillGroup(input: { name: "G", channel: FAX }) { id } }'), 'inline enum');
      expectBad(await gql(seeded.adminKey, createGroupQ, { input: { name: 'G', channel: 'FAX' } }), 'variable enum');
      expectBad(await gql(seeded.adminKey, createAgentQ, agentInput({ role: 'GOD' })), 'variable role');
      expectBad(await gql(seeded.adminKey, '{ agents(filter: { presence: ASLEEP }) { totalCount } }'), 'filter enum');
    });

    it('other validation errors: unknown field, missing argument, wrong type, unknown variable type', async () => {
      expectBad(await gql(seeded.adminKey, '{ agents { totalCount secretField } }'), 'unknown field');
      expectBad(await gql(seeded.adminKey, '{ agent { id } }'), 'missing argument');
      expectBad(await gql(seeded.adminKey, '{ agents(first: "ten") { totalCount } }'), 'wrong type');
      expectBad(await gql(seeded.adminKey, 'query($n: Int!) { agents(first: $n) { totalCount } }', { n: 'ten' }), 'wrong variable type');
      expectBad(await gql(seeded.adminKey, createAgentQ, { input: { name: 'No login' } }), 'missing input field');
      expectBad(await gql(seeded.adminKey, createAgentQ), 'missing variable');
    });

    it('a syntax error', async () => {
      const r = await gql(seeded.adminKey, '{ agents { totalCount ');
      expectBad(r, 'syntax error');
      expectBad(await gql(seeded.adminKey, 'mutation { createAgent(input: { name: "x" login: }) { id } }'), 'syntax error in arguments');
    });

    // Bodies that are not a GraphQL request. A query that is not GraphQL but happens to be JSON ("{}", "42")
    // must be refused like any other syntax error, not treated as a document.
    const bodies: [string, string][] = [
      ['an empty body', ''],
      ['a body that is not JSON', '{"query": '],
      ['a JSON array', '[{"query": "{ me { __typename } }"}]'],
      ['a body without a query', '{}'],
      ['an empty query', '{"query": ""}'],
      ['a null query', '{"query": null}'],
      ['a query that is an object', '{"query": {}}'],
      ['variables that are not an object', '{"query": "{ me { __typename } }", "variables": "x"}'],
      ['an unknown operationName', '{"query": "query A { me { __typename } }", "operationName": "B"}'],
      ['two operations without operationName', '{"query": "query A { me { __typename } } query B { me { __typename } }"}'],
      ['a query that is a number', '{"query": 42}'],
      ['a query "{}"', '{"query": "{}"}'],
      ['a query "42"', '{"query": "42"}'],
      ['a query "null"', '{"query": "null"}'],
    ];
    for (const [name, payload] of bodies) {
      it(`${name}: ${payload || '(nothing)'}`, async () => {
        const r = await post(payload);
        expectBad(r, name);
        expect(r.data, name).toBeNull();
      });
    }
  });

  describe('seats and logins', () => {
    it('creating agents beyond the purchased seats is CONFLICT; deleting one frees a seat', async () => {
      const inst = await seedInstance(t, { name: 'Two seats', seats: 2 });
      const create = (login: string) =>
        gql<{ createAgent: { id: string } }>(inst.adminKey, createAgentQ, { input: { name: login, login, password: 'password-123' } });
      const seats = async () =>
        (await t.ok<{ instance: { seats: number; seatsUsed: number } }>(inst.adminKey, 'query($id: ID!) { instance(id: $id) { seats seatsUsed } }', { id: inst.instanceId })).instance;
      const first = await create('first');
      expect((await create('second')).errors).toBeUndefined();
      expect(await seats()).toEqual({ seats: 2, seatsUsed: 2 });
      const third = await create('third');
      expect(codes(third)).toEqual(['CONFLICT']);
      expectClean(third.errors, 'no seat');
      // The refused agent exists nowhere, and its login stays free.
      const count = await t.ok<{ agents: { totalCount: number } }>(inst.adminKey, '{ agents { totalCount } }');
      expect(count.agents.totalCount).toBe(2);
      expect(await seats()).toEqual({ seats: 2, seatsUsed: 2 });
      await t.ok(inst.adminKey, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: first.data!.createAgent.id });
      expect(await seats()).toEqual({ seats: 2, seatsUsed: 1 });
      expect((await create('third')).errors).toBeUndefined();
      expect(await seats()).toEqual({ seats: 2, seatsUsed: 2 });
      expect(codes(await create('fourth'))).toEqual(['CONFLICT']);
      // Buying seats makes room.
      await t.ok(operatorToken, 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 1 }) { seats } }', { id: inst.instanceId });
      expect((await create('fourth')).errors).toBeUndefined();
      expect(await seats()).toEqual({ seats: 3, seatsUsed: 3 });
    });

    it('an instance without seats cannot create agents', async () => {
      const inst = await seedInstance(t, { name: 'No seats', seats: 0 });
      expect(codes(await gql(inst.adminKey, createAgentQ, agentInput({})))).toEqual(['CONFLICT']);
    });

    it('a duplicate login is CONFLICT, in any case, on create and on update; a deleted agent’s login is free again', async () => {
      const inst = await seedInstance(t, { name: 'Logins', seats: 10 });
      const create = (login: string) => gql<{ createAgent: { id: string } }>(inst.adminKey, createAgentQ, { input: { name: login, login, password: 'password-123' } });
      const kim = await create('kim');
      const lee = await create('lee');
      expect(codes(await create('kim'))).toEqual(['CONFLICT']);
      expect(codes(await create('KIM'))).toEqual(['CONFLICT']);
      const renamed = await gql(inst.adminKey, updateAgentQ, { input: { id: lee.data!.createAgent.id, login: 'Kim' } });
      expect(codes(renamed)).toEqual(['CONFLICT']);
      // The same login in another instance is fine.
      expect((await gql(seeded.adminKey, createAgentQ, { input: { name: 'Kim', login: 'kim', password: 'password-123' } })).errors).toBeUndefined();
      // Renaming frees the old login.
      await t.ok(inst.adminKey, updateAgentQ, { input: { id: kim.data!.createAgent.id, login: 'kim.new' } });
      expect((await create('kim')).errors).toBeUndefined();
      // Deleting frees it too.
      await t.ok(inst.adminKey, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: lee.data!.createAgent.id });
      expect((await create('lee')).errors).toBeUndefined();
      const logins = await t.ok<{ agents: { edges: { node: { login: string } }[] } }>(inst.adminKey, '{ agents { edges { node { login } } } }');
      expect(logins.agents.edges.map((e) => e.node.login).sort()).toEqual(['kim', 'kim.new', 'lee']);
    });
  });

  it('createAgent returns the agent, as agent(id) shows it', async () => {
    const fields = 'id name login phone role presence breakReason forcedOfflineReason skillGroups { level } createdAt updatedAt';
    const r = await gql<{ createAgent: Record<string, unknown> & { id: string } }>(
      seeded.adminKey,
      `mutation($input: CreateAgentInput!) { createAgent(input: $input) { ${fields} } }`,
      { input: { name: '  Zoe Example  ', login: 'zoe.example', password: 'password-123', phone: '+4930123456', role: 'SUPERVISOR' } },
    );
    expect(r.errors).toBeUndefined();
    const agent = r.data!.createAgent;
    expect(agent).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Zoe Example',
      login: 'zoe.example',
      phone: '+4930123456',
      role: 'SUPERVISOR',
      presence: 'OFFLINE',
      breakReason: null,
      forcedOfflineReason: null,
      skillGroups: [],
    });
    expect(Number.isNaN(Date.parse(agent.createdAt as string))).toBe(false);
    const read = await t.ok<{ agent: Record<string, unknown> }>(seeded.adminKey, `query($id: ID!) { agent(id: $id) { ${fields} } }`, { id: agent.id });
    expect(read.agent).toEqual(agent);
    // The role defaults to AGENT, the phone to none; the password is never shown.
    const plain = await t.ok<{ createAgent: { role: string; phone: string | null } }>(
      seeded.adminKey,
      'mutation { createAgent(input: { name: "Plain", login: "plain", password: "password-123" }) { role phone } }',
    );
    expect(plain.createAgent).toEqual({ role: 'AGENT', phone: null });
    const login = await t.ok<{ loginAgent: { agent: { id: string } } }>(
      null,
      'mutation($id: ID!) { loginAgent(input: { instanceId: $id, login: "zoe.example", password: "password-123" }) { agent { id } } }',
      { id: seeded.instanceId },
    );
    expect(login.loginAgent.agent.id).toBe(agent.id);
  });

  describe('agents: pagination and filters', () => {
    let inst: Seeded;
    let groupId: string;
    const names = ['Alice Archer', 'Bob Baker', 'Carol Cooper', 'Dave Dyer', 'Erin Evans', 'Frank Fisher', 'Grace Gray'];
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      inst = await seedInstance(t, { name: 'Pages', seats: 20 });
      for (const [i, name] of names.entries()) {
        const login = name.split(' ')[0]!.toLowerCase();
        const r = await t.ok<{ createAgent: { id: string } }>(inst.adminKey, createAgentQ, {
          input: { name, login, password: 'password-123', role: i % 3 === 1 ? 'SUPERVISOR' : 'AGENT' },
        });
        ids[login] = r.createAgent.id;
      }
      const group = await t.ok<{ createSkillGroup: { id: string } }>(inst.adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE }) { id } }');
      groupId = group.createSkillGroup.id;
      for (const login of ['alice', 'carol', 'erin', 'grace']) {
        await t.ok(inst.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: ids[login] });
      }
      for (const login of ['alice', 'bob', 'frank']) {
        await t.ok(inst.adminKey, 'mutation($a: ID!) { setPresence(input: { presence: AVAILABLE, agentId: $a }) { id } }', { a: ids[login] });
      }
      await t.ok(inst.adminKey, 'mutation($a: ID!) { forceAgentOffline(input: { agentId: $a, reason: "audit" }) { id } }', { a: ids.dave });
    });

    const pageQ = `query($first: Int, $after: String, $filter: AgentFilter) {
      agents(first: $first, after: $after, filter: $filter) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name login role presence } }
      }
    }`;

    /** Walks every page with `first`, checking the page info on the way; returns the logins in order. */
    async function walk(filter: Record<string, unknown> | null, first = 2): Promise<string[]> {
      const logins: string[] = [];
      let after: string | null = null;
      let total: number | null = null;
      for (let page = 0; page < 50; page++) {
        const r: GqlResult<AgentPage> = await gql<AgentPage>(inst.adminKey, pageQ, { first, after, filter });
        expect(r.errors).toBeUndefined();
        const conn = r.data!.agents;
        total ??= conn.totalCount;
        expect(conn.totalCount, 'totalCount is the same on every page').toBe(total);
        expect(conn.edges.length).toBeLessThanOrEqual(first);
        expect(conn.pageInfo.endCursor).toBe(conn.edges.at(-1)?.cursor ?? null);
        logins.push(...conn.edges.map((e) => e.node.login));
        if (!conn.pageInfo.hasNextPage) {
          expect(logins.length).toBe(total);
          return logins;
        }
        expect(conn.edges.length).toBe(first);
        after = conn.pageInfo.endCursor;
      }
      throw new Error('too many pages');
    }

    const all = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'];

    it('walks all pages with first: 2 and after cursors, in creation order, with no agent twice', async () => {
      expect(await walk(null)).toEqual(all);
      expect(await walk(null, 3)).toEqual(all);
      expect(await walk(null, 7)).toEqual(all);
      expect(await walk(null, 200)).toEqual(all);
    });

    it('first: 0 gives no edges but the count; a cursor from the last page gives an empty page', async () => {
      const zero = await t.ok<AgentPage>(inst.adminKey, pageQ, { first: 0 });
      expect(zero.agents).toEqual({ totalCount: 7, pageInfo: { hasNextPage: true, endCursor: null }, edges: [] });
      const last = await t.ok<AgentPage>(inst.adminKey, pageQ, { first: 7 });
      const after = await t.ok<AgentPage>(inst.adminKey, pageQ, { first: 2, after: last.agents.pageInfo.endCursor });
      expect(after.agents).toEqual({ totalCount: 7, pageInfo: { hasNextPage: false, endCursor: null }, edges: [] });
    });

    it('filters by presence, role, search and skill group, and pages through the filtered list', async () => {
      expect(await walk({ presence: 'AVAILABLE' })).toEqual(['alice', 'bob', 'frank']);
      expect(await walk({ presence: 'FORCED_OFFLINE' })).toEqual(['dave']);
      expect(await walk({ presence: 'OFFLINE' })).toEqual(['carol', 'erin', 'grace']);
      expect(await walk({ presence: 'BREAK' })).toEqual([]);
      expect(await walk({ role: 'SUPERVISOR' })).toEqual(['bob', 'erin']);
      expect(await walk({ role: 'AGENT' })).toEqual(['alice', 'carol', 'dave', 'frank', 'grace']);
      expect(await walk({ role: 'ADMIN' })).toEqual([]);
      expect(await walk({ skillGroupId: groupId })).toEqual(['alice', 'carol', 'erin', 'grace']);
      expect(await walk({ skillGroupId: groupId }, 1)).toEqual(['alice', 'carol', 'erin', 'grace']);
      // Search: name or login, case-insensitive, substrings; LIKE wildcards are taken literally.
      expect(await walk({ search: 'ER' })).toEqual(['alice', 'bob', 'carol', 'dave', 'erin', 'frank']);
      expect(await walk({ search: 'GRACE' })).toEqual(['grace']);
      expect(await walk({ search: '  bob  ' })).toEqual(['bob']);
      expect(await walk({ search: '%' })).toEqual([]);
      expect(await walk({ search: '_' })).toEqual([]);
      expect(await walk({ search: 'nobody' })).toEqual([]);
      // Filters combine.
      expect(await walk({ skillGroupId: groupId, presence: 'AVAILABLE' })).toEqual(['alice']);
      expect(await walk({ skillGroupId: groupId, role: 'SUPERVISOR', search: 'erin' })).toEqual(['erin']);
      expect(await walk({ skillGroupId: randomUUID() })).toEqual([]);
    });
  });

  it('deleting an agent keeps its events, and removes it from agents, skill group members and the monitor', async () => {
    const inst = await seedInstance(t, { name: 'Deletion', seats: 5, agents: [{ name: 'Gone Soon', login: 'gone' }, { name: 'Stays', login: 'stays' }] });
    const [gone, stays] = inst.agents as [SeededAgent, SeededAgent];
    const group = await t.ok<{ createSkillGroup: { id: string } }>(inst.adminKey, 'mutation { createSkillGroup(input: { name: "Team", channel: PHONE }) { id } }');
    const groupId = group.createSkillGroup.id;
    for (const a of [gone, stays]) {
      await t.ok(inst.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a, level: 3 }) { id } }', { g: groupId, a: a.id });
    }
    await t.ok(gone.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    const deleted = await gql<{ deleteAgent: { id: string } }>(inst.adminKey, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: gone.id });
    expect(deleted.errors).toBeUndefined();
    expect(deleted.data).toEqual({ deleteAgent: { id: gone.id } });

    const events = await t.kefu.store.readStream(`agent-${inst.instanceId}.${gone.id}`);
    expect(events.map((e) => e.type)).toEqual(['AgentCreated', 'AgentWentAvailable', 'AgentWentOffline', 'AgentDeleted']);
    expect(events[0]!.data).toMatchObject({ agentId: gone.id, login: 'gone', name: 'Gone Soon' });
    expect(events.at(-1)!.metadata).toMatchObject({ instanceId: inst.instanceId });
    const groupEvents = await t.kefu.store.readStream(`skillgroup-${inst.instanceId}.${groupId}`);
    expect(groupEvents.map((e) => e.type)).toContain('SkillGroupMemberRemoved');

    const after = await t.ok<{
      agents: { totalCount: number; edges: { node: { id: string } }[] };
      skillGroup: { members: { agent: { id: string }; level: number }[] };
      agentMonitor: { agent: { id: string } }[];
      instance: { seatsUsed: number };
    }>(
      inst.adminKey,
      'query($g: ID!, $i: ID!) { agents { totalCount edges { node { id } } } skillGroup(id: $g) { members { level agent { id } } } agentMonitor { agent { id } } instance(id: $i) { seatsUsed } }',
      { g: groupId, i: inst.instanceId },
    );
    expect(after.agents).toEqual({ totalCount: 1, edges: [{ node: { id: stays.id } }] });
    expect(after.skillGroup.members).toEqual([{ level: 3, agent: { id: stays.id } }]);
    expect(after.agentMonitor.map((s) => s.agent.id)).toEqual([stays.id]);
    expect(after.instance.seatsUsed).toBe(1);
    const filtered = await t.ok<{ agents: { totalCount: number } }>(inst.adminKey, 'query($g: ID!) { agents(filter: { skillGroupId: $g }) { totalCount } }', { g: groupId });
    expect(filtered.agents.totalCount).toBe(1);
    // The deleted agent is not found any more, by id or for any command.
    expect(codes(await gql(inst.adminKey, 'query($id: ID!) { agent(id: $id) { id } }', { id: gone.id }))).toEqual(['NOT_FOUND']);
    expect(codes(await gql(inst.adminKey, updateAgentQ, { input: { id: gone.id, name: 'Back' } }))).toEqual(['NOT_FOUND']);
    expect(codes(await gql(inst.adminKey, 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "x" }) { id } }', { id: gone.id }))).toEqual([
      'NOT_FOUND',
    ]);
    expect(
      codes(
        await gql(inst.adminKey, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: gone.id }),
      ),
    ).toEqual(['NOT_FOUND']);
  });

  it('no error seen in this file shows a stack trace or an internal message', () => {
    expect(seen.length).toBeGreaterThan(50);
    for (const s of seen) expectClean(s.errors, s.label);
  });
});
