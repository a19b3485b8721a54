// A break with a reason checks the reason against the instance's break reasons from memory while the instance is
// unchanged (issue 10: half the presence changes of the live bench read the instance row for them). A change of
// the reasons is heard on the instance's bus topic: the next break reads them again and a removed reason is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedInstance, startTestKefu, type TestKefu } from '../support/kefu.ts';
import { watchQueries } from '../support/read-model.ts';

describe('break reasons kept between breaks', () => {
  let t: TestKefu;
  let adminKey: string;
  let agent: { id: string; token: string };
  let reads = 0;
  const presence = (input: string) => t.gql<{ setPresence: { id: string } }>(agent.token, `mutation { setPresence(input: { ${input} }) { id } }`);

  beforeAll(async () => {
    t = await startTestKefu();
    const seeded = await seedInstance(t, { agents: [{ name: 'Ann', login: 'ann' }] });
    adminKey = seeded.adminKey;
    agent = seeded.agents[0]!;
    watchQueries(t.kefu.sql, (text) => {
      if (/from "instances"/.test(text)) reads++;
    });
  });
  afterAll(async () => t?.close());

  it('reads the reasons once while nothing changes, and again after a change', async () => {
    expect((await presence('presence: BREAK, reason: "Rest"')).errors).toBeUndefined();
    const before = reads;
    for (const input of ['presence: AVAILABLE', 'presence: BREAK, reason: "Meal"', 'presence: AVAILABLE', 'presence: BREAK, reason: "Rest"']) {
      expect((await presence(input)).errors).toBeUndefined();
    }
    expect(reads).toBe(before);

    await t.ok(adminKey, 'mutation { configureBreakReasons(input: { reasons: ["Meal", "Lunch"] }) }');
    // Heard on the bus after the instances projection's write: the removed reason is refused, the new one taken.
    await presence('presence: AVAILABLE');
    const refused = await presence('presence: BREAK, reason: "Rest"');
    expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await presence('presence: BREAK, reason: "Lunch"')).errors).toBeUndefined();
  });
});
