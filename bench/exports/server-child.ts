// A whole Kefu for the CSV export bench, in a process of its own so its memory is Kefu's alone:
// DATABASE_URL (PostgreSQL), listening on 127.0.0.1 on a free port; sends { port }. It samples its own
// resident set every 20 ms and answers { type: 'memory' } with the idle figure (after a GC) and the peak
// since the last { type: 'reset' }. Started with --expose-gc.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { benchKefuSettings } from '../lib/config.ts';
import { startKefu } from '../../src/main.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-exports-'));
const kefu = await startKefu(
  loadConfig(benchKefuSettings(dir)),
  { logger: pino({ level: 'silent' }), listen: true },
);

let peakRss = process.memoryUsage().rss;
let peakHeap = process.memoryUsage().heapUsed;
// BENCH_EXPORT_PROBE_RETAINED=1: a full GC every 250 ms and the heap left after it (memory the export
// really holds, as against garbage not yet collected). Slows the export; a diagnosis, not the measurement.
let peakRetained = 0;
const probeRetained = process.env.BENCH_EXPORT_PROBE_RETAINED === '1';
setInterval(() => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
}, 20).unref();
if (probeRetained) {
  setInterval(() => {
    (globalThis as { gc?: () => void }).gc?.();
    peakRetained = Math.max(peakRetained, process.memoryUsage().heapUsed);
  }, 250).unref();
}

// BENCH_EXPORT_ALLOCATIONS=<file>: V8's sampling heap profiler from each reset to the next memory report,
// counting objects the young and old generation collections freed too (where the export's garbage is made);
// written as a .heapprofile (Chrome DevTools) to <file>.<n>.heapprofile. A diagnosis, not the measurement.
const allocationsFile = process.env.BENCH_EXPORT_ALLOCATIONS;
const inspector = allocationsFile ? new Session() : null;
inspector?.connect();
const post = (method: string, params: object = {}) =>
  new Promise<unknown>((resolve, reject) => inspector!.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
let profiles = 0;

const gc = (globalThis as { gc?: () => void }).gc;
process.send!({ type: 'ready', port: (kefu.app.server.address() as { port: number }).port });
process.on('message', (m) => {
  const type = (m as { type?: string }).type;
  if (type === 'reset') {
    gc?.();
    const now = process.memoryUsage();
    peakRss = now.rss;
    peakHeap = now.heapUsed;
    peakRetained = now.heapUsed;
    const sampling = inspector
      ? post('HeapProfiler.startSampling', { samplingInterval: 64 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
      : Promise.resolve();
    void sampling.then(() => process.send!({ type: 'memory', idleRss: now.rss, idleHeap: now.heapUsed }));
  } else if (type === 'memory') {
    const saved = inspector
      ? post('HeapProfiler.stopSampling').then((r) => writeFileSync(`${allocationsFile}.${++profiles}.heapprofile`, JSON.stringify((r as { profile: unknown }).profile)))
      : Promise.resolve();
    void saved.then(() => process.send!({ type: 'memory', peakRss, peakHeap, ...(probeRetained ? { peakRetained } : {}) }));
  } else if (type === 'stop') {
    void kefu.close().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  }
});
