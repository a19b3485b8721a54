// Live views bench (issue 10): graphql-ws subscribers of agentStatusChanged (one supervisor's token) on one
// Kefu, an agent flipping presence every 300 ms. Lightweight clients on `ws` in this process only timestamp
// frames; each change is one frame per subscriber, so frame k after the snapshot is change k. Measured per
// step: latency from the mutation's send to each frame's receipt (p50 / p99 / max), the mutation's own answer
// time, the longest event-loop block in the server process (perf_hooks), and memory per idle subscription
// (heap + external after GC, before and after the subscribers connected). Beside it, the ceiling: a bare
// graphql-ws server (bench/live/server-child.ts, mode bare) writing the same frame to the same subscribers.
// Targets: kefu-pglite (default), kefu-postgres, kefu-nats (mutations on process A, subscribers on process B,
// PostgreSQL + NATS); BENCH_LIVE_TARGETS picks, BENCH_LIVE_SUBSCRIBERS the steps, BENCH_LIVE_CHANGES the changes.
// Before its first step each server gets BENCH_LIVE_WARMUP changes (default 10, not counted) with a few
// subscribers: a process's first changes pay once for what later ones find ready (the statements' first plans
// and compiled SQL, V8's code, mercurius compiling the mutation after its third request), and with 1,000
// subscribers and 30 changes one slow change is 3 % of the receipts, so the p99 was that one change's.
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { envInt, envList } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { median, percentile } from './lib/stats.ts';

const natsUrl = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const settings = () => ({
  subscribers: (envList('BENCH_LIVE_SUBSCRIBERS') ?? ['100', '1000']).map(Number),
  changes: Math.max(3, envInt('BENCH_LIVE_CHANGES', 30)),
  warmup: Math.max(0, envInt('BENCH_LIVE_WARMUP', 10)),
  intervalMs: envInt('BENCH_LIVE_INTERVAL_MS', 300),
  targets: envList('BENCH_LIVE_TARGETS') ?? ['kefu-pglite'],
});

const subscription = 'subscription { agentStatusChanged { agent { id name } presence reason since workload { phone online av } } }';

interface Step {
  target: string;
  subscribers: number;
  changes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  mutationP50Ms: number;
  mutationMaxMs: number;
  loopMaxMs: number;
  /** The server process's CPU time per change (user + system) while the changes went out. */
  cpuMsPerChange: number;
  /** The server's main thread CPU time (mean) from the mutation's arrival (NaN on process B) and from the bus message's to the change's last frame written. */
  cpuToLastFrameMs: { fromRequest: number; fromMessage: number };
  /** SQL statements the server sent (mean per change) from the mutation's arrival and from the bus message's to the change's last frame written. */
  statementsToLastFrame: { fromRequest: number; fromMessage: number };
  bytesPerIdleSubscription: number;
  missing: number;
  loadBefore: number;
  seconds: number;
}
const steps: Step[] = [];

interface Server {
  child: ChildProcess;
  port: number;
  supervisorToken?: string;
  agentToken?: string;
}

function startServer(env: Record<string, string>): Promise<Server> {
  const child = fork(fileURLToPath(new URL('./live/server-child.ts', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
    // BENCH_LIVE_NODE_ARGS: more flags for the servers (--trace-gc, say).
    execArgv: [...process.execArgv, '--expose-gc', ...(process.env.BENCH_LIVE_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []), ...(process.env.BENCH_LIVE_CPU_PROF ? ['--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${process.env.BENCH_LIVE_CPU_PROF}`] : [])],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    child.once('message', (m) => resolve({ child, ...(m as { port: number }) }));
  });
}

function ask<T>(child: ChildProcess, type: string, reply: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== reply) return;
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
    child.send({ type });
  });
}

async function stopServer(s: Server): Promise<void> {
  s.child.removeAllListeners('exit');
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.send({ type: 'close' });
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  s.child.kill();
}

interface Client {
  socket: WebSocket;
  frames: number[];
  firstPayload: string | null;
  /** The first few frames that are not data (errors), for a failure's message. */
  other: string[];
}

/** A subscriber that does nothing but timestamp frames (and keep the first change's payload, for the bare server). */
async function subscribe(port: number, token: string): Promise<Client> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
  const client: Client = { socket, frames: [], firstPayload: null, other: [] };
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('message', (data) => {
      const now = performance.now();
      const text = String(data);
      if (text.startsWith('{"type":"next"')) {
        client.frames.push(now);
        if (client.firstPayload === null) client.firstPayload = text;
      } else if (text.startsWith('{"type":"connection_ack"')) {
        socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: subscription } }));
        resolve();
      } else if (text.startsWith('{"type":"ping"')) socket.send('{"type":"pong"}');
      else if (client.other.length < 3) client.other.push(text.slice(0, 300));
    });
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
  });
  return client;
}

async function until(ok: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

async function post(port: number, token: string | null, body: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/${token ? 'graphql' : 'publish'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  const text = await res.text();
  if (!res.ok || text.includes('"errors"')) throw new Error(`change failed: ${text}`);
}

/**
 * One step: `n` subscribers on `subscribeTo`, changes made by `change` every interval. `snapshotFrames` frames
 * come first for each subscriber (the current state), then one per change.
 */
async function runStep(
  target: string,
  n: number,
  subscribeTo: Server,
  token: string,
  change: (k: number) => Promise<void>,
  snapshotFrames: number,
  log: (m: string) => void,
  changeServer: Server = subscribeTo,
  changes = settings().changes,
): Promise<{ step: Step; payload: string | null }> {
  const { intervalMs } = settings();
  const loadBefore = loadavg()[0]!;
  const started = performance.now();
  const before = await ask<{ bytes: number }>(subscribeTo.child, 'memory', 'memory');
  const clients: Client[] = [];
  for (let i = 0; i < n; i += 50) clients.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => subscribe(subscribeTo.port, token)))));
  if (!(await until(() => clients.every((c) => c.frames.length >= snapshotFrames), 120_000))) {
    const short = clients.filter((c) => c.frames.length < snapshotFrames);
    throw new Error(`${target}: ${short.length} of ${n} subscribers did not get their first state (frames: ${[...new Set(short.map((c) => c.frames.length))].join(', ')}; other frames: ${short.slice(0, 3).map((c) => c.other.join(' ')).join(' | ')})`);
  }
  const idle = await ask<{ bytes: number }>(subscribeTo.child, 'memory', 'memory');
  const bytesPerIdleSubscription = (idle.bytes - before.bytes) / n;
  for (const c of clients) c.frames.length = 0;
  const payload = clients[0]?.firstPayload ?? null;

  await ask(subscribeTo.child, 'loop-start', 'loop-started');
  if (changeServer !== subscribeTo) await ask(changeServer.child, 'loop-start', 'loop-started');
  const sent: number[] = [];
  const answered: number[] = [];
  for (let k = 0; k < changes; k++) {
    const t0 = performance.now();
    sent.push(t0);
    await change(k);
    answered.push(performance.now() - t0);
    const wait = intervalMs - (performance.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await until(() => clients.every((c) => c.frames.length >= changes), 30_000);
  type Loop = { maxMs: number; cpuMs: number; cpuFromRequestMs?: number; cpuFromMessageMs?: number; statementsFromRequest?: number; statementsFromMessage?: number; stamps?: Record<string, number[]>; gc?: { majorMaxMs: number; minorMaxMs: number; majorMs: number; minorMs: number; major: number } };
  const loop = await ask<Loop>(subscribeTo.child, 'loop-stop', 'loop');
  const changeLoop = changeServer !== subscribeTo ? await ask<Loop>(changeServer.child, 'loop-stop', 'loop') : loop;
  if (loop.stamps) logStages(target, sent, clients, { ...loop.stamps, request: changeLoop.stamps!.request!, committed: changeLoop.stamps!.committed!, published: changeLoop.stamps!.published! }, log);
  const latencies: number[] = [];
  let missing = 0;
  for (const c of clients) {
    for (let k = 0; k < changes; k++) {
      const at = c.frames[k];
      if (at === undefined) missing++;
      else latencies.push(at - sent[k]!);
    }
  }
  await Promise.all(clients.map((c) => new Promise<void>((r) => (c.socket.once('close', () => r()), c.socket.close()))));
  latencies.sort((a, b) => a - b);
  const step: Step = {
    target,
    subscribers: n,
    changes,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? NaN,
    mutationP50Ms: median(answered),
    mutationMaxMs: Math.max(...answered),
    loopMaxMs: loop.maxMs,
    cpuMsPerChange: loop.cpuMs / changes,
    cpuToLastFrameMs: { fromRequest: loop.cpuFromRequestMs ?? NaN, fromMessage: loop.cpuFromMessageMs ?? NaN },
    statementsToLastFrame: { fromRequest: loop.statementsFromRequest ?? NaN, fromMessage: loop.statementsFromMessage ?? NaN },
    bytesPerIdleSubscription,
    missing,
    loadBefore,
    seconds: (performance.now() - started) / 1000,
  };
  const gcOf = (l: Loop) => (l.gc ? `GC: ${l.gc.major} major (longest ${l.gc.majorMaxMs.toFixed(1)} ms, ${(l.gc.majorMs / changes).toFixed(1)} ms/change), minor longest ${l.gc.minorMaxMs.toFixed(1)} ms (${(l.gc.minorMs / changes).toFixed(1)} ms/change)` : '');
  // With two processes, the one that made the changes (its commit and publish are every change's first stages).
  const gc = `, ${gcOf(loop)}${changeLoop !== loop ? `; process A: loop block ${changeLoop.maxMs.toFixed(1)} ms, CPU ${(changeLoop.cpuMs / changes).toFixed(1)} ms/change, ${gcOf(changeLoop)}` : ''}`;
  log(
    `${target} ${n} subscribers: p50 ${step.p50Ms.toFixed(1)} p99 ${step.p99Ms.toFixed(1)} max ${step.maxMs.toFixed(1)} ms, mutation ${step.mutationP50Ms.toFixed(1)} ms, loop block ${step.loopMaxMs.toFixed(1)} ms, server CPU ${step.cpuMsPerChange.toFixed(1)} ms/change (to the last frame: ${step.cpuToLastFrameMs.fromRequest.toFixed(1)} from the mutation, ${step.cpuToLastFrameMs.fromMessage.toFixed(1)} from the message; SQL statements: ${step.statementsToLastFrame.fromRequest.toFixed(2)} / ${step.statementsToLastFrame.fromMessage.toFixed(2)}), ${(bytesPerIdleSubscription / 1024).toFixed(1)} KB/subscription, ${missing} missing${gc}`,
  );
  return { step, payload };
}

/**
 * Each stage's delay from the mutation's send (median and p90 over the changes, ms): the server stamps (request,
 * committed, published on the process that made the change; message, first and last frame on the subscribers'),
 * then the first and the last subscriber's receipt. Stamps are matched to changes by order.
 */
function logStages(target: string, sent: number[], clients: Client[], stamps: Record<string, number[]>, log: (m: string) => void): void {
  const wall = (t: number) => performance.timeOrigin + t;
  const rows: Record<string, number[]> = {};
  const add = (stage: string, v: number | undefined) => v !== undefined && Number.isFinite(v) && (rows[stage] ??= []).push(v);
  for (let k = 0; k < sent.length; k++) {
    const t0 = wall(sent[k]!);
    for (const stage of ['request', 'committed', 'published', 'message', 'firstFrame', 'lastFrame']) add(stage, (stamps[stage]?.[k] ?? NaN) - t0);
    const got = clients.map((c) => c.frames[k]).filter((x): x is number => x !== undefined);
    add('firstReceipt', Math.min(...got) - sent[k]!);
    add('lastReceipt', Math.max(...got) - sent[k]!);
  }
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  // The change whose last receipt came latest: with a thousand receipts each, one slow change can be the p99.
  const last = rows.lastReceipt ?? [];
  const slowest = last.indexOf(Math.max(...last));
  log(
    `${target} stages from the mutation's send, p50 / p90 ms: ${Object.entries(rows).map(([s, xs]) => `${s} ${q(xs, 50).toFixed(1)} / ${q(xs, 90).toFixed(1)} (${xs.length})`).join(', ')}; slowest change #${slowest} (last receipt ${last[slowest]?.toFixed(1)} ms)`,
  );
}

const presence = (k: number) => JSON.stringify({ query: k % 2 === 0 ? 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }' : 'mutation { setPresence(input: { presence: BREAK, reason: "Rest" }) { id } }' });

async function runTarget(target: string, log: (m: string) => void): Promise<void> {
  const database = target === 'kefu-pglite' ? null : 'kefu_bench_live';
  const env: Record<string, string> = { BENCH_LIVE_MODE: 'kefu' };
  if (database) env.DATABASE_URL = await recreateDatabase(database);
  if (target === 'kefu-nats') env.NATS_URL = natsUrl;
  const a = await startServer({ ...env, BENCH_LIVE_SEED: '1' });
  const b = target === 'kefu-nats' ? await startServer(env) : a;
  const bare = await startServer({ BENCH_LIVE_MODE: 'bare' });
  try {
    const { warmup } = settings();
    if (warmup > 0) {
      // Not counted: the processes' first changes (see the top), for Kefu and the ceiling alike.
      await post(a.port, a.agentToken!, JSON.stringify({ query: 'mutation { setPresence(input: { presence: OFFLINE }) { id } }' }));
      const kefu = await runStep(`${target} warm-up (${warmup} changes, not counted)`, 20, b, a.supervisorToken!, (k) => post(a.port, a.agentToken!, presence(k)), 2, log, a, warmup);
      const framePayload = kefu.payload ? JSON.stringify((JSON.parse(kefu.payload) as { payload: unknown }).payload) : '{}';
      await runStep(`bare-graphql-ws warm-up (beside ${target})`, 20, bare, '', () => post(bare.port, null, framePayload), 0, log, bare, warmup);
    }
    for (const n of settings().subscribers) {
      // The agent starts OFFLINE each step: change 0 makes it AVAILABLE, then BREAK, ...
      await post(a.port, a.agentToken!, JSON.stringify({ query: 'mutation { setPresence(input: { presence: OFFLINE }) { id } }' }));
      // Each subscriber first gets the two agents as they are now.
      const kefu = await runStep(target, n, b, a.supervisorToken!, (k) => post(a.port, a.agentToken!, presence(k)), 2, log, a);
      steps.push(kefu.step);
      const framePayload = kefu.payload ? JSON.stringify((JSON.parse(kefu.payload) as { payload: unknown }).payload) : '{}';
      const ceiling = await runStep(`bare-graphql-ws (beside ${target})`, n, bare, '', () => post(bare.port, null, framePayload), 0, log);
      steps.push(ceiling.step);
    }
  } finally {
    await stopServer(bare);
    if (b !== a) await stopServer(b);
    await stopServer(a);
    if (database) await dropDatabase(database);
  }
}

const count = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');
const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '-');

export const liveBench: BenchModule = {
  name: 'live',
  title: 'Live views: one change to many graphql-ws subscribers',
  describe() {
    const s = settings();
    return [
      `Subscribers of \`agentStatusChanged\` over graphql-ws (one supervisor's token), steps ${s.subscribers.join(', ')}; one agent's presence changes every ${s.intervalMs} ms, ${s.changes} changes per step, after ${s.warmup} changes with 20 subscribers per server that are not counted (a process's first changes pay once for plans, compiled SQL and code).`,
      'Clients are `ws` sockets in the bench process that only timestamp frames; the server runs in its own process.',
      'Latency: from the mutation sent to each frame received. Loop block: the longest event-loop delay in the server process while the changes went out (perf_hooks); server CPU: its user + system CPU time per change meanwhile (less sensitive to other load than latencies); CPU to the last frame: the CPU time of the server main thread (mean over the changes) from the arrival of the mutation, and of the bus message, to the last frame of the change handed to its socket, a latency that a loaded machine does not stretch; SQL statements to the last frame: the statements the server sent in those windows (mean per change; on PGlite each runs on the main thread): the statements of the change itself do not depend on load, but a window that a loaded machine stretches takes in more statements of the background (pollers, reports held no longer than 100 ms).',
      'Memory: heap + external after GC, per idle subscription (one connection each). The ceiling: a bare graphql-ws server writing the same frame to the same subscribers.',
      `Targets: ${s.targets.join(', ')}. Goals: 1,000 subscribers p99 < 50 ms; 10,000 p99 < 250 ms; no loop block over 20 ms; <= 20 KB per idle subscription.`,
    ].join('\n');
  },
  comparison: null,
  async run(): Promise<ResultRow[]> {
    steps.length = 0;
    const log = (m: string) => console.log(`  ${m}`);
    for (const target of settings().targets) await runTarget(target, log);
    // One row per step, in the shape every module reports (frames/s over the step, latency percentiles).
    return steps.map((s) => ({
      measurement: `live-${s.subscribers}`,
      label: `${s.subscribers.toLocaleString('en-US')} subscribers, change to frame`,
      target: s.target,
      events: s.subscribers * s.changes - s.missing,
      ms: s.seconds * 1000,
      eventsPerSec: (s.subscribers * s.changes - s.missing) / (s.changes * (settings().intervalMs / 1000)),
      p50Ms: s.p50Ms,
      p99Ms: s.p99Ms,
      perRound: [],
    }));
  },
  notes() {
    const rows = steps.map(
      (s) =>
        `| ${s.target} | ${s.subscribers.toLocaleString('en-US')} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${ms(s.maxMs)} | ${ms(s.mutationP50Ms)} / ${ms(s.mutationMaxMs)} | ${ms(s.loopMaxMs)} | ${ms(s.cpuMsPerChange)} | ${ms(s.cpuToLastFrameMs.fromRequest)} / ${ms(s.cpuToLastFrameMs.fromMessage)} | ${count(s.statementsToLastFrame.fromRequest)} / ${count(s.statementsToLastFrame.fromMessage)} | ${(s.bytesPerIdleSubscription / 1024).toFixed(1)} | ${s.missing} | ${s.loadBefore.toFixed(1)} |`,
    );
    return [
      '| target | subscribers | p50 ms | p99 ms | max ms | mutation p50 / max ms | longest loop block ms | server CPU ms per change | main-thread CPU to the last frame ms, from mutation / message | SQL statements to the last frame, from mutation / message | KB per idle subscription | frames missing | load before |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows,
    ].join('\n');
  },
};
