// The server side of the chat bench (bench/chat.ts), in its own process so that its CPU and memory are measured
// alone. BENCH_CHAT_MODE=kefu: a whole Kefu on DATABASE_URL (PostgreSQL), listening on 127.0.0.1, with the chat
// rate limits off (the bench's thousands of customers all come from 127.0.0.1). On `seed` it creates an
// instance, one ONLINE skill group + web channel per client shard (auto-accept, its agents AVAILABLE), and an
// "idle desk" (group, channel, holder agents at 50 chats each) whose chats stay connected and silent.
// BENCH_CHAT_MODE=bare: the ceiling, a minimal relay on the same stack (node:http + ws, graphql-transport-ws
// frames) that answers the same operations by name with no GraphQL execution and no store: a chat is handed
// to the next agent of its shard (an agentOffers frame), a message gets the next seq and is written to the
// conversation's subscribers.
// IPC from the parent: `seed`, `cpu-start` / `cpu-stop` (CPU time, longest event-loop block), `memory`
// (heap + external after GC, and RSS), `close`.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import pg from 'pg';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadConfig } from '../../src/config.ts';
import { startKefu, type Kefu } from '../../src/main.ts';
import { startTracing } from '../../src/adapters/observability/tracing.ts';
import { heapProfileStart, heapProfileStop, setV8Flags } from './gc-trace.ts';

setV8Flags();

export const benchOrigin = 'https://shop.bench.example';
const operatorToken = 'bench-operator-token-0123456789';
const mode = process.env.BENCH_CHAT_MODE ?? 'kefu';
const loop = monitorEventLoopDelay({ resolution: 1 });
let cpuAtStart = process.cpuUsage();

/** What the parent asks for: shards of agents (one group and channel each), and the idle desk's size. */
export interface SeedRequest {
  type: 'seed';
  shards: number;
  agentsPerShard: number;
  maxConcurrency: number;
  idleHolders: number;
}

/** Per shard: its channel key and its agents' tokens; the idle desk's channel key. */
export interface Seeded {
  type: 'seeded';
  shards: { channelKey: string; agentTokens: string[] }[];
  idleChannelKey: string;
  seconds: number;
}

type Message = SeedRequest | { type: 'cpu-start' } | { type: 'cpu-stop' } | { type: 'memory' } | { type: 'close' };

// ---------------------------------------------------------------------------------------------------------
// Kefu

async function gql(kefu: Kefu, token: string | null, query: string, variables: object = {}) {
  const res = await kefu.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    payload: JSON.stringify({ query, variables }),
  });
  const body = res.json() as { data: Record<string, Record<string, unknown>>; errors?: unknown };
  if (body.errors) throw new Error(`${query.slice(0, 60)}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

async function seedKefu(kefu: Kefu, r: SeedRequest): Promise<Seeded> {
  const started = performance.now();
  const created = await gql(kefu, operatorToken, 'mutation { createInstance(input: { name: "Chat bench" }) { instance { id } adminApiKey } }');
  const instanceId = (created.createInstance!.instance as { id: string }).id;
  const admin = created.createInstance!.adminApiKey as string;
  const seats = r.shards * r.agentsPerShard + r.idleHolders + 5;
  await gql(kefu, operatorToken, 'mutation($id: ID!, $n: Int!) { purchaseSeats(input: { instanceId: $id, seats: $n }) { seats } }', { id: instanceId, n: seats });
  // bench/observability.ts: webhooks to its local receiver, before the first chat (JSON { urls, kinds }).
  if (process.env.BENCH_CHAT_WEBHOOKS) {
    const hooks = JSON.parse(process.env.BENCH_CHAT_WEBHOOKS) as { urls: string[]; kinds: string[] };
    for (const url of hooks.urls) {
      await gql(kefu, admin, 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }', { input: { url, eventKinds: hooks.kinds } });
    }
  }

  /** A group with its agents (created, logged in, AVAILABLE) and a web channel on it. */
  const desk = async (name: string, agents: number, maxConcurrency: number) => {
    const groupId = (await gql(kefu, admin, 'mutation($input: CreateSkillGroupInput!) { createSkillGroup(input: $input) { id } }', {
      input: { name, channel: 'ONLINE', maxConcurrency, autoAccept: true, ringTimeoutSeconds: 60 },
    })).createSkillGroup!.id as string;
    const tokens = await inParallel(
      Array.from({ length: agents }, (_, i) => `${name.toLowerCase().replace(/[^a-z0-9]+/g, '.')}.${i}`),
      8,
      async (login) => {
        const agentId = (await gql(kefu, admin, 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', { input: { name: login, login, password: 'password-123' } })).createAgent!.id as string;
        await gql(kefu, admin, 'mutation($g: ID!, $a: ID!) { setSkillGroupMember(input: { skillGroupId: $g, agentId: $a }) { id } }', { g: groupId, a: agentId });
        const token = (await gql(kefu, null, 'mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }', { input: { instanceId, login, password: 'password-123' } })).loginAgent!.token as string;
        await gql(kefu, token, 'mutation { setPresence(input: { presence: AVAILABLE }) { id } }');
        return token;
      },
    );
    const channelKey = (await gql(kefu, admin, 'mutation($input: CreateWebChannelInput!) { createWebChannel(input: $input) { webChannel { publicKey } } }', {
      input: { name, allowedOrigins: [benchOrigin], skillGroupId: groupId },
    })).createWebChannel!.webChannel as { publicKey: string };
    return { channelKey: channelKey.publicKey, agentTokens: tokens };
  };

  const shards = [];
  for (let s = 0; s < r.shards; s++) shards.push(await desk(`Shard ${s}`, r.agentsPerShard, r.maxConcurrency));
  // With no holders (BENCH_CHAT_IDLE_MODE=queued) the idle chats wait in the queue (no agent online: WAIT).
  const idle = await desk('Idle desk', r.idleHolders, 50);
  return { type: 'seeded', shards, idleChannelKey: idle.channelKey, seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------------------------
// The bare relay

interface BareChat {
  seq: number;
  subscribers: Map<WebSocket, string>;
}

function startBare(): Promise<{ port: number; seed: (r: SeedRequest) => Seeded; close: () => Promise<void> }> {
  const chats = new Map<string, BareChat>();
  /** Agents' sockets (and their agentOffers subscription id) per shard, in the order they subscribed. */
  const agents = new Map<number, { socket: WebSocket; id: string }[]>();
  const turn = new Map<number, number>();
  let nextId = 0;

  const reply = (res: ServerResponse, data: unknown) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ data }));
  };
  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const { operationName, variables } = JSON.parse(body) as { operationName: string; variables: { input: Record<string, unknown> } };
      const input = variables.input;
      switch (operationName) {
        case 'StartSession': {
          // The token names the channel (a shard number, or idle).
          const visitorId = `v_${(nextId++).toString(36).padStart(22, '0')}`;
          return reply(res, { startCustomerSession: { token: `${String(input.channelKey)}|${visitorId}`, visitorId } });
        }
        case 'StartChat': {
          const contactId = `c${nextId++}`;
          chats.set(contactId, { seq: 0, subscribers: new Map() });
          const channel = String(req.headers.authorization ?? '').slice('Bearer '.length).split('|')[0]!;
          const shard = channel.startsWith('bare-shard-') ? Number(channel.slice('bare-shard-'.length)) : -1;
          const desk = agents.get(shard);
          if (desk && desk.length > 0) {
            const k = turn.get(shard) ?? 0;
            turn.set(shard, k + 1);
            const agent = desk[k % desk.length]!;
            agent.socket.send(`{"type":"next","id":${JSON.stringify(agent.id)},"payload":{"data":{"agentOffers":{"state":"ACCEPTED","contact":{"id":"${contactId}"}}}}}`);
          }
          return reply(res, { startChat: { contactId, status: 'QUEUED', lastSeq: 0 } });
        }
        case 'Send': {
          const contactId = String(input.contactId);
          const chat = chats.get(contactId);
          if (!chat) {
            res.statusCode = 404;
            return res.end('{"errors":[{"message":"no such chat"}]}');
          }
          const message = input.message as { clientMessageId: string; text: string };
          const seq = ++chat.seq;
          const sender = String(req.headers.authorization ?? '').includes('|') ? 'CUSTOMER' : 'AGENT';
          const m = JSON.stringify({ seq, clientMessageId: message.clientMessageId, sender });
          for (const [socket, id] of chat.subscribers) socket.send(`{"type":"next","id":${JSON.stringify(id)},"payload":{"data":{"conversationEvents":{"kind":"MESSAGE","message":${m}}}}}`);
          return reply(res, { sendChatMessage: { seq } });
        }
        default:
          res.statusCode = 400;
          return res.end(`{"errors":[{"message":"unknown operation ${operationName}"}]}`);
      }
    });
  });
  const wss = new WebSocketServer({ server: http, path: '/graphql' });
  wss.on('connection', (socket) => {
    let token = '';
    const mine: { contactId: string }[] = [];
    socket.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { type: string; id?: string; payload?: { authorization?: string; query?: string; variables?: { c?: string } } };
      if (m.type === 'connection_init') {
        token = String(m.payload?.authorization ?? '').slice('Bearer '.length);
        socket.send('{"type":"connection_ack"}');
      } else if (m.type === 'subscribe') {
        if (m.payload?.query?.includes('agentOffers')) {
          const shard = Number(/^bare-agent-(\d+)-/.exec(token)?.[1] ?? -1);
          if (!agents.has(shard)) agents.set(shard, []);
          agents.get(shard)!.push({ socket, id: m.id! });
        } else {
          const contactId = String(m.payload?.variables?.c);
          chats.get(contactId)?.subscribers.set(socket, m.id!);
          mine.push({ contactId });
        }
      } else if (m.type === 'ping') socket.send('{"type":"pong"}');
    });
    socket.on('close', () => {
      for (const { contactId } of mine) chats.get(contactId)?.subscribers.delete(socket);
      for (const desk of agents.values()) {
        const i = desk.findIndex((a) => a.socket === socket);
        if (i >= 0) desk.splice(i, 1);
      }
    });
  });
  const seed = (r: SeedRequest): Seeded => ({
    type: 'seeded',
    shards: Array.from({ length: r.shards }, (_, s) => ({ channelKey: `bare-shard-${s}`, agentTokens: Array.from({ length: r.agentsPerShard }, (_, i) => `bare-agent-${s}-${i}`) })),
    idleChannelKey: 'bare-idle',
    seconds: 0,
  });
  return new Promise((resolve) =>
    http.listen(0, '127.0.0.1', () =>
      resolve({
        port: (http.address() as { port: number }).port,
        seed,
        close: () => new Promise((r) => wss.close(() => http.close(() => r()))),
      }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// BENCH_CHAT_CPU_PROF=<dir>: a CPU profile of each measured phase (between cpu-start and cpu-stop) only, not of
// the seeding and connecting around it. Open the .cpuprofile files in Chrome DevTools or speedscope.

const profileDir = process.env.BENCH_CHAT_CPU_PROF;
let profiler: Session | null = null;
let profiles = 0;

async function profileStart(): Promise<void> {
  if (!profileDir) return;
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 250 });
  await profiler.post('Profiler.start');
}

async function profileStop(): Promise<void> {
  if (!profiler || !profileDir) return;
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = null;
  writeFileSync(path.join(profileDir, `${mode}-${process.pid}-${++profiles}.cpuprofile`), JSON.stringify(profile));
}

// Stalls in a measured phase: each event-loop block over 50 ms (a 10 ms timer late by more), with the main
// thread's own CPU time in it (near the block's length: the thread ran something that long; far below: the
// process waited for a CPU on the loaded machine), and garbage collection's pauses per kind. BENCH_CHAT_STALLS=<file>
// also writes each block (ms since the phase's start, its length, its CPU, and its start in µs of the monotonic clock
// a CPU profile's timestamps use) as a JSON line, to be cut out of a profile.
export interface Stalls {
  blocks: number;
  blockMs: number;
  blockCpuMs: number;
  /** Blocks whose main-thread CPU was at least half their length (not a wait for a CPU). */
  cpuBlocks: number;
  gc: Record<string, { n: number; ms: number; maxMs: number }>;
}
const stallsFile = process.env.BENCH_CHAT_STALLS;
const gcKinds: Record<number, string> = { 1: 'scavenge', 2: 'minor-mark-sweep', 4: 'mark-sweep-compact', 8: 'incremental', 16: 'weak-callbacks' };
let stalls: Stalls = { blocks: 0, blockMs: 0, blockCpuMs: 0, cpuBlocks: 0, gc: {} };
let stallTimer: NodeJS.Timeout | null = null;
let phaseStart = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = gcKinds[((e as unknown as { detail?: { kind?: number } }).detail)?.kind ?? 0] ?? 'other';
    const g = (stalls.gc[kind] ??= { n: 0, ms: 0, maxMs: 0 });
    g.n++;
    g.ms += e.duration;
    g.maxMs = Math.max(g.maxMs, e.duration);
  }
});

function stallsStart(): void {
  stalls = { blocks: 0, blockMs: 0, blockCpuMs: 0, cpuBlocks: 0, gc: {} };
  phaseStart = performance.now();
  let last = phaseStart;
  let lastHr = process.hrtime.bigint();
  let lastCpu = process.threadCpuUsage();
  const tick = 10;
  stallTimer = setInterval(() => {
    const now = performance.now();
    const hr = process.hrtime.bigint();
    const cpu = process.threadCpuUsage();
    const late = now - last - tick;
    if (late > 50) {
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      stalls.blocks++;
      stalls.blockMs += late;
      stalls.blockCpuMs += cpuMs;
      if (cpuMs >= late / 2) stalls.cpuBlocks++;
      if (stallsFile) appendFileSync(stallsFile, JSON.stringify({ pid: process.pid, atMs: Math.round(last - phaseStart), ms: Math.round(late), cpuMs: Math.round(cpuMs), hrUs: Number(lastHr / 1000n) }) + '\n');
    }
    last = now;
    lastHr = hr;
    lastCpu = cpu;
  }, tick);
  gcObserver.observe({ entryTypes: ['gc'] });
}

function stallsStop(): Stalls {
  if (stallTimer) clearInterval(stallTimer);
  stallTimer = null;
  gcObserver.disconnect();
  return stalls;
}

// BENCH_CHAT_COUNT_QUERIES=1: every SQL statement Kefu sends during a measured phase, counted by its text (the
// first 120 characters, or BENCH_CHAT_QUERY_CHARS), reported with the phase's CPU time: where the statements per
// message come from.
const queryChars = Math.max(20, Number(process.env.BENCH_CHAT_QUERY_CHARS) || 120);
const queryCounts = new Map<string, number>();
let countingQueries = false;
if (process.env.BENCH_CHAT_COUNT_QUERIES === '1') {
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    if (countingQueries) {
      const q = args[0] as string | { text?: string };
      const text = (typeof q === 'string' ? q : (q?.text ?? '?')).replace(/\s+/g, ' ').trim().slice(0, queryChars);
      queryCounts.set(text, (queryCounts.get(text) ?? 0) + 1);
    }
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
}

// ---------------------------------------------------------------------------------------------------------

// Kefu's PostgreSQL pool, sampled every 5 ms in a measured phase: requests waiting for a connection, and how
// often every connection was taken (a pool too small for the load shows as waits with the CPU not busy).
let pool: pg.Pool | null = null;
let poolSampler: NodeJS.Timeout | null = null;

// PostgreSQL's CPU in a measured phase (it shares the machine with Kefu): user + system time of every backend of
// Kefu's database, from /proc/<pid>/stat (the server is local to the bench). A backend started in the phase
// counts from 0; one ended in it is missed (Kefu's pool keeps its connections through a run).
async function pgBackendTicks(): Promise<Map<number, number>> {
  const ticks = new Map<number, number>();
  if (!pool) return ticks;
  const r = await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()');
  for (const { pid } of r.rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(pid, Number(f[11]) + Number(f[12]));
    } catch {
      // Not on this machine's /proc (a remote server) or gone: not counted.
    }
  }
  return ticks;
}
let pgTicksAtStart = new Map<number, number>();
const poolSamples = { n: 0, waiting: 0, maxWaiting: 0, allBusy: 0 };

let close: () => Promise<void>;
let seed: (r: SeedRequest) => Promise<Seeded>;
if (mode === 'bare') {
  const bare = await startBare();
  close = bare.close;
  seed = (r) => Promise.resolve(bare.seed(r));
  process.send!({ type: 'ready', port: bare.port });
} else {
  const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-chat-'));
  const env: Record<string, string> = {
    KEFU_OPERATOR_TOKEN: operatorToken,
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    KEFU_SIP: 'off',
    KEFU_DATA_DIR: dir,
    // Every bench customer comes from 127.0.0.1: the per-visitor and per-address chat limits are off.
    KEFU_CHAT_LIMIT_SESSION: '0',
    KEFU_CHAT_LIMIT_CHAT: '0',
    KEFU_CHAT_LIMIT_MESSAGE: '0',
    KEFU_CHAT_LIMIT_CHAT_PER_ADDRESS: '0',
    KEFU_CHAT_LIMIT_MESSAGE_PER_ADDRESS: '0',
  };
  if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
  // Observability as bench/observability.ts sets it (off unless given): metrics token, OTLP endpoint, sampling.
  for (const name of ['KEFU_METRICS_TOKEN', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_TRACES_SAMPLER_ARG', 'KEFU_WEBHOOK_ALLOW_HTTP', 'KEFU_WEBHOOK_ALLOW_PRIVATE']) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  const config = loadConfig(env);
  // Traces as `node src/main.ts` starts them (on only with OTEL_EXPORTER_OTLP_ENDPOINT).
  const tracing = startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, sampleRatio: config.OTEL_TRACES_SAMPLER_ARG, serviceName: config.OTEL_SERVICE_NAME });
  // BENCH_CHAT_LOG_LEVEL (e.g. error): Kefu's log on the bench's stdout, to see what an INTERNAL_SERVER_ERROR a client got was.
  const kefu = await startKefu(config, { logger: pino({ level: process.env.BENCH_CHAT_LOG_LEVEL ?? 'silent' }), listen: true, ...(tracing ? { tracer: tracing.tracer } : {}) });
  close = async () => {
    await kefu.close();
    await tracing?.shutdown();
    rmSync(dir, { recursive: true, force: true });
  };
  seed = (r) => seedKefu(kefu, r);
  if (kefu.sql.kind === 'postgres') pool = kefu.sql.raw as pg.Pool;
  process.send!({ type: 'ready', port: (kefu.app.server.address() as { port: number }).port });
}

process.on('message', (raw) => {
  const m = raw as Message;
  void (async () => {
    try {
      if (m.type === 'seed') {
        process.send!(await seed(m));
      } else if (m.type === 'cpu-start') {
        await profileStart();
        await heapProfileStart();
        queryCounts.clear();
        countingQueries = true;
        Object.assign(poolSamples, { n: 0, waiting: 0, maxWaiting: 0, allBusy: 0 });
        const sampled = pool;
        if (sampled) {
          poolSampler = setInterval(() => {
            poolSamples.n++;
            poolSamples.waiting += sampled.waitingCount;
            poolSamples.maxWaiting = Math.max(poolSamples.maxWaiting, sampled.waitingCount);
            if (sampled.idleCount === 0 && sampled.totalCount >= (sampled.options.max ?? 10)) poolSamples.allBusy++;
          }, 5);
        }
        loop.reset();
        loop.enable();
        stallsStart();
        pgTicksAtStart = await pgBackendTicks();
        cpuAtStart = process.cpuUsage();
        process.send!({ type: 'cpu-started' });
      } else if (m.type === 'cpu-stop') {
        loop.disable();
        const cpu = process.cpuUsage(cpuAtStart);
        const pgTicks = await pgBackendTicks();
        let pgCpuTicks = 0;
        for (const [pid, t] of pgTicks) pgCpuTicks += t - (pgTicksAtStart.get(pid) ?? 0);
        const pgCpuMs = pool ? (pgCpuTicks * 1000) / 100 : null;
        const phaseStalls = stallsStop();
        await profileStop();
        await heapProfileStop();
        countingQueries = false;
        if (poolSampler) clearInterval(poolSampler);
        poolSampler = null;
        const queries = [...queryCounts].sort((a, b) => b[1] - a[1]);
        const n = Math.max(1, poolSamples.n);
        const poolStats = pool ? { size: pool.options.max ?? 10, avgWaiting: poolSamples.waiting / n, maxWaiting: poolSamples.maxWaiting, allBusyShare: poolSamples.allBusy / n } : null;
        process.send!({ type: 'cpu', cpuMs: (cpu.user + cpu.system) / 1000, systemMs: cpu.system / 1000, loopMaxMs: loop.max / 1e6, stalls: phaseStalls, queries, pool: poolStats, pgCpuMs });
      } else if (m.type === 'memory') {
        for (let i = 0; i < 3; i++) {
          globalThis.gc?.();
          await new Promise((r) => setImmediate(r));
        }
        const u = process.memoryUsage();
        process.send!({ type: 'memory', heap: u.heapUsed + u.external, rss: u.rss });
      } else {
        await close();
        process.exit(0);
      }
    } catch (err) {
      process.send!({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
