// Chat CPU bench (issue 11): Kefu's CPU time per chat message on the send path, which holds on a loaded machine
// where messages per second do not. One Kefu process (bench/chat/server-child.ts) on PGlite (its own data dir)
// and on PostgreSQL (its own database), one client process (bench/chat/client-child.ts) with a few agents and
// BENCH_CHAT_CPU_CHATS chatting customers over graphql-ws in a closed loop (each customer's next message as soon
// as the agent's answer to the previous one arrived; the agent answers each at once). A warm-up loop first (JIT,
// caches), then the measured loop: Kefu's process.cpuUsage() (user + system) from its start until every round
// trip started in it completed, over the sends acknowledged (customer's and agent's): microseconds per message,
// each one parsed, authorized, decided, appended, projected and fanned out to both subscriptions.
// `node bench/chat-cpu.ts` prints the figures; `npm run bench -- chat-cpu` puts them in bench/RESULTS.md.
// BENCH_CHAT_CPU_PROF=<dir> writes a CPU profile of each measured loop (via server-child's BENCH_CHAT_CPU_PROF).
import type { ChildProcess } from 'node:child_process';
import { envInt, envList } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import type { Seeded } from './chat/server-child.ts';
import { ask, forkChild, stop } from './chat.ts';

const database = 'kefu_bench_chat_cpu';

const settings = () => {
  const targets = envList('BENCH_CHAT_CPU_TARGETS') ?? ['kefu-pglite', 'kefu-postgres'];
  const unknown = targets.filter((t) => t !== 'kefu-pglite' && t !== 'kefu-postgres');
  if (unknown.length > 0) throw new Error(`BENCH_CHAT_CPU_TARGETS: unknown ${unknown.join(', ')} (known: kefu-pglite, kefu-postgres)`);
  return {
    targets,
    chats: Math.max(1, envInt('BENCH_CHAT_CPU_CHATS', 20)),
    agents: Math.max(1, envInt('BENCH_CHAT_CPU_AGENTS', 5)),
    warmupSeconds: envInt('BENCH_CHAT_CPU_WARMUP_SECONDS', 5),
    seconds: Math.max(1, envInt('BENCH_CHAT_CPU_SECONDS', 15)),
    idleSeconds: Math.max(1, envInt('BENCH_CHAT_CPU_IDLE_SECONDS', 3)),
  };
};

interface Measured {
  target: string;
  messages: number;
  cpuMs: number;
  /** The part of cpuMs spent in the kernel (socket writes and reads: PostgreSQL's, the clients'). */
  systemMs: number;
  /** cpuMs less what Kefu spent idle (timers, polls) over as long. */
  netCpuMs: number;
  idleCpuMsPerSecond: number;
  windowMs: number;
  clientCpuMs: number;
  /** PostgreSQL's backends of Kefu's database over the same window (null on PGlite: in cpuMs). */
  pgCpuMs: number | null;
  /** SQL statements Kefu sent in the window (counted only with BENCH_CHAT_COUNT_QUERIES=1, else null). */
  statements: number | null;
  errors: number;
}

interface Ran {
  windowMs: number;
  sent: number;
  answered: number;
  acked: number;
  cpuMs: number;
  errors: number;
  firstErrors: string[];
}

async function measure(target: string, log: (m: string) => void): Promise<Measured> {
  const s = settings();
  const url = target === 'kefu-postgres' ? await recreateDatabase(database) : null;
  // Without DATABASE_URL the server child's Kefu runs on PGlite in a fresh data dir of its own.
  const server = await forkChild('./chat/server-child.ts', { BENCH_CHAT_MODE: 'kefu', DATABASE_URL: url ?? '' });
  let client: ChildProcess | null = null;
  try {
    const port = server.ready.port as number;
    const maxConcurrency = Math.min(50, Math.ceil(s.chats / s.agents) + 1);
    const seeded = await ask<Seeded>(server.child, { type: 'seed', shards: 1, agentsPerShard: s.agents, maxConcurrency, idleHolders: 0 }, 'seeded');
    client = (await forkChild('./chat/client-child.ts', {})).child;
    const c = client;
    await ask(c, { type: 'agents', port, tokens: seeded.shards[0]!.agentTokens }, 'done');
    const active = await ask<{ followed: number; firstErrors: string[] }>(c, { type: 'active', channelKey: seeded.shards[0]!.channelKey, n: s.chats }, 'done');
    if (active.followed < s.chats) throw new Error(`${target}: only ${active.followed} of ${s.chats} chats followed by an agent; first errors: ${active.firstErrors.join(' | ')}`);
    if (s.warmupSeconds > 0) await ask<Ran>(c, { type: 'run', phase: 'closed', seconds: s.warmupSeconds, intervalMs: 1000, drainMs: 120_000 }, 'ran');
    // Kefu's CPU with no message in flight (timers, polls), per second: taken off the measured loop's CPU for
    // the net figure, which a slow (loaded) machine's few messages per second would otherwise inflate.
    await ask(server.child, { type: 'cpu-start' }, 'cpu-started');
    const idleStarted = performance.now();
    await new Promise((r) => setTimeout(r, s.idleSeconds * 1000));
    const idle = await ask<{ cpuMs: number }>(server.child, { type: 'cpu-stop' }, 'cpu');
    const idleCpuPerMs = idle.cpuMs / (performance.now() - idleStarted);
    await ask(server.child, { type: 'cpu-start' }, 'cpu-started');
    const started = performance.now();
    const ran = await ask<Ran>(c, { type: 'run', phase: 'closed', seconds: s.seconds, intervalMs: 1000, drainMs: 120_000 }, 'ran');
    const cpu = await ask<{ cpuMs: number; systemMs: number; queries: [string, number][]; pgCpuMs: number | null }>(server.child, { type: 'cpu-stop' }, 'cpu');
    const measuredMs = performance.now() - started;
    if (ran.errors > 0) log(`${target}: ${ran.errors} client errors: ${ran.firstErrors.join(' | ')}`);
    if (ran.answered < ran.sent || ran.acked < 2 * ran.sent) throw new Error(`${target}: ${ran.sent} round trips, ${ran.answered} answered, ${ran.acked} sends acknowledged (expected ${2 * ran.sent})`);
    const idleCpuMs = Math.min(cpu.cpuMs, idleCpuPerMs * measuredMs);
    const m: Measured = { target, messages: ran.acked, cpuMs: cpu.cpuMs, systemMs: cpu.systemMs, netCpuMs: cpu.cpuMs - idleCpuMs, idleCpuMsPerSecond: idleCpuPerMs * 1000, windowMs: ran.windowMs, clientCpuMs: ran.cpuMs, pgCpuMs: cpu.pgCpuMs, statements: cpu.queries.length > 0 ? cpu.queries.reduce((n, [, k]) => n + k, 0) : null, errors: ran.errors };
    // BENCH_CHAT_COUNT_QUERIES=1: the SQL statements Kefu sent in the measured loop, per message.
    for (const [text, n] of cpu.queries.slice(0, 30)) log(`  ${(n / m.messages).toFixed(2).padStart(6)}/message  ${text}`);
    log(`${target}: ${summary(m)}`);
    return m;
  } finally {
    if (client) await stop(client);
    await stop(server.child);
    if (url && process.env.BENCH_KEEP_DATABASES !== '1') await dropDatabase(database);
  }
}

const us = (ms: number, n: number) => ((ms * 1000) / Math.max(1, n)).toFixed(0);
const summary = (m: Measured) =>
  `${m.messages} messages in ${(m.windowMs / 1000).toFixed(0)} s, Kefu CPU ${us(m.cpuMs, m.messages)} us per message (${us(m.systemMs, m.messages)} us in the kernel), ${us(m.netCpuMs, m.messages)} us net of idle (idle: ${m.idleCpuMsPerSecond.toFixed(0)} ms CPU per s); clients ${us(m.clientCpuMs, m.messages)} us per message${m.pgCpuMs === null ? '' : `; PostgreSQL ${us(m.pgCpuMs, m.messages)} us per message`}${m.statements === null ? '' : `; ${(m.statements / Math.max(1, m.messages)).toFixed(2)} statements per message`}`;

const results: Measured[] = [];

export const chatCpuBench: BenchModule = {
  name: 'chat-cpu',
  title: 'Chat: Kefu CPU time per message (send path)',
  describe() {
    const s = settings();
    return [
      `One Kefu process (PGlite in its own data dir; PostgreSQL in its own database) and one client process: ${s.agents} agents (auto-accepting skill group), ${s.chats} customers chatting over graphql-ws (\`conversationEvents\` on both sides), closed loop: each customer sends the next message as soon as its agent's answer to the previous one arrived, the agent answers each at once (sendChatMessage over HTTP, both sides).`,
      `${s.warmupSeconds} s of warm-up, then ${s.seconds} s measured: Kefu's CPU time (user + system, process.cpuUsage()) from the start until every round trip started in the window completed, over the sends acknowledged. The figure holds on a loaded machine where messages/s do not. Kefu's CPU in ${s.idleSeconds} s with nothing in flight (timers, polls), per second, is taken off for the net figure. The "messages/s" column is messages per second of net Kefu CPU (1e6 / net microseconds per message).`,
      'Settings: BENCH_CHAT_CPU_TARGETS (kefu-pglite, kefu-postgres), BENCH_CHAT_CPU_CHATS, BENCH_CHAT_CPU_AGENTS, BENCH_CHAT_CPU_WARMUP_SECONDS, BENCH_CHAT_CPU_SECONDS, BENCH_CHAT_CPU_IDLE_SECONDS, BENCH_CHAT_CPU_PROF (a directory: a CPU profile of Kefu in each measured loop).',
    ].join('\n');
  },
  comparison: null,
  async run(): Promise<ResultRow[]> {
    results.length = 0;
    const log = (m: string) => console.log(`  ${m}`);
    for (const target of settings().targets) results.push(await measure(target, log));
    return results.map((r) => {
      const perCpuSecond = r.messages / (r.netCpuMs / 1000);
      return {
        measurement: 'chat-cpu-closed',
        label: 'chat messages per second of Kefu CPU, closed loop',
        target: r.target,
        events: r.messages,
        ms: r.netCpuMs,
        eventsPerSec: perCpuSecond,
        p50Ms: NaN,
        p99Ms: NaN,
        perRound: [perCpuSecond],
      };
    });
  },
  notes() {
    return results.map((r) => `- ${r.target}: ${summary(r)}.`).join('\n');
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const log = (m: string) => console.log(m);
  for (const target of settings().targets) await measure(target, log);
}
