// Event store benchmark: Kefu's event store on PostgreSQL and on PGlite beside Emmett's PostgreSQL event
// store, on the same PostgreSQL server, each PostgreSQL store in a fresh database of its own, each store in
// a process of its own (bench/eventstore/worker.ts).
//
// The measurements are interleaved: in every round, each measurement runs once on every store, one store
// after the other (the order rotating per round). The disk's flush latency drifts a lot on small machines,
// and interleaving keeps that drift from favouring whichever store happened to run at a quiet moment.
// Reported: the median over the rounds.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { envInt, envList, envString } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { median } from './lib/stats.ts';
import { targets, type Target } from './eventstore/adapters.ts';
import type { Measurement, MeasurementKind, WorkerConfig, WorkerReply, WorkerRequest } from './eventstore/worker.ts';

const workerPath = fileURLToPath(new URL('./eventstore/worker.ts', import.meta.url));

/** Each PostgreSQL-backed store gets its own database, dropped and created again on every run. */
const databases: Partial<Record<Target, string>> = {
  'kefu-postgres': 'kefu_bench',
  'emmett-postgres': 'kefu_bench_emmett',
};

function settings() {
  const chosen = envList('BENCH_TARGETS') ?? [...targets];
  for (const t of chosen) if (!(targets as readonly string[]).includes(t)) throw new Error(`Unknown BENCH_TARGETS entry ${t}; known: ${targets.join(', ')}`);
  const writers = Math.max(1, envInt('BENCH_WRITERS', 8));
  return {
    targets: chosen as Target[],
    rounds: Math.max(1, envInt('BENCH_ROUNDS', 7)),
    // `off` takes the WAL flush out of each commit, which shows the CPU cost of an append (not durable).
    synchronousCommit: envString('BENCH_SYNCHRONOUS_COMMIT', ''),
    /** Per store and round. */
    perRound: {
      'append-new': Math.max(1, envInt('BENCH_APPENDS', 300)),
      'append-existing': Math.max(1, envInt('BENCH_APPENDS', 300)),
      'append-concurrent': Math.max(writers, envInt('BENCH_CONCURRENT_APPENDS', 1000)),
      'read-fold': Math.max(1, envInt('BENCH_READS', 3)),
    } satisfies Record<MeasurementKind, number>,
    worker: {
      existingStreams: Math.max(1, envInt('BENCH_EXISTING_STREAMS', 100)),
      writers,
      streamsPerWriter: Math.max(1, envInt('BENCH_STREAMS_PER_WRITER', 10)),
      streamEvents: Math.max(1, envInt('BENCH_STREAM_EVENTS', 10_000)),
      buildBatch: Math.max(1, envInt('BENCH_BUILD_BATCH', 100)),
      warmup: envInt('BENCH_WARMUP', 100),
    },
  };
}
type Settings = ReturnType<typeof settings>;

const labels: Record<MeasurementKind, (s: Settings) => string> = {
  'append-new': () => 'Append 1 event to a new stream (no_stream), 1 writer',
  'append-existing': (s) => `Append 1 event to an existing stream (exact revision, ${s.worker.existingStreams} streams), 1 writer`,
  'append-concurrent': (s) => `Append 1 event, ${s.worker.writers} concurrent writers (${s.worker.streamsPerWriter} own streams each)`,
  'read-fold': (s) => `Read + fold one ${s.worker.streamEvents.toLocaleString('en-US')}-event stream`,
};
const kinds = Object.keys(labels) as MeasurementKind[];

/** A worker process answering one request at a time. */
class Worker {
  readonly target: Target;
  private readonly child: ChildProcess;
  private pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void } | null = null;
  private exited: Error | null = null;
  /** Resolves with the worker's first message, sent once its store is open. */
  readonly ready: Promise<WorkerReply>;

  constructor(config: WorkerConfig) {
    this.target = config.target;
    this.child = fork(workerPath, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => (this.pending = { resolve, reject }));
    this.child.on('message', (m) => {
      const p = this.pending;
      this.pending = null;
      p?.resolve(m as WorkerReply);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`${this.target} worker exited (${code ?? signal})`);
      this.pending?.reject(this.exited);
      this.pending = null;
    });
  }

  async request(req: WorkerRequest): Promise<Measurement | undefined> {
    await this.ready;
    if (this.exited) throw this.exited;
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(req);
    });
    if (!reply.ok) throw new Error(`${this.target}: ${reply.error}`);
    return reply.measurement;
  }

  kill(): void {
    if (!this.exited) this.child.kill();
  }
}

export async function runEventStoreBench(): Promise<ResultRow[]> {
  const s = settings();
  const log = (msg: string) => process.stderr.write(`  ${msg}\n`);
  const results = new Map<string, Measurement[]>();
  const workers: Worker[] = [];
  try {
    for (const target of s.targets) {
      const db = databases[target];
      const databaseUrl = db ? await recreateDatabase(db, s.synchronousCommit ? { synchronous_commit: s.synchronousCommit } : {}) : '';
      const w = new Worker({ ...s.worker, target, databaseUrl });
      workers.push(w);
      const ready = await w.ready;
      if (!ready.ok) throw new Error(`${target}: ${ready.error}`);
      log(`${target}: setting up and warming up`);
      await w.request({ cmd: 'setup' });
    }
    // Flush what the setup wrote, so the rounds start from a clean checkpoint. (Not before every measurement:
    // right after a checkpoint each first change to a page logs the whole page, which would overweight that cost.)
    for (const w of workers) await w.request({ cmd: 'checkpoint' });
    for (let round = 0; round < s.rounds; round++) {
      for (const kind of kinds) {
        const line: string[] = [];
        // Rotate the order each round so no store always goes first or last.
        for (let i = 0; i < workers.length; i++) {
          const w = workers[(i + round + kinds.indexOf(kind)) % workers.length]!;
          const m = (await w.request({ cmd: 'measure', measurement: kind, count: s.perRound[kind] }))!;
          const key = `${kind}\u0000${w.target}`;
          results.set(key, [...(results.get(key) ?? []), m]);
          line.push(`${w.target} ${Math.round(m.events / (m.ms / 1000))}`);
        }
        log(`round ${round + 1}/${s.rounds} ${kind} events/s: ${line.join(', ')}`);
      }
    }
    for (const w of workers) await w.request({ cmd: 'close' });
  } finally {
    for (const w of workers) w.kill();
    if (process.env.BENCH_KEEP_DATABASES !== '1') {
      for (const t of s.targets) {
        const db = databases[t];
        if (db) await dropDatabase(db).catch(() => undefined);
      }
    }
  }

  const rows: ResultRow[] = [];
  for (const kind of kinds) {
    for (const target of s.targets) {
      const runs = results.get(`${kind}\u0000${target}`);
      if (!runs?.length) continue;
      const perRound = runs.map((r) => r.events / (r.ms / 1000));
      const eventsPerSec = median(perRound);
      const events = runs[0]!.events;
      rows.push({
        measurement: kind,
        label: labels[kind](s),
        target,
        events,
        ms: (events / eventsPerSec) * 1000,
        eventsPerSec,
        p50Ms: median(runs.map((r) => r.p50Ms)),
        p99Ms: median(runs.map((r) => r.p99Ms)),
        perRound,
      });
    }
  }
  return rows;
}

function describe(): string {
  const s = settings();
  const p = s.perRound;
  return [
    `Targets: ${s.targets.join(', ')}; ${s.rounds} rounds, interleaved (each round runs every measurement once per store, order rotating); medians over the rounds are shown.`,
    `Per store and round: ${p['append-new']} single-writer appends for each append measurement, ${p['append-concurrent']} appends across ${s.worker.writers} writers,`,
    `${p['read-fold']} read+folds of a ${s.worker.streamEvents}-event stream (median). Warm-up: ${s.worker.warmup} appends of each kind, 3 reads.`,
    ...(s.synchronousCommit ? [`synchronous_commit=${s.synchronousCommit} on the bench databases.`] : []),
  ].join(' ');
}

export const eventStoreBench: BenchModule = {
  name: 'eventstore',
  title: 'Event store',
  describe,
  comparison: { numerator: 'kefu-postgres', denominator: 'emmett-postgres', title: 'Kefu-PG / Emmett' },
  run: runEventStoreBench,
};
