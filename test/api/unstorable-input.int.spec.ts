// Values the stores cannot hold are refused at the edge (issue 9, item 2): dates past year 9999 (the year
// 10000 expiry that stalled the blacklist projection), NUL and unpaired surrogates in any text, forged page
// cursors, bad DateTime literals and very deep JSON: each is BAD_USER_INPUT naming the field, never
// INTERNAL_SERVER_ERROR, and nothing of it reaches the event store or a read model.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorToken, seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';

type Seeded = Awaited<ReturnType<typeof seedInstance>>;

const NUL = 'a\u0000b';
const loneHigh = 'x\uD800y';
const loneLow = '\uDC00';
const cursorOf = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const fields = (r: GqlResult<unknown>) => r.errors?.map((e) => ({ code: e.extensions?.code, field: e.extensions?.field }));

describe('values the stores cannot hold are BAD_USER_INPUT naming the field', () => {
  let t: TestKefu;
  let s: Seeded;
  let ann: Seeded['agents'][0];
  let groupId: string;

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    s = await seedInstance(t, { name: 'Unstorable', seats: 5, agents: [{ name: 'Ann', login: 'ann' }] });
    ann = s.agents[0]!;
    const g = await t.ok<{ createSkillGroup: { id: string } }>(s.adminKey, 'mutation { createSkillGroup(input: { name: "Chats", channel: ONLINE }) { id } }');
    groupId = g.createSkillGroup.id;
  });
  afterAll(async () => t?.close());

  const addToBlacklist = 'mutation($input: AddToBlacklistInput!) { addToBlacklist(input: $input) { id expiresAt } }';
  const blacklistInput = (over: Record<string, unknown>) => ({ input: { channel: 'PHONE', identity: `+86${Date.now()}`, reason: 'spam', ...over } });
  const yearsAhead = (years: number) => {
    const d = new Date();
    d.setUTCFullYear(d.getUTCFullYear() + years);
    return d.toISOString();
  };

  interface Case {
    name: string;
    who?: 'admin' | 'agent' | 'operator' | 'anonymous';
    query: string;
    vars?: () => Record<string, unknown>;
    field: string;
  }
  const cases: Case[] = [
    // Dates past what the stores hold, and expiries past what makes sense.
    { name: 'expiresAt in the year 10000 (JavaScript form)', query: addToBlacklist, vars: () => blacklistInput({ expiresAt: '+010000-01-01T00:00:00.000Z' }), field: 'input.expiresAt' },
    { name: 'expiresAt in the year 275760', query: addToBlacklist, vars: () => blacklistInput({ expiresAt: '+275760-09-13T00:00:00.000Z' }), field: 'input.expiresAt' },
    { name: 'expiresAt 9999-12-31 at -05:00 (year 10000 in UTC)', query: addToBlacklist, vars: () => blacklistInput({ expiresAt: '9999-12-31T23:00:00-05:00' }), field: 'input.expiresAt' },
    { name: 'expiresAt 101 years ahead', query: addToBlacklist, vars: () => blacklistInput({ expiresAt: yearsAhead(101) }), field: 'input.expiresAt' },
    { name: 'expiresAt as a literal in the year 275760', query: 'mutation { addToBlacklist(input: { channel: PHONE, identity: "+861", reason: "x", expiresAt: "+275760-09-13T00:00:00.000Z" }) { id } }', field: 'input.expiresAt' },
    { name: 'expiresAt as a number literal', query: 'mutation { addToBlacklist(input: { channel: PHONE, identity: "+861", reason: "x", expiresAt: 99999999999999 }) { id } }', field: 'input.expiresAt' },
    { name: 'expiresAt as a number variable', query: addToBlacklist, vars: () => blacklistInput({ expiresAt: 8.64e15 }), field: 'input.expiresAt' },
    { name: 'expiresAt "1" (Date.parse reads year 2001)', query: addToBlacklist, vars: () => blacklistInput({ expiresAt: '1' }), field: 'input.expiresAt' },
    { name: 'expiresAt on February 30', query: addToBlacklist, vars: () => blacklistInput({ expiresAt: '2030-02-30T00:00:00Z' }), field: 'input.expiresAt' },
    { name: 'callRecords from in the year 0', query: '{ callRecords(filter: { from: "0000-06-01T00:00:00Z" }) { pageInfo { hasNextPage } } }', field: 'filter.from' },
    { name: 'callRecords to in the year 10000', query: 'query($to: DateTime) { callRecords(filter: { to: $to }) { pageInfo { hasNextPage } } }', vars: () => ({ to: '+010000-01-01T00:00:00Z' }), field: 'filter.to' },
    // NUL and unpaired surrogates in text that would be stored.
    { name: 'createAgent name with NUL', query: 'mutation($n: String!) { createAgent(input: { name: $n, login: "nul1", password: "password-123" }) { id } }', vars: () => ({ n: NUL }), field: 'input.name' },
    { name: 'createAgent name with a lone low surrogate', query: 'mutation($n: String!) { createAgent(input: { name: $n, login: "nul2", password: "password-123" }) { id } }', vars: () => ({ n: loneLow }), field: 'input.name' },
    { name: 'loginAgent login with NUL', who: 'anonymous', query: 'mutation($i: ID!, $l: String!) { loginAgent(input: { instanceId: $i, login: $l, password: "password-123" }) { token } }', vars: () => ({ i: s.instanceId, l: NUL }), field: 'input.login' },
    { name: 'configureBreakReasons with NUL', query: 'mutation($r: [String!]!) { configureBreakReasons(input: { reasons: $r }) }', vars: () => ({ r: ['Meal', NUL] }), field: 'input.reasons.1' },
    { name: 'setPresence break reason with a lone surrogate', who: 'agent', query: 'mutation($r: String) { setPresence(input: { presence: BREAK, reason: $r }) { id } }', vars: () => ({ r: loneHigh }), field: 'input.reason' },
    { name: 'forceAgentOffline reason with NUL', query: 'mutation($a: ID!, $r: String!) { forceAgentOffline(input: { agentId: $a, reason: $r }) { id } }', vars: () => ({ a: ann.id, r: NUL }), field: 'input.reason' },
    { name: 'createSkillGroup name with a lone surrogate', query: 'mutation($n: String!) { createSkillGroup(input: { name: $n, channel: PHONE }) { id } }', vars: () => ({ n: loneHigh }), field: 'input.name' },
    { name: 'createInstance name with NUL', who: 'operator', query: 'mutation($n: String!) { createInstance(input: { name: $n }) { adminApiKey } }', vars: () => ({ n: NUL }), field: 'input.name' },
    { name: 'submitQualification companyName with NUL', query: 'mutation($n: String!) { submitQualification(input: { companyName: $n, registrationNumber: "1", documents: ["d"] }) { id } }', vars: () => ({ n: NUL }), field: 'input.companyName' },
    { name: 'submitQualification document with a lone surrogate', query: 'mutation($d: String!) { submitQualification(input: { companyName: "Acme", registrationNumber: "1", documents: [$d] }) { id } }', vars: () => ({ d: loneLow }), field: 'input.documents.0' },
    { name: 'createApiKey name with NUL', query: 'mutation($n: String!) { createApiKey(input: { name: $n, role: ADMIN }) { secret } }', vars: () => ({ n: NUL }), field: 'input.name' },
    { name: 'createContact customer id with NUL', query: 'mutation($g: ID!, $c: String!) { createContact(input: { channel: ONLINE, customer: { kind: WEB, id: $c }, skillGroupId: $g }) { id } }', vars: () => ({ g: groupId, c: NUL }), field: 'input.customer.id' },
    { name: 'createContact customer name with a lone surrogate', query: 'mutation($g: ID!, $n: String) { createContact(input: { channel: ONLINE, customer: { kind: WEB, id: "v1", name: $n }, skillGroupId: $g }) { id } }', vars: () => ({ g: groupId, n: loneHigh }), field: 'input.customer.name' },
    { name: 'createContact data value with NUL', query: 'mutation($g: ID!, $v: String!) { createContact(input: { channel: ONLINE, customer: { kind: WEB, id: "v1" }, skillGroupId: $g, data: [{ key: "order", value: $v }] }) { id } }', vars: () => ({ g: groupId, v: NUL }), field: 'input.data.0.value' },
    { name: 'createContact data key with a lone surrogate', query: 'mutation($g: ID!, $k: String!) { createContact(input: { channel: ONLINE, customer: { kind: WEB, id: "v1" }, skillGroupId: $g, data: [{ key: $k, value: "1" }] }) { id } }', vars: () => ({ g: groupId, k: loneLow }), field: 'input.data.0.key' },
    { name: 'sendMessage text with NUL', query: 'mutation($c: ID!, $t: String!) { sendMessage(input: { contactId: $c, text: $t }) { id } }', vars: () => ({ c: randomUUID(), t: NUL }), field: 'input.text' },
    { name: 'sendMessage text with a lone surrogate', query: 'mutation($c: ID!, $t: String!) { sendMessage(input: { contactId: $c, text: $t }) { id } }', vars: () => ({ c: randomUUID(), t: `hi ${loneHigh}` }), field: 'input.text' },
    { name: 'transferContact note with NUL', query: 'mutation($c: ID!, $n: String) { transferContact(input: { contactId: $c, toAgentId: $c, note: $n }) { id } }', vars: () => ({ c: randomUUID(), n: NUL }), field: 'input.note' },
    { name: 'endContact reason with NUL', query: 'mutation($c: ID!, $r: String) { endContact(input: { contactId: $c, reason: $r }) { id } }', vars: () => ({ c: randomUUID(), r: NUL }), field: 'input.reason' },
    { name: 'addToBlacklist reason with NUL', query: addToBlacklist, vars: () => blacklistInput({ reason: NUL }), field: 'input.reason' },
    { name: 'addToBlacklist identity with a lone surrogate', query: addToBlacklist, vars: () => blacklistInput({ identity: loneHigh }), field: 'input.identity' },
    { name: 'createFlow name with NUL', query: 'mutation($n: String!, $d: JSON!) { createFlow(input: { name: $n, kind: IVR, definition: $d }) { id } }', vars: () => ({ n: NUL, d: { start: 'a', nodes: [{ id: 'a', type: 'hangup' }] } }), field: 'input.name' },
    { name: 'createFlow prompt text with NUL', query: 'mutation($d: JSON!) { createFlow(input: { name: "IVR", kind: IVR, definition: $d }) { id } }', vars: () => ({ d: { start: 'a', nodes: [{ id: 'a', type: 'play', prompt: { text: NUL }, next: 'a' }] } }), field: 'input.definition.nodes.0.prompt.text' },
    { name: 'createFlow with a key holding NUL', query: 'mutation($d: JSON!) { createFlow(input: { name: "IVR", kind: IVR, definition: $d }) { id } }', vars: () => ({ d: { start: 'a', ['n\u0000']: 1, nodes: [] } }), field: 'input.definition.n\u0000' },
    { name: 'createTrunk name with NUL', query: 'mutation($n: String!) { createTrunk(input: { name: $n, allowedAddresses: ["203.0.113.1"] }) { id } }', vars: () => ({ n: NUL }), field: 'input.name' },
    { name: 'configureScreenPop urlTemplate with NUL', query: 'mutation($u: String) { configureScreenPop(input: { urlTemplate: $u }) { urlTemplate } }', vars: () => ({ u: `https://crm.example/${NUL}` }), field: 'input.urlTemplate' },
    // Filters that reach SQL.
    { name: 'agents search with NUL', query: 'query($q: String) { agents(filter: { search: $q }) { totalCount } }', vars: () => ({ q: NUL }), field: 'filter.search' },
    { name: 'callRecords number with NUL', query: 'query($n: String) { callRecords(filter: { number: $n }) { pageInfo { hasNextPage } } }', vars: () => ({ n: NUL }), field: 'filter.number' },
    // Forged cursors: the right shape on the outside, anything inside.
    { name: 'agents: a cursor whose id is not a uuid', query: 'query($c: String) { agents(after: $c) { totalCount } }', vars: () => ({ c: cursorOf(['2026-12-04T10:00:00.000Z', "x' OR 1=1 --"]) }), field: 'after' },
    { name: 'agents: a cursor in the year 10000', query: 'query($c: String) { agents(after: $c) { totalCount } }', vars: () => ({ c: cursorOf(['+010000-01-01T00:00:00.000Z', randomUUID()]) }), field: 'after' },
    { name: 'agents: a cursor in the year 0', query: 'query($c: String) { agents(after: $c) { totalCount } }', vars: () => ({ c: cursorOf(['0000-01-01T00:00:00.000Z', randomUUID()]) }), field: 'after' },
    { name: 'contacts: a cursor whose id is not a uuid', query: 'query($c: String) { contacts(after: $c) { edges { cursor } } }', vars: () => ({ c: cursorOf(['2026-12-04T10:00:00.000Z', 'abc']) }), field: 'after' },
    { name: 'contacts: a cursor with a NUL in its id', query: 'query($c: String) { contacts(after: $c) { edges { cursor } } }', vars: () => ({ c: cursorOf(['2026-12-04T10:00:00.000Z', NUL]) }), field: 'after' },
    { name: 'blacklist: a cursor whose id is not a uuid', query: 'query($c: String) { blacklist(after: $c) { totalCount } }', vars: () => ({ c: cursorOf(['2026-12-04T10:00:00.000Z', 'abc']) }), field: 'after' },
    { name: 'blacklist: a cursor with a date Date.parse reads loosely', query: 'query($c: String) { blacklist(after: $c) { totalCount } }', vars: () => ({ c: cursorOf(['1', randomUUID()]) }), field: 'after' },
    { name: 'callRecords: a cursor whose id is not a uuid', query: 'query($c: String) { callRecords(after: $c) { pageInfo { hasNextPage } } }', vars: () => ({ c: cursorOf(['2026-12-04T10:00:00.000Z', 'abc']) }), field: 'after' },
    { name: 'callRecords: a cursor in the year 275760', query: 'query($c: String) { callRecords(after: $c) { pageInfo { hasNextPage } } }', vars: () => ({ c: cursorOf(['+275760-09-13T00:00:00.000Z', randomUUID()]) }), field: 'after' },
  ];

  const tokenOf = (who: Case['who']) => (who === 'agent' ? ann.token : who === 'operator' ? operatorToken : who === 'anonymous' ? null : s.adminKey);

  for (const c of cases) {
    it(`${c.name} → ${c.field}`, async () => {
      const r = await t.gql(tokenOf(c.who), c.query, c.vars?.());
      expect(fields(r), JSON.stringify(r.errors)).toEqual([{ code: 'BAD_USER_INPUT', field: c.field }]);
      expect(JSON.stringify(r.errors)).not.toMatch(/Internal|stack|node_modules|\.ts:\d+/);
    });
  }

  it('a JSON input nested 100,000 deep is BAD_USER_INPUT on the field, not a stack overflow', async () => {
    // Written by hand: JSON.stringify itself overflows the stack on such a value.
    const query = JSON.stringify('mutation($d: JSON!) { createFlow(input: { name: "Deep", kind: IVR, definition: $d }) { id } }');
    // The field names where the value went too deep: 32 levels into the definition.
    for (const [open, leaf, close, step] of [['{"a":', '"leaf"', '}', '.a'], ['[', '1', ']', '.0']] as const) {
      const d = open.repeat(100_000) + leaf + close.repeat(100_000);
      const res = await t.kefu.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${s.adminKey}` },
        payload: `{"query":${query},"variables":{"d":${d}}}`,
      });
      const body = res.json() as GqlResult<unknown>;
      expect(fields(body), res.body.slice(0, 500)).toEqual([{ code: 'BAD_USER_INPUT', field: `input.definition${step.repeat(32)}` }]);
      expect(res.body).not.toMatch(/Internal|call stack/);
    }
  });

  it('a blacklist expiry 99 years ahead is kept, and the blacklist keeps projecting after every refusal above', async () => {
    const expiresAt = yearsAhead(99);
    const added = await t.ok<{ addToBlacklist: { id: string; expiresAt: string } }>(s.adminKey, addToBlacklist, blacklistInput({ expiresAt }));
    expect(added.addToBlacklist.expiresAt).toBe(expiresAt);
    const latest = await t.ok<{ addToBlacklist: { id: string } }>(s.adminKey, addToBlacklist, blacklistInput({ identity: '+8613900000001' }));
    const list = await t.ok<{ blacklist: { edges: { node: { id: string } }[] } }>(s.adminKey, '{ blacklist { edges { node { id } } } }');
    expect(list.blacklist.edges.map((e) => e.node.id)).toEqual([latest.addToBlacklist.id, added.addToBlacklist.id]);
    // No refused value reached the store: every event of the instance's blacklist is one of these two.
    const events = await t.kefu.store.readStream(`blacklist-${s.instanceId}`);
    expect(events.map((e) => e.data.entryId)).toEqual([added.addToBlacklist.id, latest.addToBlacklist.id]);
  });

  it('text outside the Basic Multilingual Plane (paired surrogates) is stored and read back as it was', async () => {
    const name = 'Zoë 客服 😀 𝄞';
    const r = await t.ok<{ createAgent: { id: string; name: string } }>(s.adminKey, 'mutation($n: String!) { createAgent(input: { name: $n, login: "emoji", password: "password-123" }) { id name } }', { n: name });
    expect(r.createAgent.name).toBe(name);
    const read = await t.ok<{ agent: { name: string } }>(s.adminKey, 'query($id: ID!) { agent(id: $id) { name } }', { id: r.createAgent.id });
    expect(read.agent.name).toBe(name);
  });
});
