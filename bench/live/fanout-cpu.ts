// CPU per subscriber of the live fan-out itself, without sockets or a database (issue 10): N subscribers of one
// view (a snapshot, then changes; a synchronous filter, as agentStatusChanged's) on an in-process bus, sockets
// that drop what they are sent. Prints the CPU time (user + system) per message and subscriber, best of 5 runs.
// Run: node bench/live/fanout-cpu.ts [subscribers=2000] [messages=50]
import { buildSchema, parse, subscribe, type GraphQLFieldConfig } from 'graphql';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { LiveFanout, liveSubscription, type LiveSocket } from '../../src/api/live-fanout.ts';
import { snapshotThenChanges } from '../../src/api/snapshot-then-changes.ts';

const subscribers = Number(process.argv[2] ?? 2000);
const messages = Number(process.argv[3] ?? 50);
const schema = buildSchema('type Query { ok: Boolean } type Subscription { status(agentId: ID): Status } type Status { id: ID presence: String since: String workload: Int }');
const field = schema.getSubscriptionType()!.getFields().status as unknown as GraphQLFieldConfig<unknown, unknown>;
field.subscribe = liveSubscription(
  async (_root, _args, ctx: { live: LiveFanout }) => snapshotThenChanges(await ctx.live.topics.subscribe('status'), { read: async () => [], admit: () => true }),
  (m: { id: string }, args: { agentId?: string | null }) => !args.agentId || m.id === args.agentId,
) as GraphQLFieldConfig<unknown, unknown>['subscribe'];
field.resolve = (m: unknown) => m;
const document = parse('subscription { status { id presence since workload } }');

let frames = 0;
const socket: LiveSocket = { protocol: 'graphql-transport-ws', readyState: 1, bufferedAmount: 0, send: () => void frames++, close: () => undefined };
const results: number[] = [];
for (let run = 0; run < 5; run++) {
  const bus = new InProcessBus();
  const fanout = new LiveFanout(bus, { formatErrors: () => ({ response: null }) });
  const iterators: AsyncIterator<unknown>[] = [];
  for (let i = 0; i < subscribers; i++) {
    const r = await subscribe({ schema, document, contextValue: { principal: null, live: fanout, liveSocket: socket, id: '1' } });
    iterators.push((r as AsyncIterable<unknown>)[Symbol.asyncIterator]());
  }
  await new Promise((r) => setTimeout(r, 50));
  frames = 0;
  globalThis.gc?.();
  const before = process.cpuUsage();
  for (let k = 0; k < messages; k++) {
    await bus.publish('status', { id: 'a1', presence: k % 2 ? 'BREAK' : 'AVAILABLE', since: new Date(k * 1000).toISOString(), workload: k });
    while (frames < (k + 1) * subscribers) await new Promise((r) => setImmediate(r));
  }
  const cpu = process.cpuUsage(before);
  results.push((cpu.user + cpu.system) / messages / subscribers);
  for (const it of iterators) await it.return?.();
}
console.log(`${subscribers} subscribers, ${messages} messages: CPU per message and subscriber ${Math.min(...results).toFixed(2)} us (runs: ${results.map((r) => r.toFixed(2)).join(', ')})`);
process.exit(0);
