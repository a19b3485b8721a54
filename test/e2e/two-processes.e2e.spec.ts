// Two Kefu processes sharing PostgreSQL and NATS: a subscriber on one sees a change made through the other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { okHttp, seedOverHttp, spawnTwoKefus, type KefuProcess } from '../support/process.ts';
import { collect, wsClient } from '../support/ws-client.ts';

const operatorToken = 'two-process-operator-token-123';

describe('two Kefu processes on one PostgreSQL and NATS', () => {
  let a: KefuProcess;
  let b: KefuProcess;
  let two: Awaited<ReturnType<typeof spawnTwoKefus>>;
  beforeAll(async () => {
    two = await spawnTwoKefus({ KEFU_OPERATOR_TOKEN: operatorToken });
    ({ a, b } = two);
  });
  afterAll(async () => {
    await two?.stop();
  });

  it('delivers agentStatusChanged on process A for presence set through process B', async () => {
    const seed = await seedOverHttp(b.url, operatorToken);
    const client = wsClient(a.url, seed.adminKey);
    const sub = collect<{ agentStatusChanged: { agent: { id: string }; presence: string } }>(
      client,
      'subscription { agentStatusChanged { agent { id } presence } }',
    );
    // The subscription starts with the agent as now, read after its bus subscription was live: from then on
    // every change made through B reaches A.
    expect((await sub.next(1, 15_000)).map((m) => m.agentStatusChanged.presence)).toEqual(['OFFLINE']);
    sub.received.length = 0;
    await okHttp(b.url, seed.agentToken, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
    await okHttp(b.url, seed.agentToken, 'mutation { setPresence(input: { presence: OFFLINE }) { id } }');
    const got = await sub.next(2, 15_000);
    expect(got.map((m) => [m.agentStatusChanged.agent.id, m.agentStatusChanged.presence])).toEqual([
      [seed.agentId, 'AVAILABLE'],
      [seed.agentId, 'OFFLINE'],
    ]);
    // Reads through A show what was written through B.
    const monitor = await okHttp<{ agentMonitor: { presence: string }[] }>(a.url, seed.adminKey, '{ agentMonitor { presence } }');
    expect(monitor.agentMonitor).toEqual([{ presence: 'OFFLINE' }]);
    sub.dispose();
    await client.dispose();
  });

  it('keeps projections running when the process that ran them dies', async () => {
    const seed = await seedOverHttp(a.url, operatorToken);
    await a.kill9();
    // B takes over the projection leases (retried every 2 s) and its mutations still settle.
    const r = await okHttp<{ setPresence: { presence: string } }>(b.url, seed.agentToken, 'mutation { setPresence(input: { presence: AVAILABLE }) { presence } }');
    expect(r.setPresence.presence).toBe('AVAILABLE');
    const monitor = await okHttp<{ agentMonitor: { presence: string }[] }>(b.url, seed.adminKey, '{ agentMonitor { presence } }');
    expect(monitor.agentMonitor).toEqual([{ presence: 'AVAILABLE' }]);
  });
});
