// The Kefu of the AV bench (bench/av.ts), in a process of its own so that its CPU time is its own: a whole
// Kefu on DATABASE_URL (PostgreSQL) with AV calls on, browsers reaching it on 127.0.0.1 (ICE-lite host
// candidate), recordings on (one WebM per participant) in BENCH_AV_DATA_DIR. The per-address limits are
// lifted: every stand-in browser comes from 127.0.0.1. Sends { port } once it listens; stops on 'stop'.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { benchKefuSettings, chatLimitsOff } from '../lib/config.ts';
import { startKefu } from '../../src/main.ts';

const dir = process.env.BENCH_AV_DATA_DIR;
if (!dir) throw new Error('BENCH_AV_DATA_DIR is not set');
const kefu = await startKefu(
  loadConfig(
    benchKefuSettings(dir, {
      ...chatLimitsOff,
      KEFU_AV: 'on',
      KEFU_AV_RECORDING: process.env.BENCH_AV_RECORDING ?? 'on',
      // BENCH_AV_MEDIA_THREADS: the calls' media on that many worker threads (KEFU_AV_MEDIA_THREADS; 0: the main thread).
      ...(process.env.BENCH_AV_MEDIA_THREADS ? { KEFU_AV_MEDIA_THREADS: process.env.BENCH_AV_MEDIA_THREADS } : {}),
      KEFU_AV_PUBLIC_ADDRESS: '127.0.0.1',
      KEFU_AV_BIND: '127.0.0.1',
      KEFU_AV_ALLOWED_CANDIDATES: '127.0.0.0/8',
      KEFU_AV_MAX_PER_ADDRESS: '10000',
      KEFU_AV_CONNECT_TIMEOUT_MS: '120000',
      KEFU_AV_GRACE_MS: '20000',
      // Few statements while calls run (the media does not touch the database): a small pool leaves the shared
      // PostgreSQL's connections to others (BENCH_AV_PG_POOL to change).
      KEFU_PG_POOL_MAX: process.env.BENCH_AV_PG_POOL ?? '8',
    }),
  ),
  { logger: pino({ level: process.env.BENCH_AV_LOG ?? 'silent' }), listen: true },
);
process.send!({ type: 'ready', port: (kefu.app.server.address() as { port: number }).port });
// The event loop's delays over the bench's window ('loop-start', then 'loop': the longest and p99, ms).
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
// BENCH_AV_PROF=<dir>: a V8 CPU profile of each window (av-<n>.cpuprofile), for where Kefu's time goes.
const profDir = process.env.BENCH_AV_PROF;
const inspector = profDir ? new Session() : null;
let profiles = 0;
process.on('message', (m) => {
  const type = (m as { type?: string }).type;
  if (type === 'loop-start') {
    void (async () => {
      if (inspector) {
        inspector.connect();
        await inspector.post('Profiler.enable');
        await inspector.post('Profiler.start');
      }
      loop.reset();
      process.send!({ type: 'loop-started' });
    })();
  } else if (type === 'loop') {
    const seen = { type: 'loop', maxMs: loop.max / 1e6, p99Ms: loop.percentile(99) / 1e6 };
    void (async () => {
      if (inspector && profDir) {
        const { profile } = await inspector.post('Profiler.stop');
        writeFileSync(path.join(profDir, `av-${++profiles}.cpuprofile`), JSON.stringify(profile));
        inspector.disconnect();
      }
      process.send!(seen);
    })();
  }
  if (type !== 'stop') return;
  void kefu.close().finally(() => process.exit(0));
});
