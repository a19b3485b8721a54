// GraphQL over HTTP runs an operation sent again and again through graphql-jit (mercurius' adaptive JIT, compiled
// in the background after its third request: app.ts); the others through graphql-js. Either way the answer is the
// same: the same data (unions, enums, DateTime, nested lists), and the same errors with the same codes, fields,
// paths and messages (a decider's refusal, a resolver's input check, a variable graphql-js refuses, a scalar's
// refusal, a missing principal). Each document here is sent well past the JIT's threshold, with pauses for the
// background compile, and every answer must equal the first one (graphql-js's).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

type Seeded = Awaited<ReturnType<typeof seedInstance>>;

describe('GraphQL answers are the same before and after an operation is compiled (graphql-jit)', () => {
  let t: TestKefu;
  let s: Seeded;

  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    s = await seedInstance(t, { name: 'Jit', seats: 5, agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob' }] });
    await t.ok(s.adminKey, 'mutation { createSkillGroup(input: { name: "Chats", channel: ONLINE }) { id } }');
    await t.ok(s.adminKey, 'mutation($input: AddToBlacklistInput!) { addToBlacklist(input: $input) { id } }', {
      input: { channel: 'PHONE', identity: '+8613800000000', reason: 'spam', expiresAt: '2099-01-01T00:00:00.000Z' },
    });
  });
  afterAll(async () => t?.close());

  const same = async (who: () => string | null, query: string, variables?: Record<string, unknown>) => {
    const answers = [];
    for (let i = 0; i < 8; i++) {
      answers.push(await t.gql(who(), query, variables));
      // The adaptive JIT compiles on a later turn of the loop.
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const a of answers.slice(1)) expect(a).toEqual(answers[0]);
    return answers[0]!;
  };

  it('data: a union, enums, DateTime and nested lists', async () => {
    // Which executor ran each `me`: graphql-jit's compiled code, or graphql-js (its frames on the resolver's stack).
    const field = t.kefu.app.graphql.schema.getQueryType()!.getFields().me!;
    const resolve = field.resolve!;
    const executors: string[] = [];
    field.resolve = (...args) => {
      const stack = new Error().stack ?? '';
      executors.push(stack.includes('node_modules/graphql-jit/') ? 'jit' : stack.includes('node_modules/graphql/execution/') ? 'graphql-js' : '?');
      return resolve(...args);
    };
    const me = await same(() => s.agents[0]!.token, '{ me { __typename ... on AgentPrincipal { agent { id name role presence createdAt skillGroups { skillGroup { id } } } } } }');
    expect(me.errors).toBeUndefined();
    expect((me.data as { me: { __typename: string } }).me.__typename).toBe('AgentPrincipal');
    // graphql-js first; compiled after the third request (in the background), then graphql-jit.
    expect(executors.slice(0, 3)).toEqual(['graphql-js', 'graphql-js', 'graphql-js']);
    expect(executors.at(-1)).toBe('jit');
    field.resolve = resolve;
    const agents = await same(() => s.adminKey, 'query($n: Int) { agents(first: $n) { edges { node { id name login role presence createdAt updatedAt } } } }', { n: 10 });
    expect(agents.errors).toBeUndefined();
    const list = await same(() => s.adminKey, '{ blacklist { edges { node { id channel identity reason expiresAt active agent { id } } } } }');
    expect(list.errors).toBeUndefined();
    expect(JSON.stringify(list.data)).toContain('2099-01-01T00:00:00.000Z');
  }, 60_000);

  it('errors: a decider or resolver refusal, a bad variable, a scalar refusal, no principal', async () => {
    const send = 'mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { id seq } }';
    const unknownChat = await same(() => s.agents[0]!.token, send, { input: { contactId: randomUUID(), message: { clientMessageId: 'c1', text: 'hello' } } });
    expect(unknownChat.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const tooLong = await same(() => s.adminKey, 'mutation($input: AddToBlacklistInput!) { addToBlacklist(input: $input) { id } }', {
      input: { channel: 'PHONE', identity: '+8613900000000', reason: 'x'.repeat(5000) },
    });
    expect(tooLong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.reason' });
    const badVariable = await same(() => s.adminKey, 'query($n: Int) { agents(first: $n) { edges { node { id } } } }', { n: 'ten' });
    expect(badVariable.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const badDate = await same(() => s.adminKey, 'mutation($input: AddToBlacklistInput!) { addToBlacklist(input: $input) { id } }', {
      input: { channel: 'PHONE', identity: '+8613700000000', reason: 'spam', expiresAt: 'tomorrow' },
    });
    expect(badDate.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.expiresAt' });
    const anonymous = await same(() => null, '{ agents { edges { node { id } } } }');
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const forbidden = await same(() => s.agents[1]!.token, '{ blacklist { edges { node { id } } } }');
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  }, 60_000);
});
