// A seat assigned for an agent that was never created (Kefu died between the two steps of createAgent) is
// given back by the router once no createAgent can still be on its way; real agents keep theirs.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import { instanceDecider } from '../../src/domain/instance/instance.decide.ts';
import { streams } from '../../src/domain/streams.ts';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { until } from '../support/until.ts';

describe('seats left over by a crash', () => {
  let t: TestKefu;
  beforeAll(async () => {
    t = await startTestKefu({ database: 'pglite' });
  });
  afterAll(async () => t?.close());

  it('are released after the grace time, and agents that exist keep theirs', async () => {
    const { instanceId } = await seedInstance(t, { seats: 3 });
    const ghost = randomUUID();
    const real = randomUUID();
    const tenMinutesAgo = () => ({ now: new Date(Date.now() - 10 * 60_000).toISOString(), instanceId, actor: 'test', correlationId: randomUUID() });
    await t.kefu.router.stop();
    // The first half of a createAgent, ten minutes ago, whose second half never came...
    await t.kefu.commands.handle(streams.instance(instanceId), instanceDecider, { type: 'AssignAgentSeat', data: { agentId: ghost, login: 'ghost' }, metadata: tenMinutesAgo() });
    // ...and a whole one, as old.
    await t.kefu.commands.handle(streams.instance(instanceId), instanceDecider, { type: 'AssignAgentSeat', data: { agentId: real, login: 'real' }, metadata: tenMinutesAgo() });
    await t.kefu.commands.handle(streams.agent(instanceId, real), agentDecider, {
      type: 'CreateAgent',
      data: { agentId: real, name: 'Real', login: 'real', passwordHash: 'x', phone: null, role: 'AGENT' },
      metadata: tenMinutesAgo(),
    });
    // A restart: the router catches up and checks every seat.
    const { Router } = await import('../../src/processes/router/router.ts');
    const router = new Router({ store: t.kefu.store, commands: t.kefu.commands, sql: t.kefu.sql, logger: { info() {}, warn() {}, error() {} } });
    await router.start();
    try {
      const events = await until(
        () => t.kefu.store.readStream(streams.instance(instanceId)),
        (e) => e.some((x) => x.type === 'AgentSeatReleased' && x.data.agentId === ghost),
      );
      expect(events.filter((x) => x.type === 'AgentSeatReleased').map((x) => x.data.agentId)).toEqual([ghost]);
      await new Promise((r) => setTimeout(r, 500));
      const after = await t.kefu.store.readStream(streams.instance(instanceId));
      expect(after.some((x) => x.type === 'AgentSeatReleased' && x.data.agentId === real)).toBe(false);
    } finally {
      await router.stop();
    }
  });
});
