// The Kefu under test of bench/wechat.ts: a whole Kefu on PostgreSQL (DATABASE_URL), listening on a port it
// reports over IPC; stopped by a 'stop' message. Chat rate limits are off (every bench customer is 127.0.0.1).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { startKefu } from '../../src/main.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-wechat-'));
const env: Record<string, string> = {
  KEFU_OPERATOR_TOKEN: process.env.BENCH_OPERATOR_TOKEN ?? 'bench-wechat-operator-token',
  LOG_LEVEL: 'silent',
  PORT: '0',
  HOST: '127.0.0.1',
  KEFU_SIP: 'off',
  KEFU_AV: 'off',
  KEFU_DATA_DIR: dir,
  KEFU_CHAT_LIMIT_SESSION: '0',
  KEFU_CHAT_LIMIT_CHAT: '0',
  KEFU_CHAT_LIMIT_MESSAGE: '0',
  KEFU_CHAT_LIMIT_CHAT_PER_ADDRESS: '0',
  KEFU_CHAT_LIMIT_MESSAGE_PER_ADDRESS: '0',
  DATABASE_URL: process.env.DATABASE_URL ?? '',
  ...(process.env.KEFU_PG_POOL_MAX ? { KEFU_PG_POOL_MAX: process.env.KEFU_PG_POOL_MAX } : {}),
  // Passed on when set: KEFU_WECHAT_ANSWER_WAIT_MS=4000 answers WeChat once the push's effect is made (as before the intake).
  ...(process.env.KEFU_WECHAT_ANSWER_WAIT_MS ? { KEFU_WECHAT_ANSWER_WAIT_MS: process.env.KEFU_WECHAT_ANSWER_WAIT_MS } : {}),
};
const kefu = await startKefu(loadConfig(env), { logger: pino({ level: 'silent' }), listen: true });
let cpuAtStart = process.cpuUsage();
// Inside Kefu, for each measured part: the answer's time from its request's headers to its handing to the socket (the
// bench's own time adds the client's and the kernel's share), how late the event loop ran, and GC pauses.
let answers: number[] = [];
let refusals = new Map<number, number>();
// The bench's requests by their x-bench-seq: [seq, headers read, answer written] (ms on the machine's monotonic
// clock, as the bench's own marks).
// The largest of a few readings: one the process was preempted in the middle of comes out smaller.
const monotonic = Math.max(...Array.from({ length: 9 }, () => Number(process.hrtime.bigint()) / 1e6 - performance.now()));
let marks: [number, number, number][] = [];
let connections = 0;
kefu.app.server.on('connection', () => connections++);
kefu.app.server.on('request', (req, res) => {
  if (req.method !== 'POST') return;
  const started = performance.now();
  const seq = req.headers['x-bench-seq'];
  // The answer's end: when it is handed to the socket (res.end writes it then), not 'finish', which comes from the
  // write's callback on a later turn of the loop: behind whatever else runs then (up to tens of ms under load).
  let ended = 0;
  const end = res.end as (...args: unknown[]) => unknown;
  res.end = ((...args: unknown[]) => {
    ended = performance.now();
    return end.apply(res, args);
  }) as typeof res.end;
  res.once('finish', () => {
    const now = ended || performance.now();
    answers.push(now - started);
    if (typeof seq === 'string') marks.push([Number(seq), monotonic + started, monotonic + now]);
    if (res.statusCode !== 200) refusals.set(res.statusCode, (refusals.get(res.statusCode) ?? 0) + 1);
  });
});
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
let gcPauses: number[] = [];
// The young generation's (scavenges): how often they come is what a push allocates; how long, what survives them.
let youngPauses: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcPauses.push(e.duration);
    if (((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) youngPauses.push(e.duration);
  }
}).observe({ entryTypes: ['gc'] });
const percentileOf = (values: number[], p: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
// BENCH_WECHAT_PROF=<file>: a V8 CPU profile of the first measured part (the paced WeChat part), for where Kefu's time goes.
const profFile = process.env.BENCH_WECHAT_PROF;
// BENCH_WECHAT_HEAP_PROF=<file>: a sampling heap profile of the same part, counting what young GCs collect too
// (what a push allocates: the scavenges' frequency), for where the garbage comes from.
const heapProfFile = process.env.BENCH_WECHAT_HEAP_PROF;
const inspector = profFile || heapProfFile ? new Session() : null;
let profiling = false;
process.send!({ type: 'ready', port: (kefu.app.server.address() as { port: number }).port });
process.on('message', (raw) => {
  const m = raw as { type: string };
  void (async () => {
    if (m.type === 'cpu-start') {
      if (inspector && !profiling) {
        profiling = true;
        inspector.connect();
        if (profFile) {
          await inspector.post('Profiler.enable');
          await inspector.post('Profiler.setSamplingInterval', { interval: 250 });
          await inspector.post('Profiler.start');
        }
        if (heapProfFile) await inspector.post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      }
      cpuAtStart = process.cpuUsage();
      answers = [];
      marks = [];
      connections = 0;
      refusals = new Map();
      gcPauses = [];
      youngPauses = [];
      loopDelay.reset();
      process.send!({ type: 'cpu-started' });
    } else if (m.type === 'cpu-stop') {
      const cpu = process.cpuUsage(cpuAtStart);
      if (inspector && profiling) {
        if (profFile) writeFileSync(profFile, JSON.stringify((await inspector.post('Profiler.stop')).profile));
        if (heapProfFile) writeFileSync(heapProfFile, JSON.stringify((await inspector.post('HeapProfiler.stopSampling')).profile));
        inspector.disconnect();
      }
      process.send!({
        type: 'cpu',
        cpuMs: (cpu.user + cpu.system) / 1000,
        marks,
        inside: {
          connections,
          answers: answers.length,
          notOk: Object.fromEntries(refusals),
          p50Ms: percentileOf(answers, 50),
          p99Ms: percentileOf(answers, 99),
          loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
          loopDelayMaxMs: loopDelay.max / 1e6,
          gcMs: gcPauses.reduce((a, b) => a + b, 0),
          gcMaxMs: Math.max(0, ...gcPauses),
          youngGcs: youngPauses.length,
          youngGcMs: youngPauses.reduce((a, b) => a + b, 0),
          youngGcMaxMs: Math.max(0, ...youngPauses),
        },
      });
    } else {
      await kefu.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  })();
});
