// Event store benchmark: Kefu's event store on PostgreSQL and on PGlite beside Emmett's PostgreSQL event
// store, on the same PostgreSQL server, each in a fresh database of its own and a process of its own.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { envInt, envList, envString } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { median } from './lib/stats.ts';
import { targets, type Target } from './eventstore/adapters.ts';
import type { Measurement, WorkerConfig, WorkerMessage } from './eventstore/worker.ts';

const workerPath = fileURLToPath(new URL('./eventstore/worker.ts', import.meta.url));

/** Each PostgreSQL-backed store gets its own database, dropped and created again before every worker run. */
const databases: Partial<Record<Target, string>> = {
  'kefu-postgres': 'kefu_bench',
  'emmett-postgres': 'kefu_bench_emmett',
};

function settings() {
  const chosen = envList('BENCH_TARGETS') ?? [...targets];
  for (const t of chosen) if (!(targets as readonly string[]).includes(t)) throw new Error(`Unknown BENCH_TARGETS entry ${t}; known: ${targets.join(', ')}`);
  return {
    targets: chosen as Target[],
    rounds: Math.max(1, envInt('BENCH_ROUNDS', 3)),
    // `off` takes the WAL flush out of each commit, which shows the CPU cost of an append (not a durable setup).
    synchronousCommit: envString('BENCH_SYNCHRONOUS_COMMIT', ''),
    worker: {
      appends: Math.max(1, envInt('BENCH_APPENDS', 1500)),
      existingStreams: Math.max(1, envInt('BENCH_EXISTING_STREAMS', 100)),
      concurrentAppends: Math.max(1, envInt('BENCH_CONCURRENT_APPENDS', 3000)),
      writers: Math.max(1, envInt('BENCH_WRITERS', 8)),
      streamsPerWriter: Math.max(1, envInt('BENCH_STREAMS_PER_WRITER', 10)),
      streamEvents: Math.max(1, envInt('BENCH_STREAM_EVENTS', 10_000)),
      buildBatch: Math.max(1, envInt('BENCH_BUILD_BATCH', 100)),
      reads: Math.max(1, envInt('BENCH_READS', 5)),
      warmup: envInt('BENCH_WARMUP', 200),
    },
  };
}

const labels: Record<Measurement['measurement'], (w: ReturnType<typeof settings>['worker']) => string> = {
  'append-new': () => 'Append 1 event to a new stream (no_stream), 1 writer',
  'append-existing': (w) => `Append 1 event to an existing stream (exact revision, ${w.existingStreams} streams), 1 writer`,
  'append-concurrent': (w) => `Append 1 event, ${w.writers} concurrent writers (${w.streamsPerWriter} own streams each)`,
  'read-fold': (w) => `Read + fold one ${w.streamEvents.toLocaleString('en-US')}-event stream`,
};

function runWorker(config: WorkerConfig): Promise<Measurement[]> {
  return new Promise((resolve, reject) => {
    const child = fork(workerPath, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let reply: WorkerMessage | null = null;
    child.on('message', (m) => (reply = m as WorkerMessage));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const r = reply as WorkerMessage | null;
      if (r?.ok) resolve(r.measurements);
      else reject(new Error(`${config.target} worker failed (exit ${code ?? signal}): ${r && !r.ok ? r.error : 'no result'}`));
    });
  });
}

export async function runEventStoreBench(): Promise<ResultRow[]> {
  const s = settings();
  const collected = new Map<string, { target: Target; measurement: Measurement['measurement']; runs: Measurement[] }>();
  try {
    for (let round = 0; round < s.rounds; round++) {
      // Rotate the order each round so no store always runs first (cold server caches) or last.
      const order = s.targets.map((_, i) => s.targets[(i + round) % s.targets.length]!);
      for (const target of order) {
        process.stderr.write(`  round ${round + 1}/${s.rounds}: ${target}\n`);
        const db = databases[target];
        const databaseUrl = db ? await recreateDatabase(db, s.synchronousCommit ? { synchronous_commit: s.synchronousCommit } : {}) : '';
        for (const m of await runWorker({ ...s.worker, target, databaseUrl })) {
          const key = `${m.measurement}\u0000${target}`;
          const entry = collected.get(key) ?? { target, measurement: m.measurement, runs: [] };
          entry.runs.push(m);
          collected.set(key, entry);
        }
      }
    }
  } finally {
    if (process.env.BENCH_KEEP_DATABASES !== '1') {
      for (const t of s.targets) {
        const db = databases[t];
        if (db) await dropDatabase(db).catch(() => undefined);
      }
    }
  }

  const measurementOrder = Object.keys(labels);
  return [...collected.values()]
    .sort(
      (a, b) =>
        measurementOrder.indexOf(a.measurement) - measurementOrder.indexOf(b.measurement) ||
        s.targets.indexOf(a.target) - s.targets.indexOf(b.target),
    )
    .map(({ target, measurement, runs }) => {
      const perRound = runs.map((r) => r.events / (r.ms / 1000));
      const eventsPerSec = median(perRound);
      const events = runs[0]!.events;
      return {
        measurement,
        label: labels[measurement](s.worker),
        target,
        events,
        ms: (events / eventsPerSec) * 1000,
        eventsPerSec,
        p50Ms: median(runs.map((r) => r.p50Ms)),
        p99Ms: median(runs.map((r) => r.p99Ms)),
        perRound,
      };
    });
}

function describe(): string {
  const s = settings();
  const w = s.worker;
  return [
    `Targets: ${s.targets.join(', ')}. Rounds: ${s.rounds} (median shown; target order rotates each round).`,
    ...(s.synchronousCommit ? [`synchronous_commit=${s.synchronousCommit} on the bench databases.`] : []),
    `Sizes: ${w.appends} single-writer appends per append measurement, ${w.concurrentAppends} appends across ${w.writers} writers,`,
    `a ${w.streamEvents}-event stream read ${w.reads} times (median), ${w.warmup} warm-up appends of each kind.`,
  ].join(' ');
}

export const eventStoreBench: BenchModule = {
  name: 'eventstore',
  title: 'Event store',
  describe,
  comparison: { numerator: 'kefu-postgres', denominator: 'emmett-postgres', title: 'Kefu-PG / Emmett' },
  run: runEventStoreBench,
};
