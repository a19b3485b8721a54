// The live-views bench's seed, shared by its server child and bench/live/trace-change.ts: an instance with a
// supervisor (sue) and an agent (ann), created through the API of a Kefu running in this process.
import type { Kefu } from '../../src/main.ts';

export const operatorToken = 'bench-operator-token-0123456789';

export async function gql(kefu: Kefu, token: string, query: string, variables: object = {}) {
  const res = await kefu.app.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, payload: JSON.stringify({ query, variables }) });
  const body = res.json() as { data: Record<string, Record<string, unknown>>; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** Creates the instance, the supervisor and the agent; answers their tokens. */
export async function seedSupervisorAndAgent(kefu: Kefu, instanceName: string): Promise<{ instanceId: string; supervisorToken: string; agentToken: string }> {
  const created = await gql(kefu, operatorToken, 'mutation($name: String!) { createInstance(input: { name: $name }) { instance { id } adminApiKey } }', { name: instanceName });
  const instanceId = (created.createInstance!.instance as { id: string }).id;
  const admin = created.createInstance!.adminApiKey as string;
  await gql(kefu, operatorToken, 'mutation($id: ID!) { purchaseSeats(input: { instanceId: $id, seats: 10 }) { seats } }', { id: instanceId });
  const tokens: Record<string, string> = {};
  for (const [login, role] of [
    ['sue', 'SUPERVISOR'],
    ['ann', 'AGENT'],
  ] as const) {
    await gql(kefu, admin, 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', { input: { name: login, login, password: 'password-123', role } });
    const res = await kefu.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ query: 'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }', variables: { input: { instanceId, login, password: 'password-123' } } }),
    });
    tokens[login] = (res.json() as { data: { loginAgent: { token: string } } }).data.loginAgent.token;
  }
  return { instanceId, supervisorToken: tokens.sue!, agentToken: tokens.ann! };
}
