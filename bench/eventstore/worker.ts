// One event store under test, in a process of its own, driven by the parent (bench/eventstore.ts) over IPC:
// the parent asks every store in turn for one short measurement at a time, so the stores are measured
// close together in time and no store is always measured while the disk happens to be slow.
//
// One process per store keeps them from sharing a JIT, a heap, or global state. (Emmett's driver layer
// sets process-wide `pg` type parsers for int8 and jsonb, which would also change how Kefu's rows are
// parsed if both ran in one process.)
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { median, percentile } from '../lib/stats.ts';
import { openStore, type StoreUnderTest, type Target } from './adapters.ts';

export interface WorkerConfig {
  target: Target;
  databaseUrl: string;
  /** Existing streams the single writer cycles through for expected-revision appends. */
  existingStreams: number;
  writers: number;
  /** Streams each concurrent writer owns. */
  streamsPerWriter: number;
  /** Events in the stream that is read and folded. */
  streamEvents: number;
  /** Events per append while building that stream (setup, not measured). */
  buildBatch: number;
  /** Appends (and reads) of each kind done before any measurement. */
  warmup: number;
}

export type MeasurementKind = 'append-new' | 'append-existing' | 'append-concurrent' | 'read-fold';

export interface Measurement {
  measurement: MeasurementKind;
  events: number;
  ms: number;
  /** Per-operation latency: one append, or one read+fold. */
  p50Ms: number;
  p99Ms: number;
}

export type WorkerRequest =
  | { cmd: 'setup' }
  | { cmd: 'checkpoint' }
  | { cmd: 'measure'; measurement: MeasurementKind; count: number }
  | { cmd: 'close' };

export type WorkerReply = { ok: true; measurement?: Measurement } | { ok: false; error: string };

function result(measurement: MeasurementKind, events: number, ms: number, latencies: number[]): Measurement {
  return { measurement, events, ms, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

class Bench {
  private readonly runId = randomUUID().slice(0, 8);
  private index = 0;
  private chunk = 0;
  private readonly existing: { id: string; count: number }[] = [];
  private readonly longStream: string;
  private readonly store: StoreUnderTest;
  private readonly cfg: WorkerConfig;

  constructor(store: StoreUnderTest, cfg: WorkerConfig) {
    this.store = store;
    this.cfg = cfg;
    this.longStream = this.name('long', 0);
  }

  private name(tag: string, i: number): string {
    return `conversation-${this.runId}${tag}${i}`;
  }

  /** Writes `events` events to a new stream in batches. */
  private async build(streamId: string, events: number): Promise<void> {
    let written = 0;
    while (written < events) {
      const n = Math.min(this.cfg.buildBatch, events - written);
      if (written === 0) await this.store.appendNew(streamId, n, this.index);
      else await this.store.appendAt(streamId, written, n, this.index);
      this.index += n;
      written += n;
    }
  }

  /** Creates the existing streams and the long stream, and warms every code path the measurements use. */
  async setup(): Promise<void> {
    for (let i = 0; i < this.cfg.existingStreams; i++) {
      const id = this.name('existing', i);
      await this.store.appendNew(id, 1, this.index++);
      this.existing.push({ id, count: 1 });
    }
    await this.appendNew(this.cfg.warmup);
    await this.appendExisting(this.cfg.warmup);
    await this.appendConcurrent(this.cfg.warmup);
    await this.build(this.longStream, this.cfg.streamEvents);
    await this.readFold(3);
  }

  checkpoint(): Promise<void> {
    return this.store.checkpoint();
  }

  async measure(kind: MeasurementKind, count: number): Promise<Measurement> {
    switch (kind) {
      case 'append-new':
        return this.appendNew(count);
      case 'append-existing':
        return this.appendExisting(count);
      case 'append-concurrent':
        return this.appendConcurrent(count);
      case 'read-fold':
        return this.readFold(count);
    }
  }

  /** One writer, one event per append, each to a fresh stream (expected: no stream). */
  private async appendNew(count: number): Promise<Measurement> {
    const tag = `new${this.chunk++}-`;
    const ids = Array.from({ length: count }, (_, i) => this.name(tag, i));
    const latencies: number[] = [];
    const t0 = performance.now();
    for (const id of ids) {
      const t = performance.now();
      await this.store.appendNew(id, 1, this.index++);
      latencies.push(performance.now() - t);
    }
    return result('append-new', count, performance.now() - t0, latencies);
  }

  /** One writer, one event per append, round-robin over existing streams with the exact expected revision. */
  private async appendExisting(count: number): Promise<Measurement> {
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const s = this.existing[i % this.existing.length]!;
      const t = performance.now();
      await this.store.appendAt(s.id, s.count, 1, this.index++);
      latencies.push(performance.now() - t);
      s.count++;
    }
    return result('append-existing', count, performance.now() - t0, latencies);
  }

  /**
   * `writers` concurrent writers, one event per append. Each owns its own fresh streams: the first append
   * to one expects no stream, later ones its exact revision.
   */
  private async appendConcurrent(total: number): Promise<Measurement> {
    const { writers, streamsPerWriter } = this.cfg;
    const perWriter = Math.max(1, Math.floor(total / writers));
    const tag = `conc${this.chunk++}-`;
    const latencies: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const counts = new Array<number>(streamsPerWriter).fill(0);
        for (let i = 0; i < perWriter; i++) {
          const k = i % streamsPerWriter;
          const id = this.name(`${tag}w${w}s`, k);
          const t = performance.now();
          if (counts[k] === 0) await this.store.appendNew(id, 1, this.index++);
          else await this.store.appendAt(id, counts[k]!, 1, this.index++);
          latencies.push(performance.now() - t);
          counts[k]!++;
        }
      }),
    );
    return result('append-concurrent', perWriter * writers, performance.now() - t0, latencies);
  }

  /** Reads the long stream and folds it, `reads` times; reports the median. */
  private async readFold(reads: number): Promise<Measurement> {
    const times: number[] = [];
    for (let i = 0; i < reads; i++) {
      const t = performance.now();
      const state = await this.store.readAndFold(this.longStream);
      times.push(performance.now() - t);
      if (state.events !== this.cfg.streamEvents) throw new Error(`Folded ${state.events} events, expected ${this.cfg.streamEvents}`);
    }
    const ms = median(times);
    return { measurement: 'read-fold', events: this.cfg.streamEvents, ms, p50Ms: ms, p99Ms: percentile(times, 99) };
  }
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const reply = (m: WorkerReply) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
const store = await openStore(cfg.target, cfg.databaseUrl);
const bench = new Bench(store, cfg);
let queue = Promise.resolve();

process.on('message', (raw) => {
  const req = raw as WorkerRequest;
  queue = queue.then(async () => {
    try {
      if (req.cmd === 'setup') {
        await bench.setup();
        await reply({ ok: true });
      } else if (req.cmd === 'checkpoint') {
        await bench.checkpoint();
        await reply({ ok: true });
      } else if (req.cmd === 'measure') {
        await reply({ ok: true, measurement: await bench.measure(req.measurement, req.count) });
      } else {
        await store.close();
        await reply({ ok: true });
        process.disconnect();
      }
    } catch (err) {
      await reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
});
// Tell the parent the store is open.
await reply({ ok: true });
