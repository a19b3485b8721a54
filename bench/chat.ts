// Chat bench (issue 11): on PostgreSQL, one Kefu process (bench/chat/server-child.ts) with N customers connected
// over graphql-ws (conversationEvents), idle ones and chatting ones, and 200 agents; each chatting customer
// sends a message every few seconds and its agent answers each at once. Measured per step: messages per second
// stored (every send acknowledged only once appended to the event store; at the end every chat's messages are
// counted in kefu_events and contact_messages against what the clients saw acknowledged: nothing lost, nothing
// doubled, seq without a gap), latency from a customer's send to the agent's subscription and back, Kefu's
// memory per connected customer, and a closed loop (each customer's next message as soon as the previous one
// was answered) for the most messages per second. The same load then goes through a bare relay on the same
// stack (node:http + ws, no GraphQL, no store): Kefu's messages per second as a ratio of it.
// Clients run in child processes (bench/chat/client-child.ts), one shard each with its own skill group and web
// channel, so that a chat's customer and agent share a process and a clock; their CPU time is reported.
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { envInt, envList, envString } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { percentile } from './lib/stats.ts';
import type { Seeded, Stalls } from './chat/server-child.ts';

const database = process.env.BENCH_CHAT_DATABASE ?? 'kefu_bench_chat';

const settings = () => {
  const idle = (envList('BENCH_CHAT_IDLE') ?? ['1000', '10000']).map(Number);
  const active = (envList('BENCH_CHAT_ACTIVE') ?? ['500', '2000']).map(Number);
  if (idle.length !== active.length || [...idle, ...active].some((n) => !Number.isInteger(n) || n < 0)) {
    throw new Error('BENCH_CHAT_IDLE and BENCH_CHAT_ACTIVE must be lists of whole numbers of the same length (one step each)');
  }
  const targets = envList('BENCH_CHAT_TARGETS') ?? ['kefu-postgres', 'bare-relay'];
  const unknown = targets.filter((t) => t !== 'kefu-postgres' && t !== 'bare-relay');
  if (unknown.length > 0) throw new Error(`BENCH_CHAT_TARGETS: unknown ${unknown.join(', ')} (known: kefu-postgres, bare-relay)`);
  const idleMode = envString('BENCH_CHAT_IDLE_MODE', 'connected');
  if (idleMode !== 'connected' && idleMode !== 'queued') throw new Error('BENCH_CHAT_IDLE_MODE must be connected or queued');
  return {
    steps: idle.map((n, i) => ({ idle: n, active: active[i]! })),
    agents: Math.max(1, envInt('BENCH_CHAT_AGENTS', 200)),
    intervalMs: Math.max(100, envInt('BENCH_CHAT_INTERVAL_MS', 4000)),
    seconds: Math.max(2, envInt('BENCH_CHAT_SECONDS', 30)),
    closedSeconds: envInt('BENCH_CHAT_CLOSED_SECONDS', 15),
    // Half the machine's CPUs (2 to 4) for the clients: on a 2-CPU machine they share with Kefu and PostgreSQL.
    clients: Math.max(1, envInt('BENCH_CHAT_CLIENT_PROCS', Math.min(4, Math.max(2, Math.floor(availableParallelism() / 2))))),
    targets,
    idleMode: idleMode as 'connected' | 'queued',
  };
};

interface PhaseResult {
  windowMs: number;
  sent: number;
  answered: number;
  acked: number;
  messagesPerSec: number;
  customerToAgent: number[];
  agentToCustomer: number[];
  roundTrip: number[];
  sendAck: number[];
  serverCpuMs: number;
  loopMaxMs: number;
  stalls: Stalls | null;
  clientCpuMs: number[];
  errors: number;
  firstErrors: string[];
  pool: PoolStats | null;
}

/** Kefu's pg pool in a phase, sampled every 5 ms. */
interface PoolStats {
  size: number;
  avgWaiting: number;
  maxWaiting: number;
  allBusyShare: number;
}

interface StepResult {
  target: string;
  idle: number;
  active: number;
  agents: number;
  seedSeconds: number;
  connectSeconds: { agents: number; idle: number; active: number };
  idleConnected: number;
  activeFollowed: number;
  memory: { base: Memory; agents: Memory; idle: Memory; active: Memory; loaded: Memory };
  paced: PhaseResult;
  closed: PhaseResult | null;
  check: Check | null;
  loadBefore: number;
  seconds: number;
}

interface Memory {
  heap: number;
  rss: number;
}

interface Check {
  chats: number;
  customerStored: number;
  agentStored: number;
  customerAcked: number;
  agentAcked: number;
  failedSends: number;
  lost: number;
  doubled: number;
  unacked: number;
  gaps: number;
  readModelMismatch: number;
}

const results: StepResult[] = [];

// ---------------------------------------------------------------------------------------------------------
// Processes

export function forkChild(file: string, env: Record<string, string>, execArgv: string[] = []): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
    execArgv: [...process.execArgv, ...execArgv],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
    child.once('message', (m) => resolve({ child, ready: m as Record<string, unknown> }));
  });
}

export function ask<T>(child: ChildProcess, message: object, reply: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string; message?: string }) => {
      if (m.type === 'error') {
        child.off('message', on);
        reject(new Error(m.message));
      } else if (m.type === reply) {
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
    child.send(message);
  });
}

export async function stop(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit');
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.send({ type: 'close' });
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

const memoryOf = async (server: ChildProcess): Promise<Memory> => {
  const m = await ask<Memory>(server, { type: 'memory' }, 'memory');
  return { heap: m.heap, rss: m.rss };
};

/** `total` split over `parts` as evenly as whole numbers go. */
const split = (total: number, parts: number) => Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));

// ---------------------------------------------------------------------------------------------------------
// One step on one target

interface Ran {
  windowMs: number;
  sent: number;
  answered: number;
  acked: number;
  customerToAgent: number[];
  agentToCustomer: number[];
  roundTrip: number[];
  sendAck: number[];
  cpuMs: number;
  errors: number;
  firstErrors: string[];
}

async function phase(server: ChildProcess, clients: ChildProcess[], kind: 'paced' | 'closed', seconds: number, intervalMs: number): Promise<PhaseResult> {
  await ask(server, { type: 'cpu-start' }, 'cpu-started');
  const runs = await Promise.all(clients.map((c) => ask<Ran>(c, { type: 'run', phase: kind, seconds, intervalMs, drainMs: 120_000 }, 'ran')));
  const cpu = await ask<{ cpuMs: number; loopMaxMs: number; stalls?: Stalls; queries: [string, number][]; pool: PoolStats | null }>(server, { type: 'cpu-stop' }, 'cpu');
  const windowMs = Math.max(...runs.map((r) => r.windowMs));
  const acked = runs.reduce((a, r) => a + r.acked, 0);
  const all = (f: (r: Ran) => number[]) => runs.flatMap(f).sort((a, b) => a - b);
  // BENCH_CHAT_COUNT_QUERIES=1: Kefu's SQL statements in the phase, per message stored.
  printQueries(kind, cpu.queries, acked, 'message');
  return {
    windowMs,
    sent: runs.reduce((a, r) => a + r.sent, 0),
    answered: runs.reduce((a, r) => a + r.answered, 0),
    acked,
    messagesPerSec: acked / (windowMs / 1000),
    customerToAgent: all((r) => r.customerToAgent),
    agentToCustomer: all((r) => r.agentToCustomer),
    roundTrip: all((r) => r.roundTrip),
    sendAck: all((r) => r.sendAck),
    serverCpuMs: cpu.cpuMs,
    loopMaxMs: cpu.loopMaxMs,
    stalls: cpu.stalls ?? null,
    clientCpuMs: runs.map((r) => r.cpuMs),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    firstErrors: runs.flatMap((r) => r.firstErrors).slice(0, 5),
    pool: cpu.pool,
  };
}

/** A phase's stalls: loop blocks over 50 ms (per minute, and how many were the main thread's own CPU), GC pauses. */
function stallLine(x: PhaseResult): string {
  const st = x.stalls;
  if (!st) return `longest loop block ${x.loopMaxMs.toFixed(0)} ms`;
  const perMin = (n: number) => ((n * 60_000) / x.windowMs).toFixed(1);
  const gc = Object.entries(st.gc)
    .map(([k, g]) => `${k} ${g.n} (${g.ms.toFixed(0)} ms, max ${g.maxMs.toFixed(0)})`)
    .join(', ');
  return `longest loop block ${x.loopMaxMs.toFixed(0)} ms; blocks > 50 ms: ${st.blocks} (${perMin(st.blocks)}/min, ${st.blockMs.toFixed(0)} ms, main-thread CPU in them ${st.blockCpuMs.toFixed(0)} ms, ${st.cpuBlocks} mostly CPU); GC ${gc || 'none'}; per minute ${perMin(Object.values(st.gc).reduce((a, g) => a + g.ms, 0))} ms`;
}

function printQueries(what: string, queries: [string, number][], per: number, unit: string): void {
  if (queries.length === 0) return;
  const total = queries.reduce((a, [, n]) => a + n, 0);
  console.log(`  ${what}: ${total} SQL statements, ${(total / Math.max(1, per)).toFixed(1)} per ${unit}; most sent:`);
  for (const [text, n] of queries.slice(0, 25)) console.log(`    ${(n / Math.max(1, per)).toFixed(2).padStart(7)}/${unit}  ${text}`);
}

/** Every active chat's messages as stored (events and read model) against the sends its clients saw acknowledged. */
async function checkStored(url: string, acked: { contactId: string; customer: number; agent: number; failed: number }[], log: (m: string) => void): Promise<Check> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const ids = acked.map((a) => a.contactId);
    const events = await c.query<{ contact_id: string; customer: string; agent: string; total: string; non_system: string; distinct_ids: string; max_seq: number; distinct_seq: string; min_seq: number }>(
      `SELECT split_part(stream_id, '.', 2) AS contact_id,
              count(*) FILTER (WHERE data->>'from' = 'CUSTOMER') AS customer,
              count(*) FILTER (WHERE data->>'from' = 'AGENT') AS agent,
              count(*) AS total,
              count(*) FILTER (WHERE data->>'from' <> 'SYSTEM') AS non_system,
              count(DISTINCT (data->>'from') || '|' || (data->>'clientMessageId')) FILTER (WHERE data->>'from' <> 'SYSTEM') AS distinct_ids,
              max((data->>'seq')::int) AS max_seq, min((data->>'seq')::int) AS min_seq, count(DISTINCT (data->>'seq')::int) AS distinct_seq
         FROM kefu_events
        WHERE type = 'ContactMessageRecorded' AND stream_id LIKE 'contact-%' AND split_part(stream_id, '.', 2) = ANY($1::text[])
        GROUP BY 1`,
      [ids],
    );
    const byId = new Map(events.rows.map((r) => [r.contact_id, r]));
    // The read model catches up shortly after the last append.
    const readModel = async () => {
      const r = await c.query<{ contact_id: string; n: string; max_seq: number }>('SELECT contact_id, count(*) AS n, max(seq) AS max_seq FROM contact_messages WHERE contact_id = ANY($1::text[]) GROUP BY 1', [ids]);
      return new Map(r.rows.map((x) => [x.contact_id, x]));
    };
    let rm = await readModel();
    const matches = () => ids.filter((id) => Number(rm.get(id)?.n ?? 0) !== Number(byId.get(id)?.total ?? 0)).length;
    for (let i = 0; i < 120 && matches() > 0; i++) {
      await new Promise((r) => setTimeout(r, 500));
      rm = await readModel();
    }
    const check: Check = { chats: ids.length, customerStored: 0, agentStored: 0, customerAcked: 0, agentAcked: 0, failedSends: 0, lost: 0, doubled: 0, unacked: 0, gaps: 0, readModelMismatch: matches() };
    for (const a of acked) {
      const e = byId.get(a.contactId);
      const customer = Number(e?.customer ?? 0);
      const agent = Number(e?.agent ?? 0);
      check.customerStored += customer;
      check.agentStored += agent;
      check.customerAcked += a.customer;
      check.agentAcked += a.agent;
      check.failedSends += a.failed;
      if (customer < a.customer || agent < a.agent) check.lost++;
      if (e && Number(e.distinct_ids) !== Number(e.non_system)) check.doubled++;
      if (customer > a.customer || agent > a.agent) check.unacked++;
      if (e && (e.min_seq !== 1 || e.max_seq !== Number(e.total) || Number(e.distinct_seq) !== Number(e.total))) check.gaps++;
    }
    log(
      `stored check: ${check.chats} chats, customer ${check.customerStored} stored / ${check.customerAcked} acked, agent ${check.agentStored} / ${check.agentAcked}, failed sends ${check.failedSends}; lost ${check.lost}, doubled ${check.doubled}, stored unacked ${check.unacked}, seq gaps ${check.gaps}, read model behind ${check.readModelMismatch}`,
    );
    return check;
  } finally {
    await c.end();
  }
}

/** What another bench (bench/observability.ts) changes in a step: Kefu's extra environment, and work to run while it is up. */
export interface StepOptions {
  /** Added to the Kefu child's environment (e.g. KEFU_METRICS_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT). */
  serverEnv?: Record<string, string>;
  /** Called once Kefu listens on `port`; its result is called when the step ends (e.g. a /metrics scraper). */
  whileUp?: (port: number) => () => Promise<void>;
  /** Settings in place of the BENCH_CHAT_* ones. */
  settings?: ChatSettings;
}

export type ChatSettings = ReturnType<typeof settings>;
export type { StepResult as ChatStepResult, PhaseResult as ChatPhaseResult };
export const chatSettings = settings;

export async function runStep(target: string, step: { idle: number; active: number }, log: (m: string) => void, options: StepOptions = {}): Promise<StepResult> {
  const s = options.settings ?? settings();
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const kefu = target === 'kefu-postgres';
  const url = kefu ? await recreateDatabase(database) : null;
  const server = await forkChild(
    './chat/server-child.ts',
    { BENCH_CHAT_MODE: kefu ? 'kefu' : 'bare', ...(url ? { DATABASE_URL: url } : {}), ...options.serverEnv },
    ['--expose-gc'],
  );
  const port = server.ready.port as number;
  const clients: ChildProcess[] = [];
  const stopWhileUp = options.whileUp?.(port) ?? null;
  try {
    const agentsPerShard = Math.ceil(s.agents / s.clients);
    const activeShares = split(step.active, s.clients);
    const idleShares = split(step.idle, s.clients);
    const maxConcurrency = Math.min(50, Math.max(1, Math.ceil(Math.max(...activeShares) / agentsPerShard) + 1));
    const idleHolders = s.idleMode === 'connected' && step.idle > 0 ? Math.ceil(step.idle / 50) + 1 : 0;
    const seeded = await ask<Seeded>(server.child, { type: 'seed', shards: s.clients, agentsPerShard, maxConcurrency, idleHolders }, 'seeded');
    log(`${target}: seeded ${s.clients} shards x ${agentsPerShard} agents (max ${maxConcurrency} chats each), ${idleHolders} idle-desk holders in ${seeded.seconds.toFixed(0)} s`);
    for (let i = 0; i < s.clients; i++) clients.push((await forkChild('./chat/client-child.ts', {})).child);

    const base = await memoryOf(server.child);
    const timed = async (cmd: (c: ChildProcess, i: number) => object) => {
      const t0 = performance.now();
      const out = await Promise.all(clients.map((c, i) => ask<Record<string, unknown>>(c, cmd(c, i), 'done')));
      const errors = out.flatMap((o) => o.firstErrors as string[]);
      if (errors.length > 0) log(`  client errors: ${errors.slice(0, 3).join(' | ')}`);
      return { seconds: (performance.now() - t0) / 1000, out };
    };
    const agents = await timed((_, i) => ({ type: 'agents', port, tokens: seeded.shards[i]!.agentTokens }));
    const afterAgents = await memoryOf(server.child);
    // Only Kefu's idle-desk chats get connected (a CONNECTED system message): the relay has no agent for them.
    const waitConnected = kefu && s.idleMode === 'connected';
    const idle = await timed((_, i) => ({ type: 'idle', channelKey: seeded.idleChannelKey, n: idleShares[i]!, waitConnected }));
    const idleConnected = idle.out.reduce((a, o) => a + (o.connected as number), 0);
    const afterIdle = await memoryOf(server.child);
    const idleSockets = Math.max(...idle.out.map((o) => o.connectSeconds as number));
    log(`${target}: ${step.idle} idle customers (session, chat, socket) in ${idleSockets.toFixed(0)} s, ${idleConnected} chats with an agent after ${idle.seconds.toFixed(0)} s; ${s.agents} agents in ${agents.seconds.toFixed(0)} s`);
    // With BENCH_CHAT_COUNT_QUERIES=1 the statements of starting the chats are counted too (per chat).
    const counting = kefu && process.env.BENCH_CHAT_COUNT_QUERIES === '1';
    if (counting) await ask(server.child, { type: 'cpu-start' }, 'cpu-started');
    const active = await timed((_, i) => ({ type: 'active', channelKey: seeded.shards[i]!.channelKey, n: activeShares[i]! }));
    if (counting) printQueries('starting the chatting customers\' chats', (await ask<{ queries: [string, number][] }>(server.child, { type: 'cpu-stop' }, 'cpu')).queries, step.active, 'chat');
    const activeFollowed = active.out.reduce((a, o) => a + (o.followed as number), 0);
    const afterActive = await memoryOf(server.child);
    log(`${target}: ${step.active} chatting customers in ${active.seconds.toFixed(0)} s, ${activeFollowed} followed by their agent`);
    await new Promise((r) => setTimeout(r, 2000));

    const paced = await phase(server.child, clients, 'paced', s.seconds, s.intervalMs);
    const loaded = await memoryOf(server.child);
    log(
      `${target} paced: ${paced.messagesPerSec.toFixed(0)} msg/s, customer->agent p50 ${percentile(paced.customerToAgent, 50).toFixed(1)} p99 ${percentile(paced.customerToAgent, 99).toFixed(1)} ms, round trip p99 ${percentile(paced.roundTrip, 99).toFixed(1)} ms, answered ${paced.answered}/${paced.sent}, errors ${paced.errors}`,
    );
    log(`${target} paced: ${stallLine(paced)}`);
    const closed = s.closedSeconds > 0 ? await phase(server.child, clients, 'closed', s.closedSeconds, s.intervalMs) : null;
    if (closed) {
      const pw = closed.pool ? `, pg pool: ${closed.pool.avgWaiting.toFixed(1)} waiting on average (max ${closed.pool.maxWaiting}), all ${closed.pool.size} taken ${(closed.pool.allBusyShare * 100).toFixed(0)}% of the time` : '';
      log(`${target} closed loop: ${closed.messagesPerSec.toFixed(0)} msg/s, round trip p50 ${percentile(closed.roundTrip, 50).toFixed(1)} p99 ${percentile(closed.roundTrip, 99).toFixed(1)} ms, server CPU ${(closed.serverCpuMs / Math.max(1, closed.acked)).toFixed(2)} ms/msg, errors ${closed.errors}${pw}`);
      log(`${target} closed loop: ${stallLine(closed)}`);
    }

    let check: Check | null = null;
    if (url) {
      const acked = (await Promise.all(clients.map((c) => ask<{ chats: { contactId: string; customer: number; agent: number; failed: number }[] }>(c, { type: 'acked' }, 'acked')))).flatMap((a) => a.chats);
      check = await checkStored(url, acked, (m) => log(`${target}: ${m}`));
    }
    return {
      target,
      idle: step.idle,
      active: step.active,
      agents: s.agents,
      seedSeconds: seeded.seconds,
      connectSeconds: { agents: agents.seconds, idle: idle.seconds, active: active.seconds },
      idleConnected,
      activeFollowed,
      memory: { base, agents: afterAgents, idle: afterIdle, active: afterActive, loaded },
      paced,
      closed,
      check,
      loadBefore,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await stopWhileUp?.();
    await Promise.all(clients.map(stop));
    await stop(server.child);
    if (url && process.env.BENCH_KEEP_DATABASES !== '1') await dropDatabase(database);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report

const fmt = (v: number) => (!Number.isFinite(v) ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const kib = (b: number) => `${(b / 1024).toFixed(1)}`;
const p = (v: number[], q: number) => fmt(percentile(v, q));
const int = (n: number) => Math.round(n).toLocaleString('en-US');

function perCustomer(r: StepResult): { rss: number; heap: number } {
  const n = r.idle + r.active;
  // Every connected customer: its socket, subscription, chat (router, read model) from before the first customer.
  return n > 0 ? { rss: (r.memory.active.rss - r.memory.agents.rss) / n, heap: (r.memory.active.heap - r.memory.agents.heap) / n } : { rss: NaN, heap: NaN };
}

export const chatBench: BenchModule = {
  name: 'chat',
  title: 'Chat: customers and agents over graphql-ws, messages stored, against a bare relay',
  describe() {
    const s = settings();
    return [
      `One Kefu process on PostgreSQL (its own database), steps of idle + chatting customers: ${s.steps.map((x) => `${int(x.idle)} + ${int(x.active)}`).join(', ')}; ${s.agents} agents.`,
      `Customers open a session with a web channel's key and start a chat over HTTP, with the channel's allowed Origin on every request and on the WebSocket upgrade, then keep one graphql-ws connection with \`conversationEvents\`. The per-visitor and per-address chat limits are off for the run (KEFU_CHAT_LIMIT_SESSION, _CHAT, _MESSAGE, _CHAT_PER_ADDRESS, _MESSAGE_PER_ADDRESS = 0): every client comes from 127.0.0.1.`,
      `Agents: one graphql-ws connection each with \`agentOffers\`; skill groups auto-accept (no accept step: the agent follows a chat once its offer shows ACCEPTED) and allow enough chats per agent for the step. ${s.idleMode === 'connected' ? 'Idle customers chat on an idle desk (its own group and channel, holder agents at 50 chats each, not connected): their chats are connected and silent; each opens its socket once its chat is connected (a subscription to a waiting chat re-reads its queue place on every contact or agent change of the instance: see BENCH_CHAT_IDLE_MODE=queued).' : 'Idle customers wait in the queue of a group with no agent online (BENCH_CHAT_IDLE_MODE=queued).'}`,
      `Paced: each chatting customer sends a message every ${s.intervalMs} ms (random phase) for ${s.seconds} s, and its agent answers each as it arrives on the agent's subscription (2 messages per round trip). Messages/s: sends acknowledged (an acknowledgement comes after the append to the event store) of round trips started in the window, over the window. Latencies: customer's send to the agent's frame, the agent's send to the customer's frame, customer's send to the answer's frame, and a send's acknowledgement.${s.closedSeconds > 0 ? ` Closed loop (${s.closedSeconds} s): each customer sends the next message as soon as the answer to the previous one arrived: the most messages/s. The ratio to the bare relay means something there, where both run at their most; paced, both get the same offered load.` : ''}`,
      'At the end every chatting customer\'s chat is counted in kefu_events and contact_messages against the clients\' acknowledged sends: nothing lost, nothing doubled, seq 1..n without a gap.',
      `Memory: Kefu's RSS and heap + external after GC, difference between before the first customer and after all connected, per customer. The bare relay: node:http + ws writing graphql-transport-ws frames, operations dispatched by name, no GraphQL execution and no store (bench/chat/server-child.ts).`,
      `Clients: ${s.clients} child processes (one shard each: its own group, channel and agents), lightweight (ws, node:http, only timestamps); their CPU is reported. Targets: 1,000 messages/s with p99 < 100 ms; 10,000 connected customers in under 1 GiB of Kefu memory; at least 0.3x the bare relay.`,
      'Settings: BENCH_CHAT_IDLE, BENCH_CHAT_ACTIVE (comma lists, one step per pair), BENCH_CHAT_AGENTS, BENCH_CHAT_INTERVAL_MS, BENCH_CHAT_SECONDS, BENCH_CHAT_CLOSED_SECONDS (0: none), BENCH_CHAT_CLIENT_PROCS, BENCH_CHAT_TARGETS, BENCH_CHAT_IDLE_MODE (connected, queued), BENCH_CHAT_CPU_PROF (a directory: CPU profiles of the server in each measured phase), BENCH_CHAT_COUNT_QUERIES=1 (the SQL statements Kefu sends per message, printed), BENCH_CHAT_HEAP_PROF (a directory: sampling heap profiles of the server in each measured phase, by default of what survived its scavenges) and BENCH_CHAT_V8_FLAGS (V8 flags of the server only, e.g. --trace-gc-nvp): see bench/chat/gc-trace.ts.',
    ].join('\n');
  },
  comparison: { numerator: 'kefu-postgres', denominator: 'bare-relay', title: 'Kefu / bare relay' },
  goal: { eventsPerSec: 1000, title: '1,000 msg/s' },
  async run(): Promise<ResultRow[]> {
    results.length = 0;
    const log = (m: string) => console.log(`  ${m}`);
    const s = settings();
    for (const step of s.steps) for (const target of s.targets) results.push(await runStep(target, step, log));
    const rows: ResultRow[] = [];
    for (const r of results) {
      const name = `${int(r.idle)} idle + ${int(r.active)} chatting customers, ${r.agents} agents`;
      rows.push({
        measurement: `chat-${r.idle}-${r.active}-paced`,
        label: `${name}: messages/s stored, paced (latency: customer's send to the agent's frame)`,
        target: r.target,
        events: r.paced.acked,
        ms: r.paced.windowMs,
        eventsPerSec: r.paced.messagesPerSec,
        p50Ms: percentile(r.paced.customerToAgent, 50),
        p99Ms: percentile(r.paced.customerToAgent, 99),
        perRound: [r.paced.messagesPerSec],
      });
      if (r.closed) {
        rows.push({
          measurement: `chat-${r.idle}-${r.active}-closed`,
          label: `${name}: messages/s stored, closed loop (latency: round trip)`,
          target: r.target,
          events: r.closed.acked,
          ms: r.closed.windowMs,
          eventsPerSec: r.closed.messagesPerSec,
          p50Ms: percentile(r.closed.roundTrip, 50),
          p99Ms: percentile(r.closed.roundTrip, 99),
          perRound: [r.closed.messagesPerSec],
        });
      }
    }
    return rows;
  },
  notes() {
    const lines: string[] = [
      '| target | idle + chatting | paced msg/s | customer→agent p50 / p99 ms | agent→customer p50 / p99 ms | round trip p50 / p99 ms | send ack p50 / p99 ms | answered / sent | server CPU ms per message | longest loop block ms | client CPU % of a core (each) | closed-loop msg/s | closed-loop round trip p50 / p99 ms | closed-loop server CPU ms per message | closed-loop client CPU % of a core (each) | errors |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ];
    for (const r of results) {
      const x = r.paced;
      const clientCpu = (y: PhaseResult) => y.clientCpuMs.map((c) => ((c / y.windowMs) * 100).toFixed(0)).join(', ');
      const c = r.closed;
      const closedCells = c ? `${int(c.messagesPerSec)} | ${p(c.roundTrip, 50)} / ${p(c.roundTrip, 99)} | ${fmt(c.serverCpuMs / Math.max(1, c.acked))} | ${clientCpu(c)}` : '- | - | - | -';
      lines.push(
        `| ${r.target} | ${int(r.idle)} + ${int(r.active)} | ${int(x.messagesPerSec)} | ${p(x.customerToAgent, 50)} / ${p(x.customerToAgent, 99)} | ${p(x.agentToCustomer, 50)} / ${p(x.agentToCustomer, 99)} | ${p(x.roundTrip, 50)} / ${p(x.roundTrip, 99)} | ${p(x.sendAck, 50)} / ${p(x.sendAck, 99)} | ${int(x.answered)} / ${int(x.sent)} | ${fmt(x.serverCpuMs / Math.max(1, x.acked))} | ${fmt(x.loopMaxMs)} | ${clientCpu(x)} | ${closedCells} | ${x.errors + (c?.errors ?? 0)} |`,
      );
    }
    lines.push('', '| target | idle + chatting | Kefu RSS before customers / connected / under load | RSS per connected customer KB | heap + external per connected customer KB | idle chats connected | chats followed by their agent | seed / connect agents / idle / chatting s | load before |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      const per = perCustomer(r);
      lines.push(
        `| ${r.target} | ${int(r.idle)} + ${int(r.active)} | ${mib(r.memory.agents.rss)} / ${mib(r.memory.active.rss)} / ${mib(r.memory.loaded.rss)} | ${kib(per.rss)} | ${kib(per.heap)} | ${int(r.idleConnected)} | ${int(r.activeFollowed)} | ${r.seedSeconds.toFixed(0)} / ${r.connectSeconds.agents.toFixed(0)} / ${r.connectSeconds.idle.toFixed(0)} / ${r.connectSeconds.active.toFixed(0)} | ${r.loadBefore.toFixed(1)} |`,
      );
    }
    const pooled = results.filter((r) => r.paced.pool);
    if (pooled.length > 0) {
      lines.push('', "| Kefu's pg pool | idle + chatting | size | paced: waiting avg / max, all taken % of samples | closed loop: waiting avg / max, all taken % |", '|---|---:|---:|---:|---:|');
      const cell = (x: PoolStats | null | undefined) => (x ? `${x.avgWaiting.toFixed(1)} / ${x.maxWaiting}, ${(x.allBusyShare * 100).toFixed(0)}%` : '-');
      for (const r of pooled) lines.push(`| ${r.target} | ${int(r.idle)} + ${int(r.active)} | ${r.paced.pool!.size} | ${cell(r.paced.pool)} | ${cell(r.closed?.pool)} |`);
    }
    const checks = results.filter((r) => r.check);
    if (checks.length > 0) {
      lines.push('', '| stored check | chats | customer messages stored / acknowledged | agent messages stored / acknowledged | failed sends | chats with a message lost | doubled | stored but unacknowledged | seq gaps | read model behind |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      for (const r of checks) {
        const c = r.check!;
        lines.push(`| ${int(r.idle)} + ${int(r.active)} | ${int(c.chats)} | ${int(c.customerStored)} / ${int(c.customerAcked)} | ${int(c.agentStored)} / ${int(c.agentAcked)} | ${c.failedSends} | ${c.lost} | ${c.doubled} | ${c.unacked} | ${c.gaps} | ${c.readModelMismatch} |`);
      }
    }
    const verdicts: string[] = [];
    for (const r of results.filter((x) => x.target === 'kefu-postgres')) {
      const bare = results.find((x) => x.target === 'bare-relay' && x.idle === r.idle && x.active === r.active);
      const c2a = percentile(r.paced.customerToAgent, 99);
      const parts = [
        `${int(r.idle)} + ${int(r.active)}: paced ${int(r.paced.messagesPerSec)} msg/s with customer→agent p99 ${fmt(c2a)} ms (target 1,000 msg/s, p99 < 100 ms: ${r.paced.messagesPerSec >= 1000 && c2a < 100 ? 'met' : 'not met'})`,
        `Kefu RSS ${mib(r.memory.active.rss)} with ${int(r.idle + r.active)} customers connected (target: 10,000 in under 1 GiB: ${r.idle + r.active >= 10_000 ? (r.memory.active.rss < 1024 ** 3 ? 'met' : 'not met') : 'step too small to say'})`,
      ];
      if (bare && r.closed && bare.closed) {
        const ratio = r.closed.messagesPerSec / bare.closed.messagesPerSec;
        parts.push(`closed loop ${ratio.toFixed(2)}x the bare relay (target >= 0.3x: ${ratio >= 0.3 ? 'met' : 'not met'})`);
      }
      if (r.check) parts.push(r.check.lost + r.check.doubled + r.check.gaps === 0 ? 'nothing lost, doubled or out of sequence' : `STORED CHECK FAILED (lost ${r.check.lost}, doubled ${r.check.doubled}, gaps ${r.check.gaps})`);
      verdicts.push(`- ${parts.join('; ')}.`);
    }
    return [...lines, '', ...verdicts].join('\n');
  },
};
