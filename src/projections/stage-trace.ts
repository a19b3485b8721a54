// Stage timings of the write path (append queued, sent, committed; projection batch read, applied; settle), for
// finding where a message waits. Off unless KEFU_STAGE_TRACE names a file: then every few seconds the window's
// figures per stage (count, mean, p50, p90, p99, max in ms) are appended to it as one JSON line. A measuring aid:
// nothing reads these figures, and off they cost a property read per stage.
import { appendFileSync } from 'node:fs';

const file = process.env.KEFU_STAGE_TRACE || null;
const windowMs = Number(process.env.KEFU_STAGE_TRACE_MS ?? 2000);

const samples = new Map<string, number[]>();
let timer: NodeJS.Timeout | null = null;

/** When each event handed out from memory was committed (performance.now()), for the readers' stages. */
export const committedAt = new WeakMap<object, number>();

export const stageTrace = {
  enabled: file !== null,
  /** Records `value` (ms, or a count) under `stage`. */
  add(stage: string, value: number): void {
    if (!file) return;
    let s = samples.get(stage);
    if (!s) samples.set(stage, (s = []));
    if (s.length < 200_000) s.push(value);
    if (!timer) {
      timer = setInterval(dump, windowMs);
      timer.unref();
    }
  },
  /** Records the time since `since` (performance.now()) under `stage`. */
  since(stage: string, since: number | undefined): void {
    if (!file || since === undefined) return;
    this.add(stage, performance.now() - since);
  },
};

function dump(): void {
  if (!file || samples.size === 0) return;
  const out: Record<string, { n: number; mean: number; p50: number; p90: number; p99: number; max: number }> = {};
  for (const [k, v] of [...samples].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (v.length === 0) continue;
    v.sort((a, b) => a - b);
    const q = (p: number) => Math.round(v[Math.min(v.length - 1, Math.floor(p * v.length))]! * 100) / 100;
    out[k] = { n: v.length, mean: Math.round((v.reduce((a, b) => a + b, 0) / v.length) * 100) / 100, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
  }
  samples.clear();
  appendFileSync(file, JSON.stringify({ at: new Date().toISOString(), pid: process.pid, stages: out }) + '\n');
}

if (file) process.on('exit', dump);
