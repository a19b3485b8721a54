// The router's durable timers take effect, never before their deadline, and how late they are is measured.
// Node's timers run on a monotonic clock that can be a millisecond ahead of the wall clock the deciders
// compare with; a TimeOutOffer sent that early was a no-op and nothing armed the timer again, so the offer
// rang until some other event came (the flaky "moves an offer that is not answered in time" tests).
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { CommandMetadata } from '../../src/domain/decider.ts';
import { skillGroupDecider } from '../../src/domain/skill-group/skill-group.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { Router } from '../../src/processes/router/router.ts';
import { startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

for (const database of ['pglite', 'postgres'] as const) {
  describe(`router timers (${database})`, () => {
    let t: TestKefu;
    let router: Router | null = null;
    beforeAll(async () => {
      t = await startTestKefu({ database });
      // Each test runs a router of its own.
      await t.kefu.router.stop();
    });
    afterEach(async () => {
      await router?.stop();
      router = null;
    });
    afterAll(async () => t?.close());

    const startRouter = async (clock?: () => Date) => {
      const alwaysLead = { ...t.kefu.sql, tryLease: async () => ({ lost: new Promise<void>(() => undefined), release: async () => undefined }) } as SqlClient;
      router = new Router({ store: t.kefu.store, commands: new CommandHandler(t.kefu.store), sql: alwaysLead, logger: silent, ...(clock ? { clock } : {}) });
      await router.start();
      return router;
    };

    /** A chat group of available agents with room for every chat at once; an offer that rings out is made again. */
    async function chatDesk(agentCount: number, maxConcurrency: number, ringTimeoutSeconds: number) {
      const instanceId = randomUUID();
      const meta = (): CommandMetadata => ({ now: new Date().toISOString(), instanceId, actor: 'test', correlationId: randomUUID() });
      const commands = new CommandHandler(t.kefu.store);
      const groupId = randomUUID();
      await commands.handle(streams.skillGroup(instanceId, groupId), skillGroupDecider, {
        type: 'CreateSkillGroup',
        data: { skillGroupId: groupId, name: 'Chat', channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency, ringTimeoutSeconds, wrapUpSeconds: 0 },
        metadata: meta(),
      });
      for (let i = 0; i < agentCount; i++) {
        const agentId = randomUUID();
        await commands.handle(streams.agent(instanceId, agentId), agentDecider, {
          type: 'CreateAgent',
          data: { agentId, name: `Agent ${i}`, login: `agent-${agentId}`, passwordHash: 'x', phone: null, role: 'AGENT' },
          metadata: meta(),
        });
        await commands.handle(streams.agent(instanceId, agentId), agentDecider, {
          type: 'SetPresence',
          data: { agentId, presence: 'AVAILABLE', reason: null, breakReasons: [] },
          metadata: meta(),
        });
        await commands.handle(streams.skillGroup(instanceId, groupId), skillGroupDecider, { type: 'SetSkillGroupMember', data: { skillGroupId: groupId, agentId, level: 1 }, metadata: meta() });
      }
      const queueChat = async () => {
        const contactId = randomUUID();
        const stream = streams.contact(instanceId, contactId);
        await commands.handle(stream, contactDecider, {
          type: 'CreateContact',
          data: { contactId, channel: 'ONLINE', direction: 'IN', customer: { kind: 'WEB', id: contactId, name: null }, data: {} },
          metadata: meta(),
        });
        await commands.handle(stream, contactDecider, { type: 'QueueContact', data: { contactId, skillGroupId: groupId, priority: 0 }, metadata: meta() });
        return stream;
      };
      return { queueChat };
    }

    it('times out an offer even when setTimeout fires before the deadline by the router clock', async () => {
      const ringTimeoutSeconds = 1;
      const desk = await chatDesk(1, 1, ringTimeoutSeconds);
      // The router's clock runs 2% slow, so every setTimeout fires early by it: deterministic, not load-bound.
      const started = Date.now();
      const r = await startRouter(() => new Date(started + (Date.now() - started) * 0.98));
      const stream = await desk.queueChat();
      const types = await until(
        async () => (await t.kefu.store.readStream(stream)).map((e) => e.type),
        (ts) => ts.includes('ContactOfferTimedOut'),
        (ringTimeoutSeconds * 1000) / 0.98 + 30_000,
      );
      expect(types).toContain('ContactOffered');
      // Never before the deadline by the router's own clock.
      expect(r.timerLateness().count).toBeGreaterThanOrEqual(1);
    });

    it('times out every offer of a burst, none early; prints how late', async () => {
      const ringTimeoutSeconds = 2;
      const offers = 40;
      const desk = await chatDesk(4, 10, ringTimeoutSeconds);
      const r = await startRouter();
      const contactStreams = await Promise.all(Array.from({ length: offers }, () => desk.queueChat()));
      const read = () => Promise.all(contactStreams.map((s) => t.kefu.store.readStream(s)));
      // Each offer rings 2 s; on a loaded machine the burst itself takes a while to offer: a generous deadline.
      const all = await until(read, (es) => es.every((e) => e.some((x) => x.type === 'ContactOfferTimedOut')), ringTimeoutSeconds * 1000 + 60_000);
      const lateMs = all
        .map((events) => {
          const offered = events.find((x) => x.type === 'ContactOffered')!;
          const timedOut = events.find((x) => x.type === 'ContactOfferTimedOut')!;
          return Date.parse(timedOut.metadata.occurredAt) - Date.parse(offered.data.expiresAt as string);
        })
        .sort((a, b) => a - b);
      const pick = (q: number) => lateMs[Math.min(lateMs.length - 1, Math.floor(q * lateMs.length))]!;
      const timers = r.timerLateness();
      console.log(
        `router timers (${database}): ${timers.count} fired, late p50 ${timers.p50Ms} ms, p99 ${timers.p99Ms} ms, max ${timers.maxMs} ms; ` +
          `offer time-outs (deadline to ContactOfferTimedOut): ${lateMs.length}, p50 ${pick(0.5)} ms, p99 ${pick(0.99)} ms, max ${lateMs.at(-1)} ms`,
      );
      expect(lateMs.length).toBe(offers);
      expect(lateMs[0]).toBeGreaterThanOrEqual(0);
    });
  });
}
