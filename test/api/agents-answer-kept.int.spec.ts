// A presence change answers with the agent's row as the agents projection committed it with the change, not
// with a read of the row after settle (issue 10: on PGlite that read ran on the main thread in the middle of the
// change's fan-out to a thousand subscribers). Where the projection does not keep the row, or keeps one older
// than the change (another process ran its batch), the answer reads it as before.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentsProjection, committedAgentRow } from '../../src/projections/agents/agents.projection.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { watchQueries } from '../support/read-model.ts';
import { wantPostgres } from '../support/services.ts';

const databases: ('pglite' | 'postgres')[] = (await wantPostgres()) ? ['pglite', 'postgres'] : ['pglite'];

describe.each(databases)('a presence change answers from the row its projection committed (%s)', (database) => {
  let t: TestKefu;
  let instanceId: string;
  let agent: { id: string; token: string };
  let reads = 0;
  const setPresence = (presence: string) =>
    t.ok<{ setPresence: { id: string; presence: string; updatedAt: string } }>(agent.token, `mutation { setPresence(input: { presence: ${presence} }) { id presence updatedAt } }`);
  const tableRow = () => t.kefu.db.selectFrom('agents').select(['presence', 'updated_at']).where('instance_id', '=', instanceId).where('id', '=', agent.id).executeTakeFirstOrThrow();

  beforeAll(async () => {
    t = await startTestKefu({ database });
    const seeded = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    instanceId = seeded.instanceId;
    agent = seeded.agents[0]!;
    watchQueries(t.kefu.sql, (text) => {
      // The answer's read (loadAgentRow); the token check reads other columns.
      if (/^select \* from "agents" where "instance_id" = \$1 and "id" = \$2/.test(text)) reads++;
    });
  });
  afterAll(async () => t?.close());

  it('reads nothing back while the projection keeps the row, and answers what the table holds', async () => {
    for (const presence of ['AVAILABLE', 'OFFLINE', 'AVAILABLE']) {
      const before = reads;
      const answer = (await setPresence(presence)).setPresence;
      expect(reads).toBe(before);
      const row = await tableRow();
      expect(answer).toEqual({ id: agent.id, presence, updatedAt: row.updated_at.toISOString() });
      expect(row.presence).toBe(presence);
    }
  });

  it('keeps nothing for a change past the kept row (another process committed it), nor after a reset', async () => {
    await setPresence('OFFLINE');
    expect(committedAgentRow(instanceId, agent.id, { commit: 0n, prepare: 0n })).toMatchObject({ presence: 'OFFLINE' });
    expect(committedAgentRow(instanceId, agent.id, { commit: 2n ** 62n, prepare: 0n })).toBeUndefined();
    agentsProjection.reset!();
    expect(committedAgentRow(instanceId, agent.id, { commit: 0n, prepare: 0n })).toBeUndefined();
    // The projection's next batch reads the row again (it keeps nothing) and keeps what it commits: the answer is that row.
    const answer = (await setPresence('AVAILABLE')).setPresence;
    expect(answer).toMatchObject({ id: agent.id, presence: 'AVAILABLE', updatedAt: (await tableRow()).updated_at.toISOString() });
  });
});
