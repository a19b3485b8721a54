// CPU of one live fan-out over real sockets, against a bare `ws` loop in the same process: N server-side `ws`
// sockets (clients in a child process that only read), one view as agentStatusChanged's (a snapshot, then
// changes through unlessAlreadySent and a synchronous filter), frames written by LiveFanout (to the TCP socket
// under ws). Each round publishes one message through Kefu's fan-out and then one bare round (ws.send of the same
// frame text to every socket), alternated, so that both see the same machine. Prints the main thread's CPU time
// (process.threadCpuUsage: user, and system for the write system calls) from the publish to the last frame
// handed to its socket, median per message, for both, and their ratio; and the longest turn of the event loop in
// each round (a 1 ms timer's longest gap), median and max. The first quarter of the rounds warms up, not counted.
// Read 2026-12-06 (2-CPU Intel Xeon, load 5-8, 1,000 subscribers): kefu / bare 0.97-1.17x in total main-thread CPU
// (8.3-12.1 ms per message, about two thirds of it the write system calls: Kefu writes a frame in one write(), ws
// in a corked writev), user 1.84 vs 2.07 ms in a run of 90 messages; the longest turn's median 5.8-18.3 ms against
// the bare loop's 23.7-40.3 (it writes all 1,000 in one turn). The fan-out is at the ceiling: the live bench's
// server CPU per change above the bare server's is the mutation's own work on the process that takes it (process A
// of kefu-nats: 14.5 ms per change with no subscriber) and the pollers of an idle Kefu (8.3 ms/s on PostgreSQL: the
// WeChat outbox claim 2/s, an event store read 2/s, webhooks 1/s; ~2.5 ms per 300 ms change).
// BENCH_DELIVER_SLICE / BENCH_SLICE_MS set LiveFanout's deliverSlice (128) and sliceMs (4). Tried: slices of 64 at
// load 12-15 (2 pairs): longest turn median 20.7 / 22.6 vs 17.1 / 15.7 ms with 128: a loaded machine's turns are its
// preemptions, not the slice's writes.
// Run: node bench/live/fanout-wire.ts [subscribers=1000] [messages=40]
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { buildSchema, parse, subscribe, type GraphQLFieldConfig } from 'graphql';
import { WebSocketServer, type WebSocket } from 'ws';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { LiveFanout, liveSubscription } from '../../src/api/live-fanout.ts';
import { snapshotThenChanges, unlessAlreadySent } from '../../src/api/snapshot-then-changes.ts';

if (process.argv[2] === 'clients') {
  // The readers: N sockets that count frames and tell the parent how many came.
  const { default: WS } = await import('ws');
  const [, , , url, n] = process.argv;
  let frames = 0;
  let open = 0;
  for (let i = 0; i < Number(n); i++) {
    const s = new WS(url!);
    s.on('open', () => ++open === Number(n) && process.send!({ open }));
    s.on('message', () => void frames++);
  }
  process.on('message', () => process.send!({ frames }));
} else {
  const subscribers = Number(process.argv[2] ?? 1000);
  const messages = Number(process.argv[3] ?? 40);
  const schema = buildSchema('type Query { ok: Boolean } type Subscription { status(agentId: ID): Status } type Status { id: ID presence: String since: String workload: Int }');
  const field = schema.getSubscriptionType()!.getFields().status as unknown as GraphQLFieldConfig<unknown, unknown>;
  field.subscribe = liveSubscription(
    async (_root, _args, ctx: { live: LiveFanout }) =>
      snapshotThenChanges(await ctx.live.topics.subscribe('status'), { read: async () => [{ id: 'a1', presence: 'OFFLINE', since: null, workload: 0 }], admit: unlessAlreadySent((m: { id: string }) => m.id) }),
    (m: { id: string }, args: { agentId?: string | null }) => !args.agentId || m.id === args.agentId,
  ) as GraphQLFieldConfig<unknown, unknown>['subscribe'];
  field.resolve = (m: unknown) => m;
  const document = parse('subscription { status { id presence since workload } }');

  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const sockets: WebSocket[] = [];
  wss.on('connection', (s) => void sockets.push(s));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  const child = fork(import.meta.filename, ['clients', `ws://127.0.0.1:${port}`, String(subscribers)], { stdio: 'inherit' });
  await new Promise((r) => child.once('message', r));
  while (sockets.length < subscribers) await new Promise((r) => setTimeout(r, 10));
  const received = () => new Promise<number>((r) => (child.once('message', (m: { frames: number }) => r(m.frames)), child.send('count')));

  const bus = new InProcessBus();
  const fanout = new LiveFanout(bus, { formatErrors: () => ({ response: null }), ...(process.env.BENCH_DELIVER_SLICE ? { deliverSlice: Number(process.env.BENCH_DELIVER_SLICE) } : {}), ...(process.env.BENCH_SLICE_MS ? { sliceMs: Number(process.env.BENCH_SLICE_MS) } : {}) });
  for (const [i, socket] of sockets.entries()) {
    const r = await subscribe({ schema, document, contextValue: { principal: null, live: fanout, liveSocket: socket, id: String(1 + (i % 3)) } });
    void (r as AsyncIterable<unknown>)[Symbol.asyncIterator]().next();
  }
  // The snapshots out and read.
  while ((await received()) < subscribers) await new Promise((r) => setTimeout(r, 20));
  /** The main thread's CPU time so far, ms: user and system (the write system calls) apart. */
  const thread = () => {
    const c = process.threadCpuUsage();
    return { user: c.user / 1000, system: c.system / 1000 };
  };
  const since = (at: { user: number; system: number }) => {
    const now = thread();
    return { user: now.user - at.user, system: now.system - at.system };
  };
  const kefu: { user: number; system: number }[] = [];
  const bare: { user: number; system: number }[] = [];
  // The longest turn of the event loop in each round: the longest gap between ticks of a 1 ms timer.
  const kefuTurns: number[] = [];
  const bareTurns: number[] = [];
  let lastTick = performance.now();
  let longestGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - lastTick);
    lastTick = now;
  }, 1);
  const turnFrom = async () => {
    await new Promise((r) => setTimeout(r, 5));
    lastTick = performance.now();
    longestGap = 0;
  };
  const turnTo = async (into: number[]) => {
    await new Promise((r) => setTimeout(r, 5));
    into.push(longestGap);
  };
  let expected = subscribers;
  for (let k = 0; k < messages; k++) {
    const message = { id: 'a1', presence: k % 2 ? 'BREAK' : 'AVAILABLE', since: new Date(k * 1000).toISOString(), workload: k };
    await turnFrom();
    let at = thread();
    void bus.publish('status', message);
    for (;;) {
      const written = fanout.whenWritten();
      if (!written) break;
      await written;
    }
    kefu.push(since(at));
    await turnTo(kefuTurns);
    expected += subscribers;
    while ((await received()) < expected) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    // The bare round: the same frame text, ws.send to each.
    const text = `{"type":"next","id":"1","payload":${JSON.stringify({ data: { status: message } })}}`;
    await turnFrom();
    at = thread();
    for (const s of sockets) s.send(text);
    // What the writes queued (their completions, as for Kefu's) runs before the measure ends.
    await new Promise((r) => setImmediate(r));
    bare.push(since(at));
    await turnTo(bareTurns);
    expected += subscribers;
    while ((await received()) < expected) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // The first quarter warms up (V8 optimizes the paths): not counted.
  const skip = Math.floor(messages / 4);
  const part = (xs: { user: number; system: number }[], f: (x: { user: number; system: number }) => number) => median(xs.slice(skip).map(f));
  const figures = (xs: { user: number; system: number }[]) => ({ total: part(xs, (x) => x.user + x.system), user: part(xs, (x) => x.user), system: part(xs, (x) => x.system) });
  const k = figures(kefu);
  const b = figures(bare);
  clearInterval(ticker);
  const turns = (xs: number[]) => `${median(xs.slice(skip)).toFixed(1)} / ${Math.max(...xs.slice(skip)).toFixed(1)}`;
  console.log(`${subscribers} subscribers, ${messages - skip} messages: main-thread CPU per message, publish to last frame (user + system, medians): kefu ${k.total.toFixed(2)} ms (${k.user.toFixed(2)} + ${k.system.toFixed(2)}), bare ws.send ${b.total.toFixed(2)} ms (${b.user.toFixed(2)} + ${b.system.toFixed(2)}); kefu / bare ${(k.total / b.total).toFixed(2)}x, user ${(k.user / b.user).toFixed(2)}x; longest turn of the loop median / max: kefu ${turns(kefuTurns)} ms, bare ${turns(bareTurns)} ms`);
  child.kill();
  process.exit(0);
}
