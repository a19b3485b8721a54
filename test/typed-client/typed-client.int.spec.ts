// The example typed client (examples/typed-client) at run time against a real Kefu: its types generated from
// schema.graphql (as `npm run codegen` does), then its operations sent over HTTP and their typed results used.
import { randomUUID } from 'node:crypto';
import { generate } from '@graphql-codegen/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import config from '../../codegen.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

/** The example's surface as this test uses it (its real types are checked by typed-client.unit.spec.ts). */
interface Results {
  loginAgent: { token: string };
  me: { __typename: string; agent: { id: string; name: string; presence: string } };
  setPresence: { presence: string; breakReason: string | null };
}
interface ExampleClient {
  KefuClient: new (url: string) => { token: string | null; request(document: unknown, variables?: unknown): Promise<Results> };
  LoginAgent: unknown;
  Me: unknown;
  SetPresence: unknown;
  EndContact: unknown;
}

describe('the typed example client against Kefu', () => {
  let t: TestKefu;
  let base: string;

  beforeAll(async () => {
    // The example's generated folder (git-ignored), as a user would have it after `npm run codegen`.
    await generate({ ...config, silent: true }, true);
    t = await startTestKefu({ database: 'pglite', listen: true, env: { HOST: '127.0.0.1' } });
    base = `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await t?.close();
  });

  it('logs in, reads its agent, changes presence, and gets the API\'s errors as errors', async () => {
    const seed = await seedInstance(t, { name: 'Typed Co', agents: [{ name: 'Tia', login: 'tia' }] });
    // Imported by a computed path: Kefu's own type check must not need the generated folder (the unit spec
    // type-checks the client against fresh types).
    const modulePath = new URL('../../examples/typed-client/src/agent-client.ts', import.meta.url).href;
    const client = (await import(modulePath)) as ExampleClient;
    const kefu = new client.KefuClient(base);
    const login = await kefu.request(client.LoginAgent, { input: { instanceId: seed.instanceId, login: 'tia', password: 'password-123' } });
    expect(login.loginAgent.token).toMatch(/\S{20,}/);
    kefu.token = login.loginAgent.token;
    const me = await kefu.request(client.Me);
    expect(me.me.__typename).toBe('AgentPrincipal');
    if (me.me.__typename !== 'AgentPrincipal') throw new Error('narrowing');
    expect(me.me.agent).toMatchObject({ id: seed.agents[0]!.id, name: 'Tia', presence: 'OFFLINE' });
    const onBreak = await kefu.request(client.SetPresence, { presence: 'BREAK', reason: 'Meal' });
    expect(onBreak.setPresence).toEqual({ presence: 'BREAK', breakReason: 'Meal' });
    await expect(kefu.request(client.EndContact, { contactId: randomUUID() })).rejects.toThrow(/^NOT_FOUND: /);
  });
});
