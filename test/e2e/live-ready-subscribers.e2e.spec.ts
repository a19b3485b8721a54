// Many graphql-ws subscribers of agentStatusChanged, each waited for as a real client would (graphql-ws has no
// acknowledgement per subscription: a live view's first frames are its snapshot, and once they came the
// subscription is live), then a change made at once: every subscriber gets it exactly once. Then changes while
// more subscribers join: each subscriber's agent states are the snapshot's and every later change, none missed,
// none twice. On PGlite and PostgreSQL in one process, and with NATS, the changes made through another process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from 'graphql-ws';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { okHttp, seedOverHttp, spawnTwoKefus, type KefuProcess } from '../support/process.ts';
import { collect, wsClient } from '../support/ws-client.ts';

interface StatusMessage {
  agentStatusChanged: { agent: { id: string }; presence: string; since: string };
}
const subscription = 'subscription { agentStatusChanged { agent { id } presence since } }';

interface Setup {
  /** Where the subscribers connect. */
  url: string;
  /** Who subscribes (sees every agent of the instance: its snapshot has `snapshotSize` messages). */
  watcherToken: string;
  snapshotSize: number;
  /** The agent whose presence changes, and how (through the process the changes go to). */
  agentId: string;
  setPresence(presence: 'AVAILABLE' | 'BREAK' | 'OFFLINE'): Promise<void>;
}

type Subscriber = ReturnType<typeof subscribe>;
function subscribe(url: string, token: string) {
  const client: Client = wsClient(url, token);
  return { client, sub: collect<StatusMessage>(client, subscription) };
}

/** The agent's presences as a subscriber received them (its snapshot's, then its changes'). */
function presencesOf(s: Subscriber, agentId: string): string[] {
  return s.sub.received.filter((m) => m.agentStatusChanged.agent.id === agentId).map((m) => m.agentStatusChanged.presence);
}

/** When each state the subscriber received began: a later state never began before an earlier one (no older state replayed after a newer). */
function sincesOf(s: Subscriber, agentId: string): number[] {
  return s.sub.received.filter((m) => m.agentStatusChanged.agent.id === agentId).map((m) => Date.parse(m.agentStatusChanged.since));
}
function expectInOrder(s: Subscriber, agentId: string): void {
  const since = sincesOf(s, agentId);
  for (let k = 1; k < since.length; k++) expect(since[k], `states began at ${since.join(', ')}`).toBeGreaterThanOrEqual(since[k - 1]!);
}

async function waitFor(what: () => boolean, describe: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!what()) {
    if (Date.now() > deadline) throw new Error(describe());
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function dispose(subscribers: Subscriber[]): Promise<void> {
  for (const s of subscribers) s.sub.dispose();
  await Promise.all(subscribers.map((s) => s.client.dispose()));
}

/** N subscribers, each waited for until its snapshot came, then one change at once: each gets it once. */
async function changeRightAfterReady(setup: Setup, n: number, rounds: number): Promise<void> {
  let presence: 'AVAILABLE' | 'BREAK' = 'BREAK';
  for (let round = 0; round < rounds; round++) {
    const subscribers = Array.from({ length: n }, () => subscribe(setup.url, setup.watcherToken));
    await Promise.all(subscribers.map((s) => s.sub.next(setup.snapshotSize, 60_000)));
    const before = subscribers.map((s) => presencesOf(s, setup.agentId));
    // At once, as the last subscriber's snapshot came.
    presence = presence === 'AVAILABLE' ? 'BREAK' : 'AVAILABLE';
    await setup.setPresence(presence);
    const got = () => subscribers.filter((s) => s.sub.received.length > setup.snapshotSize).length;
    await waitFor(
      () => got() === n,
      () => `round ${round}: ${got()} of ${n} subscribers got the change made after their snapshot`,
    );
    // A second change: a repeat of the first would come before it.
    const next: 'AVAILABLE' | 'BREAK' = presence === 'AVAILABLE' ? 'BREAK' : 'AVAILABLE';
    await setup.setPresence(next);
    presence = next;
    await waitFor(
      () => subscribers.every((s) => s.sub.received.length >= setup.snapshotSize + 2),
      () => `round ${round}: the second change reached ${subscribers.filter((s) => s.sub.received.length >= setup.snapshotSize + 2).length} of ${n}`,
    );
    for (const [i, s] of subscribers.entries()) {
      expect(s.sub.errors).toEqual([]);
      expect(presencesOf(s, setup.agentId)).toEqual([...before[i]!, next === 'AVAILABLE' ? 'BREAK' : 'AVAILABLE', next]);
      expectInOrder(s, setup.agentId);
    }
    await dispose(subscribers);
  }
}

/**
 * Subscribers join in waves while the agent's presence flips: whatever a subscriber's snapshot caught, what it
 * receives after is every later state once, in order (alternating; ending with the last).
 */
async function joinWhileChanging(setup: Setup, waves: number, perWave: number): Promise<void> {
  const subscribers: Subscriber[] = [];
  let presence: 'AVAILABLE' | 'BREAK' = 'AVAILABLE';
  for (let wave = 0; wave < waves; wave++) {
    const joined = Array.from({ length: perWave }, () => subscribe(setup.url, setup.watcherToken));
    subscribers.push(...joined);
    // The change goes while these subscribe (their snapshot may or may not have it).
    presence = presence === 'AVAILABLE' ? 'BREAK' : 'AVAILABLE';
    await setup.setPresence(presence);
  }
  await Promise.all(subscribers.map((s) => s.sub.next(setup.snapshotSize, 60_000)));
  // A last change after every subscriber is live: everyone ends with it.
  presence = presence === 'AVAILABLE' ? 'BREAK' : 'AVAILABLE';
  await setup.setPresence(presence);
  const last = presence;
  await waitFor(
    () => subscribers.every((s) => presencesOf(s, setup.agentId).at(-1) === last),
    () => `${subscribers.filter((s) => presencesOf(s, setup.agentId).at(-1) === last).length} of ${subscribers.length} ended with the last change`,
  );
  for (const s of subscribers) {
    expect(s.sub.errors).toEqual([]);
    const seen = presencesOf(s, setup.agentId);
    // Each state differs from the one before: a change missed or sent twice would show as two equal in a row.
    for (let k = 1; k < seen.length; k++) expect(seen[k], `after ${seen.slice(0, k).join(', ')}`).not.toBe(seen[k - 1]);
    expectInOrder(s, setup.agentId);
  }
  await dispose(subscribers);
}

describe.each(['pglite', 'postgres'] as const)('live subscribers waited for as clients do (%s)', (database) => {
  let t: TestKefu;
  let setup: Setup;
  beforeAll(async () => {
    t = await startTestKefu({ database, listen: true });
    const seeded = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }, { name: 'Sue', login: 'sue', role: 'SUPERVISOR' }] });
    const [ann, sue] = seeded.agents as [(typeof seeded.agents)[0], (typeof seeded.agents)[0]];
    setup = {
      url: `http://127.0.0.1:${(t.kefu.app.server.address() as { port: number }).port}`,
      watcherToken: sue.token,
      snapshotSize: 2,
      agentId: ann.id,
      setPresence: async (presence) => {
        await t.ok(ann.token, `mutation { setPresence(input: { presence: ${presence}${presence === 'BREAK' ? ', reason: "Rest"' : ''} }) { id } }`);
      },
    };
  });
  afterAll(async () => t?.close());

  it('a change made as the last of 150 subscribers got its snapshot reaches each once', async () => {
    await changeRightAfterReady(setup, 150, 3);
  });

  it('subscribers joining while the agent changes miss nothing and get nothing twice', async () => {
    await joinWhileChanging(setup, 6, 25);
  });
});

describe('live subscribers waited for as clients do (PostgreSQL + NATS, changes made through another process)', () => {
  let a: KefuProcess;
  let b: KefuProcess;
  let two: Awaited<ReturnType<typeof spawnTwoKefus>>;
  let setup: Setup;
  const operatorToken = 'live-ready-operator-token-123';
  beforeAll(async () => {
    two = await spawnTwoKefus({ KEFU_OPERATOR_TOKEN: operatorToken });
    ({ a, b } = two);
    const seed = await seedOverHttp(b.url, operatorToken);
    setup = {
      url: a.url,
      watcherToken: seed.adminKey,
      snapshotSize: 1,
      agentId: seed.agentId,
      setPresence: async (presence) => {
        await okHttp(b.url, seed.agentToken, `mutation { setPresence(input: { presence: ${presence}${presence === 'BREAK' ? ', reason: "Rest"' : ''} }) { id } }`);
      },
    };
  });
  afterAll(async () => {
    await two?.stop();
  });

  it('a change made through B as the last of 150 subscribers on A got its snapshot reaches each once', async () => {
    await changeRightAfterReady(setup, 150, 3);
  });

  it('subscribers on A joining while the agent changes through B miss nothing and get nothing twice', async () => {
    await joinWhileChanging(setup, 6, 25);
  });
});
