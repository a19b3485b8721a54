// Two routers at once (as if the lease had failed): reservations go through each agent's stream at its
// expected revision, so no agent is ever offered beyond capacity and no contact is offered twice.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import { evolveAgent, initialAgentState, type AgentEvent } from '../../src/domain/agent/agent.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../src/domain/decider.ts';
import { skillGroupDecider } from '../../src/domain/skill-group/skill-group.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { Router } from '../../src/processes/router/router.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

for (const database of ['postgres', 'pglite'] as const) {
  describe(`two routers at once (${database})`, () => {
    let t: TestKefu;
    const routers: Router[] = [];
    beforeAll(async () => {
      t = await startTestKefu({ database });
      // Stop the app's own router: this test runs its own two.
      await t.kefu.router.stop();
    });
    afterAll(async () => {
      for (const r of routers) await r.stop();
      await t?.close();
    });

    it('never puts an agent over capacity nor offers one contact to two agents', async () => {
      const instanceId = randomUUID();
      const meta = (): CommandMetadata => ({ now: new Date().toISOString(), instanceId, actor: 'test', correlationId: randomUUID() });
      const commands = new CommandHandler(t.kefu.store);
      const groups = [randomUUID(), randomUUID()];
      const agents = Array.from({ length: 6 }, () => randomUUID());
      await commands.handle(streams.skillGroup(instanceId, groups[0]!), skillGroupDecider, {
        type: 'CreateSkillGroup',
        data: { skillGroupId: groups[0]!, name: 'Phone', channel: 'PHONE', strategy: 'LONGEST_IDLE', maxConcurrency: 1, ringTimeoutSeconds: 60, wrapUpSeconds: 0 },
        metadata: meta(),
      });
      await commands.handle(streams.skillGroup(instanceId, groups[1]!), skillGroupDecider, {
        type: 'CreateSkillGroup',
        data: { skillGroupId: groups[1]!, name: 'Chat', channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 2, ringTimeoutSeconds: 60, wrapUpSeconds: 0 },
        metadata: meta(),
      });
      for (const agentId of agents) {
        await commands.handle(streams.agent(instanceId, agentId), agentDecider, {
          type: 'CreateAgent',
          data: { agentId, name: agentId, login: agentId, passwordHash: 'x', phone: null, role: 'AGENT' },
          metadata: meta(),
        });
        await commands.handle(streams.agent(instanceId, agentId), agentDecider, {
          type: 'SetPresence',
          data: { agentId, presence: 'AVAILABLE', reason: null, breakReasons: [] },
          metadata: meta(),
        });
        for (const g of groups) {
          await commands.handle(streams.skillGroup(instanceId, g), skillGroupDecider, { type: 'SetSkillGroupMember', data: { skillGroupId: g, agentId, level: 1 }, metadata: meta() });
        }
      }
      // Both routers believe they hold the lease.
      const alwaysLead = { ...t.kefu.sql, tryLease: async () => ({ lost: new Promise<void>(() => undefined), release: async () => undefined }) } as SqlClient;
      for (let i = 0; i < 2; i++) {
        const router = new Router({ store: t.kefu.store, commands: new CommandHandler(t.kefu.store), sql: alwaysLead, logger: silent });
        routers.push(router);
        await router.start();
      }
      // 40 contacts arrive at once: more than capacity (6 calls + 12 chats).
      const contacts = Array.from({ length: 40 }, (_, i) => ({ contactId: randomUUID(), channel: i % 2 ? ('ONLINE' as const) : ('PHONE' as const) }));
      await Promise.all(
        contacts.map(async ({ contactId, channel }) => {
          const stream = streams.contact(instanceId, contactId);
          await commands.handle(stream, contactDecider, {
            type: 'CreateContact',
            data: { contactId, channel, direction: 'IN', customer: { kind: 'WEB', id: contactId, name: null }, data: {} },
            metadata: meta(),
          });
          await commands.handle(stream, contactDecider, {
            type: 'QueueContact',
            data: { contactId, skillGroupId: channel === 'PHONE' ? groups[0]! : groups[1]!, priority: 0 },
            metadata: meta(),
          });
        }),
      );
      // Let both routers work until nothing more can be offered.
      let offered = 0;
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const now = (
          await Promise.all(contacts.map(({ contactId }) => t.kefu.store.readStream(streams.contact(instanceId, contactId))))
        ).filter((events) => events.some((e) => e.type === 'ContactOffered')).length;
        if (now === offered && now >= 18) break;
        offered = now;
      }
      expect(offered).toBe(18);

      for (const agentId of agents) {
        const events = await t.kefu.store.readStream(streams.agent(instanceId, agentId));
        let state = initialAgentState();
        for (const e of events) {
          state = evolveAgent(state, { type: e.type, data: e.data } as AgentEvent);
          if (state.status !== 'active') continue;
          const held = Object.values(state.workload.contacts);
          expect(held.filter((c) => c.channel === 'PHONE').length).toBeLessThanOrEqual(1);
          expect(held.filter((c) => c.channel === 'ONLINE').length).toBeLessThanOrEqual(2);
        }
      }
      for (const { contactId } of contacts) {
        const events = await t.kefu.store.readStream(streams.contact(instanceId, contactId));
        expect(events.filter((e) => e.type === 'ContactOffered').length).toBeLessThanOrEqual(1);
      }
    });
  });
}
