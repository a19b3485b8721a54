// 100 concurrent commands on one agent: each applies or ends in CONFLICT after retries; no event is lost or
// doubled; the state read back equals the fold of the stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import type { AgentEvent } from '../../src/domain/agent/agent.ts';
import { fold } from '../../src/domain/decider.ts';
import { streams } from '../../src/domain/streams.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

for (const database of ['postgres', 'pglite'] as const) {
  describe(`100 concurrent commands on one agent (${database})`, () => {
    let t: TestKefu;
    beforeAll(async () => {
      t = await startTestKefu({ database });
    });
    afterAll(async () => t?.close());

    it('applies each or ends it in CONFLICT, and the read model equals the fold of the stream', async () => {
      const { instanceId, adminKey, agents } = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
      const ann = agents[0]!;
      const reasons = ['Rest', 'Meal', 'Meeting', 'Training'];
      const choices = Array.from({ length: 100 }, (_, i) =>
        i % 3 === 0 ? { presence: 'AVAILABLE' } : i % 3 === 1 ? { presence: 'BREAK', reason: reasons[i % 4] } : { presence: 'OFFLINE' },
      );
      const results = await Promise.all(
        choices.map((input) =>
          t.gql<{ setPresence: { presence: string } }>(adminKey, 'mutation($input: SetPresenceInput!) { setPresence(input: $input) { presence } }', {
            input: { ...input, agentId: ann.id },
          }),
        ),
      );
      const codes = results.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK');
      for (const code of codes) expect(['OK', 'CONFLICT']).toContain(code);
      const applied = codes.filter((c) => c === 'OK').length;
      expect(applied).toBeGreaterThan(0);

      const stream = await t.kefu.store.readStream(streams.agent(instanceId, ann.id));
      // Revisions are gapless and every event id is unique: nothing lost, nothing doubled.
      expect(stream.map((e) => e.revision)).toEqual(stream.map((_, i) => i));
      expect(new Set(stream.map((e) => e.id)).size).toBe(stream.length);
      // Each successful command appended at most one event (a repeat of the current presence appends none).
      const presenceEvents = stream.filter((e) => e.type !== 'AgentCreated');
      expect(presenceEvents.length).toBeLessThanOrEqual(applied);
      // No two consecutive events say the same thing: the decider saw the state each time.
      for (let i = 1; i < presenceEvents.length; i++) {
        const [prev, next] = [presenceEvents[i - 1]!, presenceEvents[i]!];
        expect(prev.type === next.type && JSON.stringify(prev.data) === JSON.stringify(next.data)).toBe(false);
      }

      const folded = fold(agentDecider, stream.map((e) => ({ type: e.type, data: e.data }) as AgentEvent));
      if (folded.status !== 'active') throw new Error('agent should be active');
      const read = await t.ok<{ agent: { presence: string; breakReason: string | null } }>(
        adminKey,
        'query($id: ID!) { agent(id: $id) { presence breakReason } }',
        { id: ann.id },
      );
      expect(read.agent).toEqual({ presence: folded.presence, breakReason: folded.breakReason });
    });
  });
}
