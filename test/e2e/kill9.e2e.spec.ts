// kill -9 right after a mutation returned: after a restart the change is there.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema } from '../support/services.ts';
import { okHttp, seedOverHttp, spawnKefu } from '../support/process.ts';

const operatorToken = 'kill-nine-operator-token-12345';

async function killAndCheck(env: Record<string, string>) {
  const first = await spawnKefu(env);
  const seed = await seedOverHttp(first.url, operatorToken);
  const answer = await okHttp<{ setPresence: { presence: string } }>(
    first.url,
    seed.agentToken,
    'mutation { setPresence(input: { presence: BREAK, reason: "Meal" }) { presence } }',
  );
  expect(answer.setPresence.presence).toBe('BREAK');
  await first.kill9();

  const second = await spawnKefu(env);
  try {
    const agent = await okHttp<{ agent: { presence: string; breakReason: string } }>(
      second.url,
      seed.adminKey,
      'query($id: ID!) { agent(id: $id) { presence breakReason } }',
      { id: seed.agentId },
    );
    expect(agent.agent).toEqual({ presence: 'BREAK', breakReason: 'Meal' });
    // And the token issued before the crash still works: the signing key is kept in the database.
    const me = await okHttp<{ me: { agent: { id: string } } }>(second.url, seed.agentToken, '{ me { ... on AgentPrincipal { agent { id } } } }');
    expect(me.me.agent.id).toBe(seed.agentId);
  } finally {
    await second.stop();
  }
}

describe('kill -9 right after a mutation', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('keeps the change on the embedded database', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kefu-kill9-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    await killAndCheck({ KEFU_DATA_DIR: dir, KEFU_OPERATOR_TOKEN: operatorToken });
  });

  it('keeps the change on PostgreSQL', async () => {
    const schema = await freshPostgresSchema();
    await schema.client.close();
    cleanups.push(schema.drop);
    await killAndCheck({ DATABASE_URL: schema.url, KEFU_OPERATOR_TOKEN: operatorToken });
  });
});
