// A whole Kefu for the chat flow bench, in a process of its own so that the client's timing is not the
// server's event loop: DATABASE_URL (PostgreSQL), listening on 127.0.0.1 on a free port; sends { port }.
// The chat rate limits are off: the bench's customers all come from 127.0.0.1.
//
// Between { type: 'cpu-start' } and { type: 'cpu-stop' } it measures its own CPU time (process.cpuUsage) and
// counts the SQL statements it sends by their text (the first 100 characters), answered as { type: 'cpu' }:
// what a flow's send costs the server, a figure a loaded machine does not stretch as it does latency.
// BENCH_FLOW_CPU_PROF=<dir>: a CPU profile of each measured phase.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { benchKefuSettings, chatLimitsOff } from '../lib/config.ts';
import { startKefu } from '../../src/main.ts';

const queryCounts = new Map<string, number>();
let counting = false;
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  if (counting) {
    const q = args[0] as string | { text?: string };
    const text = (typeof q === 'string' ? q : (q?.text ?? '?')).replace(/\s+/g, ' ').trim().slice(0, 100);
    queryCounts.set(text, (queryCounts.get(text) ?? 0) + 1);
  }
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

const profileDir = process.env.BENCH_FLOW_CPU_PROF;
let profiler: Session | null = null;
let profiles = 0;
let cpuAtStart = process.cpuUsage();

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-chat-flow-'));
const kefu = await startKefu(
  loadConfig(
    benchKefuSettings(dir, {
      ...chatLimitsOff,
      ...(process.env.KEFU_PG_POOL_MAX ? { KEFU_PG_POOL_MAX: process.env.KEFU_PG_POOL_MAX } : {}),
    }),
  ),
  { logger: pino({ level: 'silent' }), listen: true },
);
process.send!({ type: 'ready', port: (kefu.app.server.address() as { port: number }).port });
process.on('message', (raw) => {
  const m = raw as { type?: string; label?: string };
  void (async () => {
    if (m.type === 'cpu-start') {
      if (profileDir) {
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.setSamplingInterval', { interval: 250 });
        await profiler.post('Profiler.start');
      }
      queryCounts.clear();
      counting = true;
      cpuAtStart = process.cpuUsage();
      process.send!({ type: 'cpu-started' });
    } else if (m.type === 'cpu-stop') {
      const cpu = process.cpuUsage(cpuAtStart);
      counting = false;
      if (profiler && profileDir) {
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        profiler = null;
        writeFileSync(path.join(profileDir, `chat-flow-${m.label ?? 'phase'}-${process.pid}-${++profiles}.cpuprofile`), JSON.stringify(profile));
      }
      process.send!({ type: 'cpu', cpuMs: (cpu.user + cpu.system) / 1000, queries: [...queryCounts].sort((a, b) => b[1] - a[1]) });
    } else if (m.type === 'stop') {
      void kefu.close().finally(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  })();
});
