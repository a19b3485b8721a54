// A live change of an agent whose row the agents projection keeps is written with its checkpoint's move in one
// statement (issue 10): no BEGIN, separate move, upsert and COMMIT (on PGlite four calls on the main thread per
// presence change, between the mutation and its frames). The statement is guarded as the transaction was: a
// checkpoint that is not where the batch expects it (another runner moved it) writes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentsProjection, committedAgentRow } from '../../src/projections/agents/agents.projection.ts';
import { applyBatch, CheckpointMoved } from '../../src/projections/projection-runner.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { watchQueries } from '../support/read-model.ts';
import { wantPostgres } from '../support/services.ts';

const databases: ('pglite' | 'postgres')[] = (await wantPostgres()) ? ['pglite', 'postgres'] : ['pglite'];

describe.each(databases)('the agents projection writes a kept agent in one statement (%s)', (database) => {
  let t: TestKefu;
  let instanceId: string;
  let agent: { id: string; token: string };
  const agentsStatements: string[] = [];
  const setPresence = (input: string) => t.ok(agent.token, `mutation { setPresence(input: { ${input} }) { id } }`);
  const tableRow = () => t.kefu.db.selectFrom('agents').selectAll().where('instance_id', '=', instanceId).where('id', '=', agent.id).executeTakeFirstOrThrow();

  beforeAll(async () => {
    t = await startTestKefu({ database });
    const seeded = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    instanceId = seeded.instanceId;
    agent = seeded.agents[0]!;
    watchQueries(t.kefu.sql, (text) => {
      // The agents projection's statements: its upsert (kysely's), its guarded move, or the one statement.
      if (/insert into "agents"|name = 'agents'|INSERT INTO agents/i.test(text)) agentsStatements.push(text);
    });
  });
  afterAll(async () => t?.close());

  it('writes each presence change in one statement, and the table holds the row it keeps', async () => {
    // The first change may read the row (not kept yet).
    await setPresence('presence: AVAILABLE');
    for (const input of ['presence: BREAK, reason: "Rest"', 'presence: AVAILABLE', 'presence: OFFLINE']) {
      agentsStatements.length = 0;
      await setPresence(input);
      expect(agentsStatements).toHaveLength(1);
      expect(agentsStatements[0]).toMatch(/^\/\* prepared \*\/ WITH moved AS \(UPDATE kefu_projection_checkpoints/);
      const row = await tableRow();
      const kept = committedAgentRow(instanceId, agent.id, { commit: 0n, prepare: 0n });
      // Every column as written: timestamps, the held contacts (jsonb), the counters.
      expect(JSON.parse(JSON.stringify(row))).toEqual(JSON.parse(JSON.stringify(kept)));
    }
    expect((await tableRow()).presence).toBe('OFFLINE');
  });

  it('writes nothing when the checkpoint is not where the batch expects it', async () => {
    await setPresence('presence: AVAILABLE');
    const events = (await t.kefu.store.readStream(`agent-${instanceId}.${agent.id}`)).slice(-1);
    const before = await tableRow();
    // The event again, from a position the checkpoint is not at (another runner moved it past): refused.
    agentsStatements.length = 0;
    const stale = { commit: 1n, prepare: 0n };
    await expect(applyBatch(t.kefu.db, agentsProjection, stale, [{ ...events[0]!, type: 'AgentWentOffline', data: {} } as never])).rejects.toBeInstanceOf(CheckpointMoved);
    expect(agentsStatements[0]).toMatch(/^\/\* prepared \*\/ WITH moved AS/);
    expect(await tableRow()).toEqual(before);
  });
});
