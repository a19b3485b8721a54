// Two Kefu processes on one PostgreSQL database and one NATS: an agent's row behind their token is kept by each
// process until the bus tells a change of the agent (auth-agent-rows.unit.spec.ts), so a role change or a deletion
// made through one process must be seen by the other at once, not after the rows' 30 s backstop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

const codes = (r: { errors?: { extensions?: { code?: string } }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);

/** Polls `check` until it is true; fails after `ms` (generous: a loaded machine). */
async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('agent rows behind tokens across two processes (NATS)', () => {
  let a: TestKefu;
  let b: TestKefu;
  beforeAll(async () => {
    // Rows kept up to 5 s without a bus; with it, up to 30 s: the waits below are shorter than both.
    a = await startTestKefu({ database: 'postgres', nats: true, env: { KEFU_AUTH_CACHE_MS: '5000' } });
    b = await startTestKefu({ nats: true, env: { DATABASE_URL: a.databaseUrl!, KEFU_AUTH_CACHE_MS: '5000' } });
  }, 120_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('a role change and a deletion made through one process are seen by the other at once', async () => {
    const seeded = await seedInstance(a, { agents: [{ name: 'Ann', login: 'ann' }] });
    const ann = seeded.agents[0]!;
    // Process B checks the token (and keeps the row): an agent may not list API keys.
    const first = await b.gql(ann.token, '{ apiKeys { id } }');
    expect(codes(first), JSON.stringify(first)).toEqual(['FORBIDDEN']);
    expect(codes(await b.gql(ann.token, '{ me { __typename } }'))).toEqual([]);

    await a.ok(seeded.adminKey, 'mutation($id: ID!) { updateAgent(input: { id: $id, role: ADMIN }) { id } }', { id: ann.id });
    // Kept without the bus until 5 s after B's read; with it, gone once the projection's message arrives.
    const promoted = Date.now();
    await until(async () => codes(await b.gql(ann.token, '{ apiKeys { id } }')).length === 0, 4000, 'B to see the role change');
    expect(Date.now() - promoted).toBeLessThan(4000);

    // B keeps the new row; the deletion through A reaches it too.
    expect(codes(await b.gql(ann.token, '{ me { __typename } }'))).toEqual([]);
    await a.ok(seeded.adminKey, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { id } }', { id: ann.id });
    await until(async () => codes(await b.gql(ann.token, '{ me { __typename } }')).includes('UNAUTHENTICATED'), 4000, 'B to refuse the deleted agent');
    const r = await b.gql(ann.token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    expect(r.status).toBe(401);
  }, 60_000);
});
