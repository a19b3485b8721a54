// Projection catch-up benchmark: how fast Kefu's `agents` projection catches up on a long event log, on
// PostgreSQL (a fresh database of its own) and on PGlite (a fresh temporary directory).
//
// The log is written once per store (bench/projections/workload.ts): instances and agents created through
// the event store, then presence changes interleaved across all agents. Then, per round:
//
// 1. read-all: `PostgresEventStore.readAll` page after page to the head, nothing applied. The floor under
//    any catch-up, since every catch-up reads the same pages.
// 2. rebuild: `rebuildProjection` (what `npm run projections -- rebuild agents` runs): empties the
//    projection, then reads and applies batch after batch, one transaction with its checkpoint per batch.
// 3. runner: a `ProjectionRunner` started on an empty projection, timed until `waitFor(head)` resolves:
//    the path a server takes when it starts behind (subscription, buffering, bus messages after commit).
//
// After each catch-up the `agents` table is checked against the log. Thin wrappers (bench/projections/
// instrument.ts) add up the time spent per SQL statement kind, in readAll, in applyBatch and on the bus,
// which gives the breakdown printed below the tables.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import { InProcessBus } from '../src/adapters/bus/in-process-bus.ts';
import { migrateEventStore, PostgresEventStore } from '../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createKysely } from '../src/adapters/sql/kysely-dialect.ts';
import { createPgliteClient, createPostgresClient, type SqlClient } from '../src/adapters/sql/sql-client.ts';
import { positionToString, type Position } from '../src/domain/ports/event-store.ts';
import { agentsProjection } from '../src/projections/agents/agents.projection.ts';
import { migrateReadModels } from '../src/projections/migrations.ts';
import { ProjectionRunner, rebuildProjection } from '../src/projections/projection-runner.ts';
import type { ReadModelDb } from '../src/projections/read-model-db.ts';
import { envInt, envList, envString } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { median, percentile } from './lib/stats.ts';
import { Timings, timedBus, timedProjection, timedSql, timeReadAll } from './projections/instrument.ts';
import { seed, type SeededAgent, type SeedResult, type WorkloadSize } from './projections/workload.ts';

const targets = ['kefu-postgres', 'kefu-pglite'] as const;
type Target = (typeof targets)[number];
const database = 'kefu_bench_projections';

/** The issue's target for catch-up on PostgreSQL. */
const goalEventsPerSec = 20_000;

function settings() {
  const chosen = envList('BENCH_PROJECTION_TARGETS') ?? [...targets];
  for (const t of chosen) if (!(targets as readonly string[]).includes(t)) throw new Error(`Unknown BENCH_PROJECTION_TARGETS entry ${t}; known: ${targets.join(', ')}`);
  const common = {
    instances: Math.max(1, envInt('BENCH_PROJECTION_INSTANCES', 20)),
    agentsPerInstance: Math.max(1, envInt('BENCH_PROJECTION_AGENTS', 50)),
    days: Math.max(1, envInt('BENCH_PROJECTION_DAYS', 30)),
    chunk: Math.max(1, envInt('BENCH_PROJECTION_SEED_CHUNK', 5000)),
    writers: Math.max(1, envInt('BENCH_PROJECTION_SEED_WRITERS', 2)),
  };
  return {
    targets: chosen as Target[],
    rounds: Math.max(1, envInt('BENCH_PROJECTION_ROUNDS', 1)),
    sizes: {
      'kefu-postgres': { ...common, events: Math.max(1, envInt('BENCH_PROJECTION_EVENTS', 1_000_000)) },
      'kefu-pglite': { ...common, events: Math.max(1, envInt('BENCH_PROJECTION_PGLITE_EVENTS', 200_000)) },
    } satisfies Record<Target, WorkloadSize>,
    /** Kefu's defaults: `rebuildProjection` reads 2,000 events per batch, `ProjectionRunner` 500. */
    rebuildBatch: Math.max(1, envInt('BENCH_PROJECTION_REBUILD_BATCH', 5000)),
    runnerBatch: Math.max(1, envInt('BENCH_PROJECTION_RUNNER_BATCH', 5000)),
    synchronousCommit: envString('BENCH_SYNCHRONOUS_COMMIT', ''),
  };
}
type Settings = ReturnType<typeof settings>;

type Kind = 'read-all' | 'rebuild' | 'runner';
const labels: Record<Kind, (s: Settings) => string> = {
  'read-all': (s) => `readAll to the head, ${s.rebuildBatch.toLocaleString('en-US')} events per page, nothing applied`,
  rebuild: (s) => `Catch-up: rebuildProjection(agents), ${s.rebuildBatch.toLocaleString('en-US')} events per batch`,
  runner: (s) => `Catch-up: ProjectionRunner from zero to waitFor(head), ${s.runnerBatch.toLocaleString('en-US')} events per batch`,
};
const kinds = Object.keys(labels) as Kind[];

interface Measured {
  events: number;
  ms: number;
  /** Per page (read-all) or per batch, from the start of one to the start of the next. */
  p50Ms: number;
  p99Ms: number;
  breakdown: Breakdown;
}

/** Milliseconds of the timed part by where they went. */
type Breakdown = Record<string, number>;

interface Opened {
  target: Target;
  sql: SqlClient;
  db: Kysely<ReadModelDb>;
  store: PostgresEventStore;
  timings: Timings;
  close(): Promise<void>;
}

async function open(target: Target, databaseUrl: string): Promise<Opened> {
  const timings = new Timings();
  let inner: SqlClient;
  let dir: string | null = null;
  if (target === 'kefu-postgres') {
    inner = createPostgresClient(databaseUrl);
  } else {
    // PGlite runs with fsync=off and in this thread: its commits do not wait for a disk.
    dir = mkdtempSync(path.join(tmpdir(), 'kefu-bench-projections-'));
    inner = await createPgliteClient(dir);
  }
  const sql = timedSql(inner, timings);
  await migrateEventStore(sql);
  const db = createKysely<ReadModelDb>(sql);
  await migrateReadModels(db as unknown as Kysely<unknown>);
  const store = new PostgresEventStore(sql);
  timeReadAll(store, timings);
  return {
    target,
    sql,
    db,
    store,
    timings,
    async close() {
      await store.close();
      await db.destroy();
      await sql.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const logger = {
  info: () => undefined,
  warn: (obj: object | string, msg?: string) => process.stderr.write(`  warn: ${msg ?? ''} ${JSON.stringify(obj)}\n`),
  error: (obj: object | string, msg?: string) => process.stderr.write(`  error: ${msg ?? ''} ${JSON.stringify(obj, Object.getOwnPropertyNames(obj))}\n`),
};

function intervals(starts: number[], end: number): number[] {
  return starts.map((t, i) => (starts[i + 1] ?? end) - t);
}

/** Splits the timed part's milliseconds by where they went; `other` is what no wrapper saw. */
function breakdown(t: Timings, totalMs: number): Breakdown {
  const sqlRead = t.ms('sql:read-events');
  const b: Breakdown = {
    'read: SQL (query, transfer, row parsing)': sqlRead,
    'read: rows to RecordedEvent': Math.max(0, t.ms('readAll') - sqlRead),
    'apply: agents SELECT': t.ms('sql:agents-select'),
    'apply: agents upsert': t.ms('sql:agents-upsert'),
    'apply: fold + messages + query building (JS)': Math.max(0, t.ms('applyBatch') - t.ms('sql:agents-select') - t.ms('sql:agents-upsert')),
    'checkpoint: 3 statements': t.ms('sql:checkpoint'),
    'BEGIN': t.ms('sql:begin'),
    'COMMIT': t.ms('sql:commit'),
    'bus publish': t.ms('bus:publish'),
  };
  const seen = Object.values(b).reduce((a, v) => a + v, 0);
  b['other (runner, kysely, pool, event loop)'] = Math.max(0, totalMs - seen - t.ms('sql:other'));
  b['other SQL'] = t.ms('sql:other');
  return b;
}

async function resetProjection(o: Opened): Promise<void> {
  await o.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('agents').execute();
    await trx.deleteFrom('kefu_projection_checkpoints').where('name', '=', agentsProjection.name).execute();
  });
  await o.sql.query('VACUUM agents');
}

async function measureReadAll(o: Opened, s: Settings): Promise<Measured> {
  o.timings.reset();
  const starts: number[] = [];
  const t0 = performance.now();
  let after: Position | null = null;
  let events = 0;
  for (;;) {
    starts.push(performance.now());
    const page = await o.store.readAll({ after, maxCount: s.rebuildBatch });
    if (page.length === 0) break;
    after = page[page.length - 1]!.position;
    events += page.length;
  }
  const ms = performance.now() - t0;
  const lat = intervals(starts, performance.now()).slice(0, -1);
  return { events, ms, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), breakdown: breakdown(o.timings, ms) };
}

async function measureRebuild(o: Opened, s: Settings): Promise<Measured> {
  await resetProjection(o);
  o.timings.reset();
  const starts: number[] = [];
  const projection = timedProjection(agentsProjection, o.timings, starts);
  const t0 = performance.now();
  const events = await rebuildProjection({ store: o.store, db: o.db, projection, batchSize: s.rebuildBatch });
  const ms = performance.now() - t0;
  const lat = intervals(starts, t0 + ms);
  return { events, ms, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), breakdown: breakdown(o.timings, ms) };
}

async function measureRunner(o: Opened, s: Settings, head: Position, events: number): Promise<Measured> {
  await resetProjection(o);
  o.timings.reset();
  const starts: number[] = [];
  const runner = new ProjectionRunner({
    store: o.store,
    db: o.db,
    sql: o.sql,
    bus: timedBus(new InProcessBus(), o.timings),
    projections: [timedProjection(agentsProjection, o.timings, starts)],
    logger,
    batchSize: s.runnerBatch,
  });
  const t0 = performance.now();
  let ms: number;
  try {
    await runner.start();
    const reached = await runner.waitFor(head, { projections: [agentsProjection.name], timeoutMs: 60 * 60_000 });
    ms = performance.now() - t0;
    if (!reached) throw new Error('ProjectionRunner did not reach the head');
  } finally {
    await runner.stop();
  }
  const lat = intervals(starts, t0 + ms);
  return { events, ms, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), breakdown: breakdown(o.timings, ms) };
}

const presenceOf: Record<string, string> = {
  AgentCreated: 'OFFLINE',
  AgentWentAvailable: 'AVAILABLE',
  AgentWentOnBreak: 'BREAK',
  AgentWentOffline: 'OFFLINE',
};

/** The projection holds one row per agent, and sampled rows show the presence of their stream's last event. */
async function verify(o: Opened, agents: SeededAgent[], head: Position): Promise<string> {
  const rows = await o.db.selectFrom('agents').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  if (Number(rows.n) !== agents.length) throw new Error(`${o.target}: agents has ${rows.n} rows, ${agents.length} agents were created`);
  const checkpoint = await o.db.selectFrom('kefu_projection_checkpoints').select('position').where('name', '=', agentsProjection.name).executeTakeFirst();
  if (checkpoint?.position !== positionToString(head)) throw new Error(`${o.target}: checkpoint ${checkpoint?.position} is not the head ${positionToString(head)}`);
  const sample = [0, 1, Math.floor(agents.length / 3), Math.floor(agents.length / 2), agents.length - 1].map((i) => agents[i]!);
  for (const a of sample) {
    const [last] = await o.store.readStream(a.streamId, { direction: 'backwards', maxCount: 1 });
    const row = await o.db.selectFrom('agents').selectAll().where('instance_id', '=', a.instanceId).where('id', '=', a.agentId).executeTakeFirstOrThrow();
    const expected = presenceOf[last!.type];
    const reason = last!.type === 'AgentWentOnBreak' ? ((last!.data as { reason: string | null }).reason ?? null) : null;
    if (last!.revision !== a.revision || row.presence !== expected || row.break_reason !== reason || row.presence !== a.presence) {
      throw new Error(
        `${o.target}: agent ${a.agentId}: row ${row.presence}/${row.break_reason}, last event r${last!.revision} ${last!.type} ${JSON.stringify(last!.data)}, seeded ${a.presence}/${a.breakReason} r${a.revision}`,
      );
    }
    if (new Date(row.updated_at).toISOString() !== last!.metadata.occurredAt) throw new Error(`${o.target}: agent ${a.agentId}: updated_at is not the last event's time`);
  }
  return `${agents.length} rows, checkpoint at the head, ${sample.length} sampled rows' presence = their stream's last event`;
}

interface TargetRun {
  target: Target;
  seed: SeedResult;
  tableMb: number;
  measured: Record<Kind, Measured[]>;
  checks: string;
}

let lastRuns: TargetRun[] = [];

async function runTarget(target: Target, s: Settings, log: (msg: string) => void): Promise<TargetRun> {
  const size = s.sizes[target];
  const url = target === 'kefu-postgres' ? await recreateDatabase(database, s.synchronousCommit ? { synchronous_commit: s.synchronousCommit } : {}) : '';
  const o = await open(target, url);
  try {
    log(`${target}: seeding ${size.events.toLocaleString('en-US')} events (${size.instances} instances x ${size.agentsPerInstance} agents)`);
    const seeded = await seed(o.store, o.sql, size, (m) => log(`${target}: ${m}`));
    // What a database that has been running a while looks like: vacuumed (hint bits set, visibility map
    // built) and analyzed by autovacuum, and flushed by a checkpoint.
    const tv = performance.now();
    await o.sql.query('VACUUM ANALYZE kefu_events');
    await o.sql.query('VACUUM ANALYZE kefu_streams');
    await o.sql.query('CHECKPOINT');
    log(`${target}: VACUUM ANALYZE and CHECKPOINT in ${((performance.now() - tv) / 1000).toFixed(1)} s`);
    const size2 = await o.sql.query<{ mb: string }>(`SELECT (pg_total_relation_size('kefu_events') / 1048576.0)::text AS mb`);
    const tableMb = Number(size2.rows[0]!.mb);
    const head = (await o.store.headPosition())!;
    const measured: Record<Kind, Measured[]> = { 'read-all': [], rebuild: [], runner: [] };
    let checks = '';
    for (let round = 0; round < s.rounds; round++) {
      for (const kind of kinds) {
        let m: Measured;
        if (kind === 'read-all') m = await measureReadAll(o, s);
        else if (kind === 'rebuild') m = await measureRebuild(o, s);
        else m = await measureRunner(o, s, head, seeded.events);
        if (m.events !== seeded.events) throw new Error(`${target} ${kind}: ${m.events} events, ${seeded.events} were written`);
        if (kind !== 'read-all') checks = await verify(o, seeded.agents, head);
        measured[kind].push(m);
        log(`${target}: round ${round + 1}/${s.rounds} ${kind}: ${Math.round(m.events / (m.ms / 1000)).toLocaleString('en-US')} events/s (${(m.ms / 1000).toFixed(1)} s)`);
      }
    }
    return { target, seed: seeded, tableMb, measured, checks };
  } finally {
    await o.close();
    if (target === 'kefu-postgres' && process.env.BENCH_KEEP_DATABASES !== '1') await dropDatabase(database).catch(() => undefined);
  }
}

export async function runProjectionsBench(): Promise<ResultRow[]> {
  const s = settings();
  const log = (msg: string) => process.stderr.write(`  ${msg}\n`);
  lastRuns = [];
  for (const target of s.targets) lastRuns.push(await runTarget(target, s, log));
  const rows: ResultRow[] = [];
  for (const kind of kinds) {
    for (const r of lastRuns) {
      const runs = r.measured[kind];
      const perRound = runs.map((m) => m.events / (m.ms / 1000));
      const eventsPerSec = median(perRound);
      rows.push({
        measurement: kind,
        label: labels[kind](s),
        target: r.target,
        events: runs[0]!.events,
        ms: (runs[0]!.events / eventsPerSec) * 1000,
        eventsPerSec,
        p50Ms: median(runs.map((m) => m.p50Ms)),
        p99Ms: median(runs.map((m) => m.p99Ms)),
        perRound,
        showTime: true,
      });
    }
  }
  return rows;
}

function describe(): string {
  const s = settings();
  const sizes = s.targets.map((t) => `${t} ${s.sizes[t].events.toLocaleString('en-US')} events`).join(', ');
  const c = s.sizes['kefu-postgres'];
  return [
    `Targets: ${s.targets.join(', ')}; log sizes: ${sizes}; ${c.instances} instances x ${c.agentsPerInstance} agents, presence changes over ${c.days} days.`,
    `${s.rounds} round(s) per target of: readAll alone, rebuildProjection, ProjectionRunner from zero; ${s.rounds > 1 ? 'medians over the rounds are shown' : 'one run each'}.`,
    `The latency columns are per page (readAll) or per batch (one read + one transaction), start to start.`,
    `The goal column is events/s over the issue's target of ${goalEventsPerSec.toLocaleString('en-US')} events/s for catch-up on PostgreSQL.`,
    ...(s.synchronousCommit ? [`synchronous_commit=${s.synchronousCommit} on the bench database.`] : []),
  ].join(' ');
}

function notes(): string {
  if (lastRuns.length === 0) return '';
  const fmt = (ms: number, total: number) => `${(ms / 1000).toFixed(1)} s (${Math.round((ms / total) * 100)}%)`;
  const columns: { target: Target; kind: Kind; m: Measured }[] = [];
  for (const r of lastRuns) {
    for (const kind of kinds) {
      const runs = r.measured[kind];
      // The round with the median rate.
      const sorted = [...runs].sort((a, b) => a.events / a.ms - b.events / b.ms);
      columns.push({ target: r.target, kind, m: sorted[Math.floor(sorted.length / 2)]! });
    }
  }
  const keys = Object.keys(columns[0]!.m.breakdown);
  const header = ['Where the time went', ...columns.map((c) => `${c.target} ${c.kind}`)];
  const body = [
    ['Total', ...columns.map((c) => `${(c.m.ms / 1000).toFixed(1)} s`)],
    ...keys
      .filter((k) => columns.some((c) => c.m.breakdown[k]! >= 1))
      .map((k) => [k, ...columns.map((c) => (c.m.breakdown[k]! < 1 ? '-' : fmt(c.m.breakdown[k]!, c.m.ms)))]),
  ];
  const table = [header, header.map((_, i) => (i === 0 ? '---' : '---:')), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  const seeds = lastRuns.map(
    (r) =>
      `${r.target}: ${r.seed.appended.toLocaleString('en-US')} set-up events through appendToStream in ${(r.seed.appendMs / 1000).toFixed(1)} s, ` +
      `${r.seed.inserted.toLocaleString('en-US')} presence events bulk-inserted in ${(r.seed.insertMs / 1000).toFixed(1)} s; kefu_events with indexes ${r.tableMb.toFixed(0)} MB`,
  );
  return [
    table,
    '',
    'Time added up by thin wrappers around the SQL client (by statement), readAll, applyBatch and the bus; "other" is the rest of the wall-clock time.',
    '',
    `Seeding (not timed): ${seeds.join('; ')}.`,
    '',
    `Checks after every catch-up: ${lastRuns.map((r) => `${r.target}: ${r.checks}`).join('; ')}.`,
  ].join('\n');
}

export const projectionsBench: BenchModule = {
  name: 'projections',
  title: 'Projection catch-up',
  describe,
  comparison: null,
  goal: { eventsPerSec: goalEventsPerSec, title: '20k/s target' },
  run: runProjectionsBench,
  notes,
};
