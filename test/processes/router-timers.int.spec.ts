// The router's durable timers take effect even when setTimeout fires before the deadline by the clock the
// deciders compare with. Node's timers run on a monotonic clock that can be a millisecond ahead of the wall
// clock; a TimeOutOffer sent that early was a no-op and nothing armed the timer again, so the offer rang
// until some other event came (the flaky "moves an offer that is not answered in time" tests). Here the
// router's clock runs 2% slow, so every setTimeout fires early by its clock: deterministic, not load-bound.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe('router timers', () => {
  let t: TestKefu;
  let router: Router | null = null;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
    // This test runs its own router, with a slow clock.
    await t.kefu.router.stop();
  });
  afterAll(async () => {
    await router?.stop();
    await t?.close();
  });

  it('times out an offer even when setTimeout fires before the deadline by the router clock', async () => {
    const instanceId = randomUUID();
    const meta = (): CommandMetadata => ({ now: new Date().toISOString(), instanceId, actor: 'test', correlationId: randomUUID() });
    const commands = new CommandHandler(t.kefu.store);
    const groupId = randomUUID();
    const agentId = randomUUID();
    const ringTimeoutSeconds = 1;
    await commands.handle(streams.skillGroup(instanceId, groupId), skillGroupDecider, {
      type: 'CreateSkillGroup',
      data: { skillGroupId: groupId, name: 'Chat', channel: 'ONLINE', strategy: 'LONGEST_IDLE', maxConcurrency: 1, ringTimeoutSeconds, wrapUpSeconds: 0 },
      metadata: meta(),
    });
    await commands.handle(streams.agent(instanceId, agentId), agentDecider, {
      type: 'CreateAgent',
      data: { agentId, name: 'Ann', login: `ann-${agentId}`, passwordHash: 'x', phone: null, role: 'AGENT' },
      metadata: meta(),
    });
    await commands.handle(streams.agent(instanceId, agentId), agentDecider, {
      type: 'SetPresence',
      data: { agentId, presence: 'AVAILABLE', reason: null, breakReasons: [] },
      metadata: meta(),
    });
    await commands.handle(streams.skillGroup(instanceId, groupId), skillGroupDecider, { type: 'SetSkillGroupMember', data: { skillGroupId: groupId, agentId, level: 1 }, metadata: meta() });

    const started = Date.now();
    const slowClock = () => new Date(started + (Date.now() - started) * 0.98);
    const alwaysLead = { ...t.kefu.sql, tryLease: async () => ({ lost: new Promise<void>(() => undefined), release: async () => undefined }) } as SqlClient;
    router = new Router({ store: t.kefu.store, commands: new CommandHandler(t.kefu.store), sql: alwaysLead, logger: silent, clock: slowClock });
    await router.start();

    const contactId = randomUUID();
    const stream = streams.contact(instanceId, contactId);
    await commands.handle(stream, contactDecider, {
      type: 'CreateContact',
      data: { contactId, channel: 'ONLINE', direction: 'IN', customer: { kind: 'WEB', id: contactId, name: null }, data: {} },
      metadata: meta(),
    });
    await commands.handle(stream, contactDecider, { type: 'QueueContact', data: { contactId, skillGroupId: groupId, priority: 0 }, metadata: meta() });

    // The only agent is offered it again after each timeout: two offers and one timeout between them prove the timer took effect.
    const deadlineMs = (ringTimeoutSeconds * 1000) / 0.98 + 30_000;
    const types = await until(
      async () => (await t.kefu.store.readStream(stream)).map((e) => e.type),
      (ts) => ts.includes('ContactOfferTimedOut'),
      deadlineMs,
    );
    expect(types.filter((x) => x === 'ContactOffered').length).toBeGreaterThanOrEqual(1);
    const lateness = router.timerLateness();
    expect(lateness.count).toBeGreaterThanOrEqual(1);
    // Never before the deadline by the router's own clock.
    expect(lateness.p50Ms).toBeGreaterThanOrEqual(0);
  });
});
