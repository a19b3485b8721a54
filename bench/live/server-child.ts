// The server side of the live-views bench, in its own process so that its event loop and memory are measured
// alone. BENCH_LIVE_MODE=kefu: a whole Kefu (PGlite, or DATABASE_URL; NATS_URL for the two-process case),
// listening on 127.0.0.1; with BENCH_LIVE_SEED=1 it creates an instance, a supervisor and an agent.
// BENCH_LIVE_MODE=bare: the ceiling, a bare graphql-ws (graphql-transport-ws) server on `ws` that acks, takes
// subscriptions and, on POST /publish, writes the same frame to every subscriber, with no GraphQL at all.
// The parent talks to it over IPC: `loop-start` / `loop-stop` (longest event-loop block, CPU time used),
// `memory` (heap after GC). BENCH_LIVE_CHANGE_PROF=<dir>: a CPU profile of the changes only (from loop-start to
// loop-stop) in that directory, without the start-up and the subscribers' connections that --cpu-prof also takes,
// with each change's window beside it (<profile>.windows.json: [mutation, bus message, last frame] on the profile's
// clock, µs) and the SQL statements sent meanwhile (<profile>.statements.json: [start, end, text]), so that a
// profile can be cut to the changes' windows (what runs between the message and the last frame), and the turns of
// the event loop over 10 ms (<profile>.gaps.json: [start, end]; read with longest-blocks.ts). BENCH_LIVE_HEAP_PROF=<dir>:
// a sampling heap profile of what the changes allocate. The step's line also gives the garbage collections meanwhile.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { GCProfiler } from 'node:v8';
import pg from 'pg';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadConfig } from '../../src/config.ts';
import { startKefu } from '../../src/main.ts';
import { operatorToken, seedSupervisorAndAgent } from './seed.ts';

const mode = process.env.BENCH_LIVE_MODE ?? 'kefu';
const loop = monitorEventLoopDelay({ resolution: 1 });
/** CPU time used while the changes went out: unlike latencies, it hardly depends on what else the machine runs. */
let cpuAtStart = process.cpuUsage();
/**
 * Garbage collections while the changes went out (v8.GCProfiler: a PerformanceObserver of 'gc' stopped hearing
 * after the bench's own gc() calls): a major collection's pause (its atomic part) can be the longest block of the
 * loop and the slowest change's tail, with nothing of Kefu's on the stack.
 */
let gcProfiler: GCProfiler | null = null;
function gcPauses(): { majorMaxMs: number; minorMaxMs: number; majorMs: number; minorMs: number; major: number } {
  const stats = gcProfiler?.stop()?.statistics ?? [];
  gcProfiler = null;
  const out = { majorMaxMs: 0, minorMaxMs: 0, majorMs: 0, minorMs: 0, major: 0 };
  for (const s of stats) {
    const ms = s.cost / 1000;
    if (s.gcType === 'MarkSweepCompact') {
      out.major++;
      out.majorMs += ms;
      out.majorMaxMs = Math.max(out.majorMaxMs, ms);
    } else {
      out.minorMs += ms;
      out.minorMaxMs = Math.max(out.minorMaxMs, ms);
    }
  }
  return out;
}
const profileDir = process.env.BENCH_LIVE_CHANGE_PROF;
const profiler = profileDir ? new Session() : null;
/** BENCH_LIVE_HEAP_PROF=<dir>: a sampling heap profile of what the changes allocate, collected objects included (<dir>/<mode>-<pid>-<n>.heapprofile). */
const heapDir = process.env.BENCH_LIVE_HEAP_PROF;
const heapProfiler = heapDir ? new Session() : null;
let heapProfiles = 0;
let profiles = 0;

type Message = { type: 'loop-start' } | { type: 'loop-stop' } | { type: 'memory' } | { type: 'close' };

async function startBare(): Promise<{ port: number; close: () => Promise<void> }> {
  const subscribers = new Map<WebSocket, string>();
  let frame = '{}';
  const http = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      // The payload to push (the parent sends a frame Kefu wrote), then the same text to everyone.
      if (body) frame = body;
      for (const [socket, id] of subscribers) socket.send(`{"type":"next","id":${JSON.stringify(id)},"payload":${frame}}`);
      res.end('{"data":{"published":true}}');
    });
  });
  const wss = new WebSocketServer({ server: http, path: '/graphql' });
  wss.on('connection', (socket) => {
    socket.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { type: string; id?: string };
      if (m.type === 'connection_init') socket.send('{"type":"connection_ack"}');
      else if (m.type === 'subscribe') subscribers.set(socket, m.id!);
      else if (m.type === 'ping') socket.send('{"type":"pong"}');
    });
    socket.on('close', () => subscribers.delete(socket));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return { port: (http.address() as { port: number }).port, close: () => new Promise((r) => wss.close(() => http.close(() => r()))) };
}

/**
 * This thread's CPU time per change, from a mutation's arrival (a POST to /graphql) and from the bus message's
 * arrival at the fan-out, to the moment the change's last frame was handed to its socket (nothing waiting to be
 * written or handed out): a latency that hardly depends on what else the machine runs (a loaded machine stretches
 * wall times, not this). Means over the changes: the thread clock's ticks are coarse (up to 4 ms).
 */
const changeCpu = { fromRequest: [] as number[], fromMessage: [] as number[] };
let measuring = false;

/**
 * SQL statements sent by this process (node-postgres queries of every pooled client, PGlite query/exec calls),
 * counted per change like its CPU: from the mutation's arrival and from the bus message's to the last frame. The
 * change's own statements do not depend on load; a window stretched by a loaded machine takes in more of the
 * background's (pollers, projections that only store once their wait is capped). On PGlite each runs on this thread.
 */
let statementsSent = 0;
const changeStatements = { fromRequest: [] as number[], fromMessage: [] as number[] };
/** With a profile: each change's [mutation, message, last frame] and each statement's [start, end, text], in µs of the profile's clock. */
const changeWindows: number[][] = [];
const statementLog: [number, number, string][] = [];
/**
 * With a profile: the turns of the event loop that held it over 10 ms, [start, end] in µs of the profile's clock,
 * seen as a 1 ms timer firing late (what monitorEventLoopDelay measures), so that longest-blocks.ts can tell which
 * code ran in them.
 */
const loopGaps: [number, number][] = [];
let gapTimer: NodeJS.Timeout | null = null;
function watchGaps(on: boolean): void {
  if (gapTimer) clearInterval(gapTimer);
  gapTimer = null;
  if (!on) return;
  let last = monoUs();
  gapTimer = setInterval(() => {
    const now = monoUs();
    if (now - last > 10_000) loopGaps.push([last, now]);
    last = now;
  }, 1);
}
const monoUs = () => Number(process.hrtime.bigint() / 1000n);
const statementText = (q: unknown) => (typeof q === 'string' ? q : String((q as { text?: string } | null)?.text ?? '?')).replace(/\s+/g, ' ').slice(0, 160);
/** Counts a statement; its text (a regular expression over the SQL) only for a profile's log, not on every change's path. */
function logged(query: unknown, done: Promise<unknown>): void {
  statementsSent++;
  if (!profileDir || !measuring) return;
  const at = monoUs();
  const end = () => void statementLog.push([at, monoUs(), statementText(query)]);
  done.then(end, end);
}
type Exec = { query: (...a: unknown[]) => Promise<unknown>; script: (text: string) => Promise<unknown> };
function countStatements(sql: { kind: string; raw: unknown }): void {
  if (sql.kind === 'pglite' && !sql.raw) {
    // PGlite on its worker thread: counted at the SqlClient (a transaction's BEGIN and COMMIT as two more).
    const client = sql as unknown as Exec & Record<'transaction' | 'withConnection', (fn: (e: Exec) => Promise<unknown>, o?: unknown) => Promise<unknown>>;
    const counted = (e: Exec): Exec => ({
      query: (...a) => {
        const r = e.query(...a);
        logged(a[0], r);
        return r;
      },
      script: (text) => {
        const r = e.script(text);
        logged(text, r);
        return r;
      },
    });
    const top = counted({ query: client.query.bind(client), script: client.script.bind(client) });
    const transaction = client.transaction.bind(client);
    const withConnection = client.withConnection.bind(client);
    Object.assign(client, {
      ...top,
      transaction: (fn: (e: Exec) => Promise<unknown>) => {
        statementsSent += 2;
        return transaction((tx) => fn(counted(tx)));
      },
      withConnection: (fn: (e: Exec) => Promise<unknown>, o?: unknown) => withConnection((c) => fn(counted(c)), o),
    });
    return;
  }
  if (sql.kind === 'pglite') {
    const raw = sql.raw as Record<'query' | 'exec', (...a: unknown[]) => Promise<unknown>>;
    for (const name of ['query', 'exec'] as const) {
      const call = raw[name].bind(raw);
      raw[name] = (...a: unknown[]) => {
        const r = call(...a);
        logged(a[0], r);
        return r;
      };
    }
    return;
  }
  const query = pg.Client.prototype.query as (...a: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
    // pg-pool passes a callback (no promise back): its end is when the callback runs.
    const last = a[a.length - 1];
    let settled: Promise<unknown> | null = null;
    if (typeof last === 'function') {
      settled = new Promise((resolve) => {
        a[a.length - 1] = (...r: unknown[]) => {
          resolve(undefined);
          return (last as (...x: unknown[]) => unknown)(...r);
        };
      });
    }
    const r = query.apply(this, a);
    logged(a[0], settled ?? Promise.resolve(r));
    return r;
  } as typeof pg.Client.prototype.query;
}

/**
 * Wall-clock stamps (ms, performance.timeOrigin + now: one clock for the bench and both processes of kefu-nats)
 * of each change's stages in this process: the mutation's arrival, its events' commit (appendToStream resolved),
 * the agentStatus bus publish, the bus message's arrival at the fan-out, the first and the last frame handed to
 * sockets. The parent matches them to its changes by order (one change at a time) and reports each stage's
 * delay from the mutation's send: where a change's time goes, across processes too.
 */
const stamps: Record<string, number[]> = { request: [], committed: [], published: [], message: [], firstFrame: [], lastFrame: [] };
const wallMs = () => performance.timeOrigin + performance.now();
const stamp = (stage: string) => {
  if (measuring) stamps[stage]!.push(wallMs());
};

function traceStages(kefu: { store: { appendToStream: (...a: never[]) => Promise<unknown> }; bus: { publish: (topic: string, m: unknown) => Promise<void> } }): void {
  const append = kefu.store.appendToStream.bind(kefu.store) as (...a: unknown[]) => Promise<unknown>;
  (kefu.store as { appendToStream: unknown }).appendToStream = (...a: unknown[]) =>
    append(...a).then((r) => {
      if (String(a[0]).startsWith('agent-')) stamp('committed');
      return r;
    });
  const publish = kefu.bus.publish.bind(kefu.bus);
  kefu.bus.publish = (topic, m) => {
    if (topic.endsWith('.agentStatus')) stamp('published');
    return publish(topic, m);
  };
}

function traceChanges(fanout: unknown, server: Server): void {
  const threadMs = () => {
    const c = process.threadCpuUsage();
    return (c.user + c.system) / 1000;
  };
  // Private fields of LiveFanout and LiveTopics, read here only (the same in older commits, for A/B runs).
  const f = fanout as { flush: () => void; flushScheduled: boolean; topics: { topics: Map<string, { draining: boolean }>; deliver: (topic: unknown, message: unknown) => void } };
  let requestAt: { cpu: number; statements: number; mono: number } | null = null;
  let messageAt: { cpu: number; statements: number; mono: number } | null = null;
  const mark = () => ({ cpu: threadMs(), statements: statementsSent, mono: profileDir ? monoUs() : 0 });
  server.prependListener('request', (req: IncomingMessage) => {
    if (req.method === 'POST' && req.url?.startsWith('/graphql') && measuring) {
      requestAt ??= mark();
      stamp('request');
    }
  });
  const deliver = f.topics.deliver.bind(f.topics);
  f.topics.deliver = (topic, message) => {
    stamp('message');
    messageAt ??= mark();
    deliver(topic, message);
  };
  const flush = f.flush;
  f.flush = () => {
    if (messageAt !== null && stamps.firstFrame!.length < stamps.message!.length) stamp('firstFrame');
    flush();
    if (messageAt === null || f.flushScheduled || [...f.topics.topics.values()].some((t) => t.draining)) return;
    const now = mark();
    stamp('lastFrame');
    changeCpu.fromMessage.push(now.cpu - messageAt.cpu);
    changeStatements.fromMessage.push(now.statements - messageAt.statements);
    if (requestAt !== null) {
      changeCpu.fromRequest.push(now.cpu - requestAt.cpu);
      changeStatements.fromRequest.push(now.statements - requestAt.statements);
    }
    if (profileDir && measuring) changeWindows.push([(requestAt ?? messageAt).mono, messageAt.mono, now.mono]);
    messageAt = null;
    requestAt = null;
  };
}

let close: () => Promise<void>;
if (mode === 'bare') {
  const bare = await startBare();
  close = bare.close;
  process.send!({ type: 'ready', port: bare.port });
} else {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-live-'));
  const env: Record<string, string> = { KEFU_OPERATOR_TOKEN: operatorToken, LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1', KEFU_SIP: 'off', KEFU_DATA_DIR: dir };
  if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
  if (process.env.NATS_URL) env.NATS_URL = process.env.NATS_URL;
  if (process.env.KEFU_PGLITE_WORKER) env.KEFU_PGLITE_WORKER = process.env.KEFU_PGLITE_WORKER;
  // BENCH_LIVE_LOG=error (say) shows what Kefu logs, for a run that fails.
  const kefu = await startKefu(loadConfig(env), { logger: pino({ level: process.env.BENCH_LIVE_LOG ?? 'silent' }), listen: true });
  close = async () => {
    await kefu.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const tokens = process.env.BENCH_LIVE_SEED === '1' ? await seedSupervisorAndAgent(kefu, 'Bench') : null;
  countStatements(kefu.sql);
  traceChanges(kefu.app.liveFanout, kefu.app.server);
  traceStages(kefu as never);
  process.send!({ type: 'ready', port: (kefu.app.server.address() as { port: number }).port, ...tokens });
}

process.on('message', (raw) => {
  const m = raw as Message;
  void (async () => {
    if (m.type === 'loop-start') {
      if (profiler) {
        if (profiles === 0) {
          profiler.connect();
          await profiler.post('Profiler.enable');
          await profiler.post('Profiler.setSamplingInterval', { interval: 250 });
        }
        await profiler.post('Profiler.start');
      }
      if (heapProfiler) {
        if (heapProfiles === 0) heapProfiler.connect();
        await heapProfiler.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
      }
      loop.reset();
      loop.enable();
      changeCpu.fromRequest.length = 0;
      changeCpu.fromMessage.length = 0;
      changeStatements.fromRequest.length = 0;
      changeStatements.fromMessage.length = 0;
      changeWindows.length = 0;
      statementLog.length = 0;
      loopGaps.length = 0;
      gcProfiler = new GCProfiler();
      gcProfiler.start();
      if (profileDir) watchGaps(true);
      for (const k of Object.keys(stamps)) stamps[k]!.length = 0;
      measuring = true;
      cpuAtStart = process.cpuUsage();
      process.send!({ type: 'loop-started' });
    } else if (m.type === 'loop-stop') {
      const gc = gcPauses();
      loop.disable();
      watchGaps(false);
      measuring = false;
      const cpu = process.cpuUsage(cpuAtStart);
      if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        writeFileSync(path.join(profileDir!, `${mode}-${process.pid}-${++profiles}.cpuprofile`), JSON.stringify(profile));
        const base = path.join(profileDir!, `${mode}-${process.pid}-${profiles}`);
        writeFileSync(`${base}.windows.json`, JSON.stringify(changeWindows));
        writeFileSync(`${base}.statements.json`, JSON.stringify(statementLog));
        writeFileSync(`${base}.gaps.json`, JSON.stringify(loopGaps));
      }
      if (heapProfiler) {
        const { profile } = await heapProfiler.post('HeapProfiler.stopSampling');
        writeFileSync(path.join(heapDir!, `${mode}-${process.pid}-${++heapProfiles}.heapprofile`), JSON.stringify(profile));
      }
      const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, x) => a + x, 0) / xs.length);
      process.send!({ type: 'loop', maxMs: loop.max / 1e6, p99Ms: loop.percentile(99) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, cpuFromRequestMs: mean(changeCpu.fromRequest), cpuFromMessageMs: mean(changeCpu.fromMessage), statementsFromRequest: mean(changeStatements.fromRequest), statementsFromMessage: mean(changeStatements.fromMessage), stamps, gc });
    } else if (m.type === 'memory') {
      for (let i = 0; i < 3; i++) {
        globalThis.gc?.();
        await new Promise((r) => setImmediate(r));
      }
      const u = process.memoryUsage();
      process.send!({ type: 'memory', bytes: u.heapUsed + u.external, rss: u.rss });
    } else {
      await close();
      process.exit(0);
    }
  })();
});
