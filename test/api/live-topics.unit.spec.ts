// The live fan-out's topics: one bus subscription and one parsed, frozen message per topic for every
// subscriber; a subscriber that stops reading is cut off instead of holding messages without bound.
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { LiveTopics, SlowConsumerError } from '../../src/api/live-fanout.ts';
import { snapshotThenChanges } from '../../src/api/snapshot-then-changes.ts';

const turn = () => new Promise((r) => setImmediate(r));

describe('live topics', () => {
  it('hands every subscriber the same frozen message, from one bus subscription per topic', async () => {
    const bus = new InProcessBus();
    let busSubscriptions = 0;
    const subscribe = bus.subscribe.bind(bus);
    bus.subscribe = (topic, onMessage) => {
      busSubscriptions++;
      return subscribe(topic, onMessage);
    };
    const topics = new LiveTopics(bus);
    const subscribers = await Promise.all(Array.from({ length: 5 }, () => topics.subscribe('kefu.a.agentStatus')));
    expect(busSubscriptions).toBe(1);
    await bus.publish('kefu.a.agentStatus', { id: 'ann', workload: { phone: 1 } });
    const got = await Promise.all(subscribers.map(async (s) => (await s.next()).value as { id: string; workload: { phone: number } }));
    for (const m of got) expect(m).toBe(got[0]);
    expect(Object.isFrozen(got[0]) && Object.isFrozen(got[0]!.workload)).toBe(true);
    // The last one to leave ends the bus subscription; a later subscriber makes a new one.
    for (const s of subscribers) await s.return!();
    expect(topics.topicCount).toBe(0);
    await topics.subscribe('kefu.a.agentStatus');
    expect(busSubscriptions).toBe(2);
  });

  it('ends a waiting next() at once when the subscription closes, and drops what comes after', async () => {
    const bus = new InProcessBus();
    const topics = new LiveTopics(bus);
    const s = await topics.subscribe('t');
    const waiting = s.next();
    await s.return!();
    expect(await waiting).toEqual({ value: undefined, done: true });
    await bus.publish('t', { late: true });
    expect(await s.next()).toEqual({ value: undefined, done: true });
  });

  it('hands a message to a few subscribers per turn of the event loop, every message to each in order', async () => {
    const bus = new InProcessBus();
    const topics = new LiveTopics(bus, 1000, 4);
    const subscribers = await Promise.all(Array.from({ length: 10 }, () => topics.subscribe('t')));
    const got: number[][] = subscribers.map(() => []);
    const reading = subscribers.map(async (s, k) => {
      for (;;) {
        const r = await s.next();
        if (r.done) return;
        got[k]!.push((r.value as { i: number }).i);
      }
    });
    await bus.publish('t', { i: 0 });
    await bus.publish('t', { i: 1 });
    // This turn: the first message reached the first four only; the rest follow on later turns.
    await Promise.resolve();
    expect(got.filter((g) => g.length > 0)).toHaveLength(4);
    // One leaves while the messages are still being handed out: it gets nothing more, the others go on.
    await subscribers[9]!.return!();
    await bus.publish('t', { i: 2 });
    for (let k = 0; k < 20 && got.slice(0, 9).some((g) => g.length < 3); k++) await turn();
    for (const g of got.slice(0, 9)) expect(g).toEqual([0, 1, 2]);
    expect(got[9]).toEqual([]);
    for (const s of subscribers.slice(0, 9)) await s.return!();
    await Promise.all(reading);
    expect(topics.topicCount).toBe(0);
  });

  it('cuts off a subscriber with more than its bound of messages waiting', async () => {
    const bus = new InProcessBus();
    const topics = new LiveTopics(bus, 10);
    const slow = await topics.subscribe('t');
    const reader = await topics.subscribe('t');
    for (let i = 0; i < 11; i++) {
      await bus.publish('t', { i });
      await reader.next();
    }
    await expect(slow.next()).rejects.toBeInstanceOf(SlowConsumerError);
    // The one that reads keeps receiving.
    await bus.publish('t', { i: 11 });
    expect(((await reader.next()).value as { i: number }).i).toBe(11);
  });

  it('cuts off a live view whose reader stopped, after the snapshot, at 1,000 messages waiting', async () => {
    const bus = new InProcessBus();
    const topics = new LiveTopics(bus, 100_000);
    const source = await topics.subscribe('t');
    const view = snapshotThenChanges(source, { read: async () => [], admit: () => true });
    await turn();
    await turn();
    for (let i = 0; i < 1001; i++) await bus.publish('t', { i });
    await turn();
    await expect(view.next()).rejects.toBeInstanceOf(SlowConsumerError);
    expect(topics.topicCount).toBe(0);
  });
});
