// The live fan-out's frames of an operation run again and again (a chat's conversationEvents, for each message and
// side) come from graphql-jit's compiled query once the operation ran a few times (live-fanout.ts, compiledOf):
// the same frames as graphql-js's, resolver errors included, at a fraction of the CPU.
import { buildSchema, parse, subscribe, type GraphQLFieldConfig } from 'graphql';
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { LiveFanout, liveSubscription, type LiveSocket } from '../../src/api/live-fanout.ts';
import { until } from '../support/until.ts';

const schema = buildSchema('type Query { ok: Boolean } type Subscription { tick(mod: Int!): Tick } type Tick { n: Int! label: String late: Int when: [String!] }');

describe('live fan-out: compiled operations', () => {
  it('answers an operation run many times with compiled frames equal to graphql-js ones, errors and late resolvers included', async () => {
    const bus = new InProcessBus();
    const fanout = new LiveFanout(bus, { formatErrors: (r) => ({ response: { data: r.data ?? null, errors: (r.errors ?? []).map((e) => ({ message: e.message, path: e.path })) } }) });
    const field = schema.getSubscriptionType()!.getFields().tick as unknown as GraphQLFieldConfig<unknown, unknown>;
    field.subscribe = liveSubscription(async (_root, _args, ctx: { live: LiveFanout }) => ctx.live.topics.subscribe('ticks')) as GraphQLFieldConfig<unknown, unknown>['subscribe'];
    field.resolve = (m: unknown) => m;
    const fields = (schema.getType('Tick') as unknown as { getFields(): Record<string, GraphQLFieldConfig<{ n: number }, unknown>> }).getFields();
    // Every seventh message's label fails; every fifth message's `late` answers after a timer.
    fields.label!.resolve = (m) => {
      if (m.n % 7 === 3) throw new Error(`no label for ${m.n}`);
      return `#${m.n}`;
    };
    fields.late!.resolve = (m) => (m.n % 5 === 0 ? new Promise((r) => setTimeout(() => r(m.n * 2), 1)) : m.n * 2);
    fields.when!.resolve = (m) => [String(m.n), 'now'];

    const frames: string[] = [];
    const socket: LiveSocket = { protocol: 'graphql-transport-ws', readyState: 1, bufferedAmount: 0, send: (data) => void frames.push(data), close: () => undefined };
    const document = parse('subscription T($mod: Int!) { tick(mod: $mod) { n label late when } }');
    const it = (await subscribe({ schema, document, variableValues: { mod: 1 }, contextValue: { principal: null, live: fanout, liveSocket: socket, id: '1' } })) as AsyncIterableIterator<unknown>;
    const n = 60;
    for (let i = 0; i < n; i++) await bus.publish('ticks', { n: i });
    await until(async () => frames.length, (k) => k >= n, 30_000);
    const expected = (i: number) =>
      i % 7 === 3
        ? { data: { tick: { n: i, label: null, late: i * 2, when: [String(i), 'now'] } }, errors: [{ message: `no label for ${i}`, path: ['tick', 'label'] }] }
        : { data: { tick: { n: i, label: `#${i}`, late: i * 2, when: [String(i), 'now'] } } };
    expect(frames.map((f) => (JSON.parse(f) as { payload: unknown }).payload)).toEqual(Array.from({ length: n }, (_, i) => expected(i)));
    // The first runs went through graphql-js, the rest through the compiled query.
    expect(fanout.counts.executions).toBe(n);
    expect(fanout.counts.compiledExecutions).toBeGreaterThan(n / 2);
    expect(fanout.counts.compiledExecutions).toBeLessThan(n);
    await it.return?.();
  });
});
