// Seeds the Kefu under test through its GraphQL API over HTTP, as an operator and an instance admin would:
// an instance with approved qualification and enough seats, N agents with SIP credentials in one PHONE skill
// group (LONGEST_IDLE, no wrap-up), all AVAILABLE, a trunk allowing 127.0.0.1, and an IVR flow (a TTS menu,
// key 1 routes to the group) bound to a number.

export interface Seeded {
  instanceId: string;
  adminKey: string;
  groupId: string;
  /** SIP usernames, in agent order. */
  sipUsers: string[];
  sipPassword: string;
  number: string;
}

export class Gql {
  private readonly url: string;
  constructor(httpBase: string) {
    this.url = `${httpBase}/graphql`;
  }

  async ok<T = Record<string, unknown>>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown[] };
    if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors).slice(0, 500)}`);
    return body.data as T;
  }
}

/** Runs `fn` over `items` with at most `n` at a time. */
export async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

export async function seed(gql: Gql, o: { operatorToken: string; agents: number; ringTimeoutSeconds: number; number: string; log: (m: string) => void }): Promise<Seeded> {
  const created = await gql.ok<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(
    o.operatorToken,
    'mutation { createInstance(input: { name: "Bench phone" }) { instance { id } adminApiKey } }',
  );
  const instanceId = created.createInstance.instance.id;
  const admin = created.createInstance.adminApiKey;
  await gql.ok(o.operatorToken, 'mutation($id: ID!, $n: Int!) { purchaseSeats(input: { instanceId: $id, seats: $n }) { seats } }', { id: instanceId, n: o.agents + 10 });
  await gql.ok(admin, 'mutation { submitQualification(input: { companyName: "Bench", registrationNumber: "91310000MA1", documents: ["licence.pdf"] }) { id } }');
  await gql.ok(o.operatorToken, 'mutation($id: ID!) { reviewQualification(input: { instanceId: $id, approve: true }) { id } }', { id: instanceId });
  const g = await gql.ok<{ createSkillGroup: { id: string } }>(
    admin,
    `mutation { createSkillGroup(input: { name: "Bench", channel: PHONE, strategy: LONGEST_IDLE, ringTimeoutSeconds: ${o.ringTimeoutSeconds}, wrapUpSeconds: 0 }) { id } }`,
  );
  const groupId = g.createSkillGroup.id;
  const sipPassword = 'bench-sip-secret';
  const sipUsers = Array.from({ length: o.agents }, (_, i) => `bench${String(i).padStart(4, '0')}`);
  const started = performance.now();
  // createAgent hashes a password (scrypt), so this is the slow part of the seeding.
  await pool(sipUsers, 8, async (user) => {
    const r = await gql.ok<{ createAgent: { id: string } }>(admin, 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', {
      input: { name: `Agent ${user}`, login: user, password: 'password-123' },
    });
    const agentId = r.createAgent.id;
    await gql.ok(admin, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: agentId });
    await gql.ok(admin, 'mutation($input: SetAgentSipCredentialsInput!) { setAgentSipCredentials(input: $input) { username } }', {
      input: { agentId, username: user, password: sipPassword },
    });
    // An admin may set any agent's presence (no agent login needed).
    await gql.ok(admin, 'mutation($a: ID!) { setPresence(input: { presence: AVAILABLE, agentId: $a }) { id } }', { a: agentId });
  });
  o.log(`seeded ${o.agents} agents in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await gql.ok(admin, 'mutation { createTrunk(input: { name: "Bench carrier", allowedAddresses: ["127.0.0.1/32"] }) { id } }');
  const menu = await gql.ok<{ createFlow: { id: string } }>(admin, 'mutation($input: CreateFlowInput!) { createFlow(input: $input) { id } }', {
    input: {
      name: 'Bench menu',
      kind: 'IVR',
      definition: {
        start: 'menu',
        nodes: [
          { id: 'menu', type: 'menu', prompt: { text: 'Welcome to the bench. For sales, press 1.' }, options: { '1': { next: 'sales', label: 'Sales' } }, timeoutSeconds: 8, retries: 1, onFailure: 'bye' },
          { id: 'sales', type: 'route', skillGroupId: groupId },
          { id: 'bye', type: 'hangup', prompt: { text: 'Goodbye.' } },
        ],
      },
    },
  });
  await gql.ok(admin, 'mutation($n: String!, $f: ID!) { bindNumber(input: { number: $n, flowId: $f }) { number } }', { n: o.number, f: menu.createFlow.id });
  return { instanceId, adminKey: admin, groupId, sipUsers, sipPassword, number: o.number };
}
