// A whole Kefu for the chat flow bench, in a process of its own so that the client's timing is not the
// server's event loop: DATABASE_URL (PostgreSQL), listening on 127.0.0.1 on a free port; sends { port }.
// The chat rate limits are off: the bench's customers all come from 127.0.0.1.
//
// Between { type: 'cpu-start' } and { type: 'cpu-stop' } it measures its own CPU time (process.cpuUsage) and
// counts the SQL statements it sends by their text (the first 100 characters), answered as { type: 'cpu' }:
// what a flow's send costs the server, a figure a loaded machine does not stretch as it does latency.
// BENCH_FLOW_CPU_PROF=<dir>: a CPU profile of each measured phase.
//
// BENCH_FLOW_STAGES=1: the stages of each request the bench tags (header x-bench-step: flow-1..3, plain-1..3), timed
// inside the server: the whole request (its 'request' event to the answer's 'finish'), the command's append
// (CommandHandler.handle, by command type), the settle wait (ProjectionRunner.waitFor), the SQL statements it sent
// (count, time from the call to the answer) and its waits for a pool connection; sent on { type: 'stages' }.
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** One tagged request's stages (ms); bench/chat-flow.ts reads them. */
export interface Stage {
  tag: string;
  /** When it arrived (performance.now of this process). */
  at: number;
  total: number;
  handle: number;
  commands: string[];
  wait: number;
  queries: number;
  /** The statements' texts (their first 60 characters). */
  texts: string[];
  queryMs: number;
  poolWait: number;
}
const stagesOn = process.env.BENCH_FLOW_STAGES === '1';
const requestStage = new AsyncLocalStorage<Stage>();
const stages: Stage[] = [];

/** `args` with its last function (a node-style callback) wrapped to call `after` first; false when there is none. */
function wrapCallback(args: unknown[], after: () => void): boolean {
  const i = args.findLastIndex((a) => typeof a === 'function');
  if (i < 0) return false;
  const cb = args[i] as (...a: unknown[]) => unknown;
  args[i] = (...a: unknown[]) => {
    after();
    return cb(...a);
  };
  return true;
}

const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  if (counting) {
    const q = args[0] as string | { text?: string };
    const text = (typeof q === 'string' ? q : (q?.text ?? '?')).replace(/\s+/g, ' ').trim().slice(0, 100);
    queryCounts.set(text, (queryCounts.get(text) ?? 0) + 1);
  }
  const stage = stagesOn ? requestStage.getStore() : undefined;
  if (!stage) return query.apply(this, args);
  const t0 = performance.now();
  stage.queries++;
  const q = args[0] as string | { text?: string };
  stage.texts.push((typeof q === 'string' ? q : (q?.text ?? '?')).replace(/\s+/g, ' ').trim().slice(0, 60));
  const done = () => (stage.queryMs += performance.now() - t0);
  if (wrapCallback(args, done)) return query.apply(this, args);
  const r = query.apply(this, args) as Promise<unknown> | undefined;
  return r && typeof r.then === 'function' ? r.finally(done) : r;
} as typeof pg.Client.prototype.query;

if (stagesOn) {
  const connect = pg.Pool.prototype.connect as (...args: unknown[]) => unknown;
  pg.Pool.prototype.connect = function (this: pg.Pool, ...args: unknown[]) {
    const stage = requestStage.getStore();
    if (!stage) return connect.apply(this, args);
    const t0 = performance.now();
    const done = () => (stage.poolWait += performance.now() - t0);
    if (wrapCallback(args, done)) return connect.apply(this, args);
    return (connect.apply(this, args) as Promise<unknown>).finally(done);
  } as typeof pg.Pool.prototype.connect;
}

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
if (stagesOn) {
  // Every request of the bench runs in its own stage context, from the server's 'request' event on.
  const server = kefu.app.server;
  for (const listener of server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[]) {
    server.off('request', listener);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const tag = req.headers['x-bench-step'];
      if (typeof tag !== 'string') return listener(req, res);
      const stage: Stage = { tag, at: performance.now(), total: 0, handle: 0, commands: [], wait: 0, queries: 0, texts: [], queryMs: 0, poolWait: 0 };
      res.once('finish', () => {
        stage.total = performance.now() - stage.at;
        stages.push(stage);
      });
      requestStage.run(stage, () => listener(req, res));
    });
  }
  const commands = kefu.commands as unknown as { handle: (stream: string, decider: unknown, command: { type: string }) => Promise<unknown> };
  const handle = commands.handle.bind(commands);
  commands.handle = async (stream, decider, command) => {
    const stage = requestStage.getStore();
    const t0 = performance.now();
    try {
      return await handle(stream, decider, command);
    } finally {
      if (stage) {
        stage.handle += performance.now() - t0;
        stage.commands.push(command.type);
      }
    }
  };
  const readModels = kefu.projections as unknown as { waitFor: (...args: unknown[]) => Promise<boolean> };
  const waitFor = readModels.waitFor.bind(readModels);
  readModels.waitFor = async (...args: unknown[]) => {
    const stage = requestStage.getStore();
    const t0 = performance.now();
    try {
      return await waitFor(...args);
    } finally {
      if (stage) stage.wait += performance.now() - t0;
    }
  };
}
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
    } else if (m.type === 'stages') {
      process.send!({ type: 'stages', stages: stages.splice(0) });
    } else if (m.type === 'stop') {
      void kefu.close().finally(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  })();
});
