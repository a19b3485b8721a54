import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';

for (const database of ['pglite', 'postgres'] as const) {
  describe(`presence and the agent monitor (${database})`, () => {
    let t: TestKefu;
    beforeAll(async () => {
      t = await startTestKefu({ database });
    });
    afterAll(async () => t?.close());

    it('shows an agent going available, on break and offline in agentMonitor, and counts online time', async () => {
      const { adminKey, agents } = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Bob', login: 'bob', role: 'SUPERVISOR' }] });
      const [ann, bob] = agents as [(typeof agents)[0], (typeof agents)[0]];
      const set = (token: string, presence: string, reason?: string) =>
        t.gql<{ setPresence: { presence: string; breakReason: string | null } }>(
          token,
          'mutation($input: SetPresenceInput!) { setPresence(input: $input) { presence breakReason } }',
          { input: { presence, reason } },
        );
      expect((await set(ann.token, 'AVAILABLE')).data?.setPresence.presence).toBe('AVAILABLE');
      expect((await set(ann.token, 'BREAK', 'Meal')).data?.setPresence).toEqual({ presence: 'BREAK', breakReason: 'Meal' });
      const monitor = await t.ok<{ agentMonitor: { agent: { id: string }; presence: string; reason: string | null; onlineSecondsToday: number }[] }>(
        bob.token,
        '{ agentMonitor { agent { id } presence reason since onlineSecondsToday } }',
      );
      expect(monitor.agentMonitor.find((s) => s.agent.id === ann.id)).toMatchObject({ presence: 'BREAK', reason: 'Meal' });
      expect(monitor.agentMonitor.find((s) => s.agent.id === bob.id)).toMatchObject({ presence: 'OFFLINE', reason: null });
      // An agent sees only themselves.
      const own = await t.ok<{ agentMonitor: { agent: { id: string } }[] }>(ann.token, '{ agentMonitor { agent { id } } }');
      expect(own.agentMonitor.map((s) => s.agent.id)).toEqual([ann.id]);
      const forced = await t.gql(adminKey, 'mutation($id: ID!) { forceAgentOffline(input: { agentId: $id, reason: "abuse" }) { presence forcedOfflineReason } }', { id: ann.id });
      expect(forced.data).toEqual({ forceAgentOffline: { presence: 'FORCED_OFFLINE', forcedOfflineReason: 'abuse' } });
      const blocked = await set(ann.token, 'AVAILABLE');
      expect(blocked.errors?.[0]?.extensions?.code, JSON.stringify(blocked.errors)).toBe('FORBIDDEN');
      await t.ok(bob.token, 'mutation($id: ID!) { restoreAgent(input: { agentId: $id }) { presence } }', { id: ann.id });
      expect((await set(ann.token, 'AVAILABLE')).data?.setPresence.presence).toBe('AVAILABLE');
    });
  });
}
