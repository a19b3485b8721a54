// The longest turn of the event loop during a live fan-out, without a network: N subscribers of one view on an
// in-process bus, each frame "written" by a socket whose send() spins for a write's time (BENCH_WRITE_US, default
// 20 µs: a loopback TCP write on the bench machine), the message published from an I/O callback (the poll phase,
// as a NATS or PostgreSQL message arrives). Prints the longest gap between the ticks of a 1 ms timer (what
// monitorEventLoopDelay sees), the most frames written in one turn (between two ticks: on a loaded machine the
// one to read, as it does not stretch) and the time from the publish to the last frame, medians over the messages.
// At 1,000 subscribers (slices of 128) the message's first slice runs in the poll phase and the next in the same
// iteration's check phase (setImmediate from the poll phase): 256 frames in one turn. Tried: each next slice after
// the loop's timers and I/O (two setImmediate hops from the poll phase): 160-224 frames per turn, but in the live
// bench (NATS, 1,000, load 1.3-4, 3 pairs) the longest block did not move (15.8 / 13.8 / 20.8 vs 31.8 / 14.9 /
// 15.1 ms) and p50 went 29.3 / 28.3 / 27.4 -> 27.9 / 35.5 / 31.1 ms: not kept.
// Run: node bench/live/fanout-turns.ts [subscribers=1000] [messages=20]
import { readFile } from 'node:fs';
import { buildSchema, parse, subscribe, type GraphQLFieldConfig } from 'graphql';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { LiveFanout, liveSubscription, type LiveSocket } from '../../src/api/live-fanout.ts';
import { snapshotThenChanges } from '../../src/api/snapshot-then-changes.ts';

const subscribers = Number(process.argv[2] ?? 1000);
const messages = Number(process.argv[3] ?? 20);
const writeUs = Number(process.env.BENCH_WRITE_US ?? 20);
const schema = buildSchema('type Query { ok: Boolean } type Subscription { status: Status } type Status { id: ID presence: String since: String workload: Int }');
const field = schema.getSubscriptionType()!.getFields().status as unknown as GraphQLFieldConfig<unknown, unknown>;
field.subscribe = liveSubscription(async (_root, _args, ctx: { live: LiveFanout }) =>
  snapshotThenChanges(await ctx.live.topics.subscribe('status'), { read: async () => [], admit: () => true }),
) as GraphQLFieldConfig<unknown, unknown>['subscribe'];
field.resolve = (m: unknown) => m;
const document = parse('subscription { status { id presence since workload } }');

let frames = 0;
const spin = () => {
  const until = performance.now() + writeUs / 1000;
  while (performance.now() < until);
};
const socket: LiveSocket = { protocol: 'graphql-transport-ws', readyState: 1, bufferedAmount: 0, send: () => (spin(), void frames++), close: () => undefined };
const bus = new InProcessBus();
const fanout = new LiveFanout(bus, { formatErrors: () => ({ response: null }) });
for (let i = 0; i < subscribers; i++) {
  const r = await subscribe({ schema, document, contextValue: { principal: null, live: fanout, liveSocket: socket, id: '1' } });
  void (r as AsyncIterable<unknown>)[Symbol.asyncIterator]().next();
}
await new Promise((r) => setTimeout(r, 100));

const gaps: number[] = [];
/** The most frames written between two ticks of the timer (in one turn of the loop, when turns last over 1 ms). */
let mostFrames = 0;
const toLast: number[] = [];
const turnFrames: number[] = [];
for (let k = 0; k < messages; k++) {
  frames = 0;
  mostFrames = 0;
  let last = performance.now();
  let longest = 0;
  let framesAtTick = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    // Frames written since the last tick: a turn's worth, as the writes take longer than the timer's 1 ms.
    mostFrames = Math.max(mostFrames, frames - framesAtTick);
    framesAtTick = frames;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  const at = await new Promise<number>((resolve) =>
    // From an I/O callback, as a bus message arrives.
    readFile(import.meta.filename, () => {
      const t = performance.now();
      void bus.publish('status', { id: 'a1', presence: k % 2 ? 'BREAK' : 'AVAILABLE', since: new Date(k * 1000).toISOString(), workload: k });
      resolve(t);
    }),
  );
  while (frames < subscribers) await new Promise((r) => setImmediate(r));
  toLast.push(performance.now() - at);
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(tick);
  gaps.push(longest);
  turnFrames.push(mostFrames);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${subscribers} subscribers, ${writeUs} µs per write: longest loop turn median ${median(gaps).toFixed(1)} ms (max ${Math.max(...gaps).toFixed(1)}), publish to last frame median ${median(toLast).toFixed(1)} ms, most frames in one turn median ${median(turnFrames)} (max ${Math.max(...turnFrames)})`);
process.exit(0);
