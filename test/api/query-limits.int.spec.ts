// Bounded work per request: too deep, too many aliases, too costly, too many mutations or too many tokens is
// a BAD_USER_INPUT naming the limit, refused before any resolver runs; over HTTP and over graphql-ws alike.
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultQueryLimits } from '../../src/api/query-limits.ts';
import { seedInstance, startTestKefu, type GqlResult, type TestKefu } from '../support/kefu.ts';
import { collect, settleSubscription, wsClient } from '../support/ws-client.ts';

type Seeded = Awaited<ReturnType<typeof seedInstance>>;

const limitsOf = (r: GqlResult<unknown>) => r.errors?.map((e) => [e.extensions?.code, (e.extensions as { limit?: string } | undefined)?.limit]);

describe('query limits (pglite)', () => {
  let t: TestKefu;
  let seeded: Seeded;
  let url: string;

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite', listen: true });
    url = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
    seeded = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('refuses 2,000 aliases of a list query at once, and more aliases than allowed, without running them', async () => {
    const query = `{ ${Array.from({ length: 2000 }, (_, i) => `a${i}: agents(first: 200) { edges { node { id name } } }`).join(' ')} }`;
    const started = performance.now();
    const r = await t.gql(seeded.adminKey, query);
    const ms = performance.now() - started;
    expect(r.status).toBeLessThan(500);
    expect(r.data).toBeNull();
    // So long a document stops at the token limit already, before it is even parsed whole.
    expect(limitsOf(r)).toEqual([['BAD_USER_INPUT', 'tokens']]);
    // It took seconds when the 2,000 lists ran.
    expect(ms).toBeLessThan(2000);

    const aliased = await t.gql(seeded.adminKey, `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: skillGroups { id }`).join(' ')} }`);
    expect(limitsOf(aliased)).toEqual([['BAD_USER_INPUT', 'aliases']]);
    expect(aliased.errors?.[0]?.message).toBe('The operation uses 31 aliases; at most 30 are allowed');
    const fewer = await t.gql(seeded.adminKey, `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: skillGroups { id }`).join(' ')} }`);
    expect(fewer.errors).toBeUndefined();
  });

  it('runs none of the mutations of a request that holds more than allowed', async () => {
    const count = defaultQueryLimits.maxMutationFields + 1;
    const mutation = `mutation { ${Array.from({ length: count }, (_, i) => `m${i}: createSkillGroup(input: { name: "group ${i}", channel: PHONE }) { id }`).join(' ')} }`;
    const r = await t.gql(seeded.adminKey, mutation);
    expect(limitsOf(r)).toEqual([['BAD_USER_INPUT', 'mutations']]);
    expect(r.errors?.[0]?.message).toBe(`The request runs ${count} mutations; at most ${defaultQueryLimits.maxMutationFields} are allowed in one request`);
    const groups = await t.ok<{ skillGroups: unknown[] }>(seeded.adminKey, '{ skillGroups { id } }');
    expect(groups.skillGroups).toHaveLength(0);
    // Up to the limit they all run.
    const allowed = mutation.replace(/ m\d+: createSkillGroup\(input: \{ name: "group \d+", channel: PHONE \}\) \{ id \} \}$/, ' }');
    const ran = await t.gql<Record<string, { id: string }>>(seeded.adminKey, allowed);
    expect(ran.errors).toBeUndefined();
    expect(Object.keys(ran.data ?? {})).toHaveLength(count - 1);
  });

  it('counts mutations spread through fragments too', async () => {
    const r = await t.gql(
      seeded.adminKey,
      `mutation { ...A ...B } fragment A on Mutation { ${Array.from({ length: 6 }, (_, i) => `a${i}: configureBreakReasons(input: { reasons: ["x"] })`).join(' ')} }
       fragment B on Mutation { ${Array.from({ length: 6 }, (_, i) => `b${i}: configureBreakReasons(input: { reasons: ["y"] })`).join(' ')} }`,
    );
    expect(limitsOf(r)).toEqual([['BAD_USER_INPUT', 'mutations']]);
  });

  it('refuses fields nested deeper than allowed, through fragments too', async () => {
    const nested = (levels: number) => `{ me { ... on AgentPrincipal { agent { ${'skillGroups { skillGroup { members { agent { '.repeat(levels)}id${' } } } }'.repeat(levels)} } } } }`;
    const deep = await t.gql(seeded.agents[0]!.token, nested(4));
    expect(limitsOf(deep)).toEqual([['BAD_USER_INPUT', 'depth']]);
    expect(deep.errors?.[0]?.message).toMatch(/more than 15 levels deep/);
    const shallow = await t.gql(seeded.agents[0]!.token, nested(2));
    expect(limitsOf(shallow)).toBeUndefined();
  });

  it('refuses an operation that may select too many fields, naming the limit', async () => {
    // 11 pages of 200 call records with their legs and recordings: about 53,000 fields at most.
    const page = 'callRecords(first: 200) { edges { node { legs { sequence } recordings { id } } } }';
    const r = await t.gql(seeded.adminKey, `{ ${Array.from({ length: 11 }, (_, i) => `p${i}: ${page}`).join(' ')} }`);
    expect(limitsOf(r)).toEqual([['BAD_USER_INPUT', 'cost']]);
    expect(r.errors?.[0]?.message).toMatch(/may select up to \d+ fields .*at most 50000/);
    const one = await t.gql(seeded.adminKey, `{ ${page} }`);
    expect(one.errors).toBeUndefined();
  });

  it('refuses a document with too many tokens, and one nested past what the parser can recurse', async () => {
    const long = await t.gql(seeded.adminKey, `{ ${'__typename '.repeat(6000)} }`);
    expect(limitsOf(long)).toEqual([['BAD_USER_INPUT', 'tokens']]);
    const brackets = await t.gql(seeded.adminKey, `{ agents(filter: ${'['.repeat(2400)}${']'.repeat(2400)}) { totalCount } }`);
    expect(limitsOf(brackets)).toEqual([['BAD_USER_INPUT', 'depth']]);
  });

  it('answers the standard introspection query (GraphiQL needs it)', async () => {
    const r = await t.gql<{ __schema: { types: unknown[] } }>(seeded.adminKey, getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }));
    expect(r.errors).toBeUndefined();
    expect(r.data?.__schema.types.length).toBeGreaterThan(50);
  });

  it('applies the same limits and the spec rules to subscriptions over graphql-ws', async () => {
    const client = wsClient(url, seeded.adminKey);
    try {
      const aliased = collect(client, `subscription { agentStatusChanged { ${Array.from({ length: 40 }, (_, i) => `s${i}: presence`).join(' ')} } }`);
      await expect(aliased.next(1, 20_000)).rejects.toThrow(/subscription failed/);
      expect(JSON.stringify(aliased.errors)).toMatch(/40 aliases; at most 30/);
      expect(JSON.stringify(aliased.errors)).toMatch(/BAD_USER_INPUT/);

      const unknownField = collect(client, 'subscription { agentStatusChanged { noSuchField } }');
      await expect(unknownField.next(1, 20_000)).rejects.toThrow(/subscription failed/);
      expect(JSON.stringify(unknownField.errors)).toMatch(/Cannot query field ..noSuchField.*BAD_USER_INPUT/);

      // A subscription within the limits still starts and delivers.
      const ok = collect<{ agentStatusChanged: { agent: { id: string } } }>(client, 'subscription { agentStatusChanged { agent { id } presence } }');
      await settleSubscription();
      await t.ok(seeded.agents[0]!.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
      const got = await ok.next(1, 20_000);
      expect(got[0]?.agentStatusChanged.agent.id).toBe(seeded.agents[0]!.id);
      ok.dispose();
    } finally {
      await client.dispose();
    }
  });
});
