// Runs every event store measurement against one store, in a process of its own, and sends the results
// to the parent over IPC. One process per store keeps them from sharing a JIT, a heap, or global state
// (Emmett's driver layer sets process-wide `pg` type parsers for int8 and jsonb, which would also change
// how Kefu's rows are parsed if both ran in one process).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { median, percentile } from '../lib/stats.ts';
import { openStore, type StoreUnderTest, type Target } from './adapters.ts';

export interface WorkerConfig {
  target: Target;
  databaseUrl: string;
  /** Single-writer appends per measurement. */
  appends: number;
  /** Existing streams the single writer cycles through for expected-revision appends. */
  existingStreams: number;
  /** Total appends across all concurrent writers. */
  concurrentAppends: number;
  writers: number;
  /** Streams each concurrent writer owns. */
  streamsPerWriter: number;
  /** Events in the stream that is read and folded. */
  streamEvents: number;
  /** Events per append while building that stream (setup, not measured). */
  buildBatch: number;
  /** Timed read+fold repetitions; the median is reported. */
  reads: number;
  /** Appends (and reads) done before measuring, of each kind. */
  warmup: number;
}

export interface Measurement {
  measurement: 'append-new' | 'append-existing' | 'append-concurrent' | 'read-fold';
  events: number;
  ms: number;
  /** Per-operation latency: one append, or one read+fold. */
  p50Ms: number;
  p99Ms: number;
}

export type WorkerMessage = { ok: true; measurements: Measurement[] } | { ok: false; error: string };

const log = (msg: string) => process.stderr.write(`    ${msg}\n`);

function result(measurement: Measurement['measurement'], events: number, ms: number, latencies: number[]): Measurement {
  return { measurement, events, ms, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

async function run(cfg: WorkerConfig): Promise<Measurement[]> {
  const store = await openStore(cfg.target, cfg.databaseUrl);
  try {
    return await measure(store, cfg);
  } finally {
    await store.close();
  }
}

async function measure(store: StoreUnderTest, cfg: WorkerConfig): Promise<Measurement[]> {
  const runId = randomUUID().slice(0, 8);
  let index = 0;
  const streamName = (tag: string, i: number) => `conversation-${runId}${tag}${i}`;

  // Writes `events` events to a new stream in batches (setup).
  const build = async (streamId: string, events: number) => {
    let written = 0;
    while (written < events) {
      const n = Math.min(cfg.buildBatch, events - written);
      if (written === 0) await store.appendNew(streamId, n, index);
      else await store.appendAt(streamId, written, n, index);
      index += n;
      written += n;
    }
  };

  // Concurrent writers: each owns its streams; the first append to one expects no stream, the rest its exact revision.
  const concurrent = async (tag: string, total: number, latencies: number[]) => {
    const perWriter = Math.floor(total / cfg.writers);
    await Promise.all(
      Array.from({ length: cfg.writers }, async (_, w) => {
        const counts = new Array<number>(cfg.streamsPerWriter).fill(0);
        for (let i = 0; i < perWriter; i++) {
          const k = i % cfg.streamsPerWriter;
          const id = streamName(`${tag}w${w}s`, k);
          const t = performance.now();
          if (counts[k] === 0) await store.appendNew(id, 1, index++);
          else await store.appendAt(id, counts[k]!, 1, index++);
          latencies.push(performance.now() - t);
          counts[k]!++;
        }
      }),
    );
    return perWriter * cfg.writers;
  };

  // Warm-up: every code path and statement the measurements use, then a checkpoint.
  log('warm-up');
  const warmStreams: string[] = [];
  for (let i = 0; i < cfg.warmup; i++) {
    const id = streamName('warm', i);
    await store.appendNew(id, 1, index++);
    warmStreams.push(id);
  }
  for (let i = 0; i < cfg.warmup; i++) await store.appendAt(warmStreams[i]!, 1, 1, index++);
  await concurrent('warmc', cfg.warmup, []);
  const warmRead = streamName('warmread', 0);
  await build(warmRead, Math.min(cfg.streamEvents, 1000));
  for (let i = 0; i < 3; i++) await store.readAndFold(warmRead);
  await store.checkpoint();

  const out: Measurement[] = [];

  // 1a. One writer, one event per append, each to a fresh stream (expected: no stream).
  {
    const latencies: number[] = [];
    const ids = Array.from({ length: cfg.appends }, (_, i) => streamName('new', i));
    const t0 = performance.now();
    for (const id of ids) {
      const t = performance.now();
      await store.appendNew(id, 1, index++);
      latencies.push(performance.now() - t);
    }
    out.push(result('append-new', cfg.appends, performance.now() - t0, latencies));
    log(`append-new: ${(cfg.appends / ((performance.now() - t0) / 1000)).toFixed(0)} events/s`);
  }

  // 1b. One writer, one event per append, to existing streams with the exact expected revision.
  {
    const streams = Array.from({ length: Math.min(cfg.existingStreams, cfg.appends) }, (_, i) => streamName('new', i));
    const counts = new Array<number>(streams.length).fill(1);
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < cfg.appends; i++) {
      const k = i % streams.length;
      const t = performance.now();
      await store.appendAt(streams[k]!, counts[k]!, 1, index++);
      latencies.push(performance.now() - t);
      counts[k]!++;
    }
    out.push(result('append-existing', cfg.appends, performance.now() - t0, latencies));
    log(`append-existing: ${(cfg.appends / ((performance.now() - t0) / 1000)).toFixed(0)} events/s`);
  }
  await store.checkpoint();

  // 2. Concurrent writers.
  {
    const latencies: number[] = [];
    const t0 = performance.now();
    const events = await concurrent('conc', cfg.concurrentAppends, latencies);
    out.push(result('append-concurrent', events, performance.now() - t0, latencies));
    log(`append-concurrent: ${(events / ((performance.now() - t0) / 1000)).toFixed(0)} events/s`);
  }

  // 3. Read one long stream and fold it.
  {
    const id = streamName('long', 0);
    await build(id, cfg.streamEvents);
    await store.checkpoint();
    await store.readAndFold(id);
    const times: number[] = [];
    for (let i = 0; i < cfg.reads; i++) {
      const t = performance.now();
      const state = await store.readAndFold(id);
      times.push(performance.now() - t);
      if (state.events !== cfg.streamEvents) throw new Error(`Folded ${state.events} events, expected ${cfg.streamEvents}`);
    }
    const ms = median(times);
    out.push({ measurement: 'read-fold', events: cfg.streamEvents, ms, p50Ms: ms, p99Ms: percentile(times, 99) });
    log(`read-fold: ${ms.toFixed(1)} ms`);
  }
  return out;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const send = (m: WorkerMessage) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
try {
  await send({ ok: true, measurements: await run(cfg) });
} catch (err) {
  await send({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
}
process.disconnect?.();
