// The live fan-out's direct delivery (live-fanout.ts, attachDirect): once a subscriber's snapshot is sent, later
// messages go straight from the topic to the subscriber's filter, payload and write, without a promise per
// message. Whatever mix of synchronous and late filters and resolvers, each subscriber gets every message it
// keeps, once, in the order published, including messages that arrive while a filter or payload is pending.
import { buildSchema, parse, subscribe, type GraphQLFieldConfig } from 'graphql';
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { LiveFanout, LiveTopics, attachDirect, liveSubscription, type DirectSource, type LiveSocket } from '../../src/api/live-fanout.ts';
import { snapshotThenChanges } from '../../src/api/snapshot-then-changes.ts';
import { until } from '../support/until.ts';

const schema = buildSchema('type Query { ok: Boolean } type Subscription { tick(mod: Int!, lateFilter: Boolean!): Tick } type Tick { n: Int slow: Int }');

/** A socket that keeps the frames it was given (no TCP under it: frames go through send()). */
function fakeSocket() {
  const frames: string[] = [];
  const socket: LiveSocket = { protocol: 'graphql-transport-ws', readyState: 1, bufferedAmount: 0, send: (data) => void frames.push(data), close: () => undefined };
  return { socket, frames };
}

const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('live fan-out: direct delivery', () => {
  it('gives each subscriber every message it keeps, once and in order, with synchronous and late filters and resolvers', async () => {
    const bus = new InProcessBus();
    const fanout = new LiveFanout(bus, { formatErrors: () => ({ response: null }), deliverSlice: 7 });
    const field = schema.getSubscriptionType()!.getFields().tick as unknown as GraphQLFieldConfig<unknown, unknown>;
    field.subscribe = liveSubscription(
      async (_root, _args, ctx: { live: LiveFanout }) =>
        snapshotThenChanges(await ctx.live.topics.subscribe('ticks'), {
          // The snapshot: message -1, read slowly so that live messages are held meanwhile.
          read: async () => (await later(20), [{ n: -1, slow: 0 }]),
          admit: () => true,
        }),
      (m: { n: number }, args: { mod: number; lateFilter: boolean }) => {
        const keep = m.n < 0 || m.n % args.mod === 0;
        // Some filters answer later, some messages' answers later than the next ones'.
        if (!args.lateFilter) return keep;
        // Later by a few promise jobs, or by a timer.
        return m.n % 4 === 3 ? later(1).then(() => keep) : Array.from({ length: m.n % 4 }).reduce<Promise<boolean>>((p) => p.then((k) => k), Promise.resolve(keep));
      },
    ) as GraphQLFieldConfig<unknown, unknown>['subscribe'];
    const tickType = schema.getType('Tick') as unknown as { getFields(): Record<string, GraphQLFieldConfig<unknown, unknown>> };
    // A resolver that answers later for some messages: their payload is a promise the group's subscribers wait for.
    tickType.getFields().slow!.resolve = (m: unknown) => {
      const { n, slow } = m as { n: number; slow: number };
      return n % 5 === 0 ? later(2).then(() => slow) : slow;
    };
    field.resolve = (m: unknown) => m;

    const document = parse('subscription($mod: Int!, $late: Boolean!) { tick(mod: $mod, lateFilter: $late) { n slow } }');
    const subscribers = [1, 2, 3].flatMap((mod) => [false, true].flatMap((late) => Array.from({ length: 4 }, () => ({ mod, late, ...fakeSocket() }))));
    const iterators: AsyncIterator<unknown>[] = [];
    const published = 300;
    let sent = 0;
    const publishing = (async () => {
      // Messages start while subscribers are still subscribing and reading their snapshot.
      // In bursts of a few at once: the next ones arrive while a subscriber's filter or payload is pending.
      while (sent < published) {
        for (let i = 0; i < 1 + (sent % 4) && sent < published; i++, sent++) void bus.publish('ticks', { n: sent, slow: sent * 10 });
        await (sent % 3 === 0 ? later(1) : Promise.resolve());
      }
    })();
    const firstSeen: number[] = [];
    for (const [k, s] of subscribers.entries()) {
      firstSeen[k] = sent;
      const result = await subscribe({ schema, document, variableValues: { mod: s.mod, late: s.late }, contextValue: { principal: null, live: fanout, liveSocket: s.socket, id: String(k) } });
      iterators.push((result as AsyncIterable<unknown>)[Symbol.asyncIterator]());
    }
    await publishing;

    const expected = (k: number) => {
      const s = subscribers[k]!;
      // The snapshot, then messages in order from somewhere after it subscribed (held ones and later: no gap).
      return (got: number[]) => got[0] === -1 && got.slice(1).every((n, i, a) => n % s.mod === 0 && (i === 0 || n === a[i - 1]! + s.mod)) && got.at(-1)! >= published - s.mod;
    };
    const received = () => subscribers.map((s) => s.frames.map((f) => (JSON.parse(f) as { payload: { data: { tick: { n: number; slow: number } } } }).payload.data.tick));
    await until(async () => received(), (all) => all.every((got, k) => expected(k)(got.map((t) => t.n))), 30_000);
    for (const [k, got] of received().entries()) {
      expect(expected(k)(got.map((t) => t.n)), `subscriber ${k}: ${got.map((t) => t.n).join(',')}`).toBe(true);
      // Nothing from before it subscribed is missing past the first live message, and each payload is its own message's.
      expect(got[1]!.n).toBeLessThanOrEqual(firstSeen[k]! + 30);
      for (const t of got) expect(t.slow).toBe(t.n < 0 ? 0 : t.n * 10);
    }
    // Every subscriber ended up on the direct path.
    expect(fanout.counts.directAttachments).toBeGreaterThanOrEqual(subscribers.length);
    for (const it of iterators) await it.return?.();
    expect(fanout.topics.topicCount).toBe(0);
  }, 60_000);

  it('hands the reader a message that was on its way to the snapshot pump when the reader attached, before later ones', async () => {
    const bus = new InProcessBus();
    const topics = new LiveTopics(bus);
    const s = snapshotThenChanges(await topics.subscribe('t'), { read: async () => [0], admit: () => true }) as AsyncIterableIterator<number> & DirectSource<number>;
    expect((await s.next()).value).toBe(0);
    // Not attachable while the snapshot or anything held is unread; here it is all read.
    const got: number[] = [];
    // Published and attached in the same turn: message 1 is already given to the pump's waiting next().
    void bus.publish('t', 1);
    expect(s[attachDirect]!((m) => got.push(m))).toBe(true);
    await bus.publish('t', 2);
    await new Promise((r) => setImmediate(r));
    await bus.publish('t', 3);
    expect(got).toEqual([1, 2, 3]);
    await s.return!();
    await bus.publish('t', 4);
    expect(got).toEqual([1, 2, 3]);
    expect(topics.topicCount).toBe(0);
  });
  it('tells when every message was handed out and every frame written (whenWritten), for the work that waits for it', async () => {
    const bus = new InProcessBus();
    const fanout = new LiveFanout(bus, { formatErrors: () => ({ response: null }), deliverSlice: 7 });
    expect(fanout.whenWritten()).toBeNull();
    const { socket, frames } = fakeSocket();
    const got: number[] = [];
    const queues: AsyncIterableIterator<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      const q = (await fanout.topics.subscribe('t')) as AsyncIterableIterator<unknown> & DirectSource<unknown>;
      expect(q[attachDirect]!((m) => (got.push(m as number), void fanout.write(socket, `frame ${String(m)}`)))).toBe(true);
      queues.push(q);
    }
    await bus.publish('t', 1);
    // Handed out 7 subscribers per turn of the event loop: not done yet.
    const written = fanout.whenWritten();
    expect(written).not.toBeNull();
    expect(got.length).toBeLessThan(30);
    await written;
    expect(got).toHaveLength(30);
    expect(frames).toHaveLength(30);
    expect(fanout.whenWritten()).toBeNull();
    for (const q of queues) await q.return!();
  });
});
