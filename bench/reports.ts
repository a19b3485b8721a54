// Reports benchmark (issue 15), on PostgreSQL (a fresh database of its own, `kefu_bench_reports_<size>`, copied from
// the seeded log kept between runs: see seededCopy):
//
// 1. catch-up: `rebuildProjection` of the `reports` projection (what `npm run projections -- rebuild reports`
//    runs) over a year of one instance: BENCH_REPORT_CONTACTS contacts (default 1,000,000; phone, chat and AV;
//    answered, abandoned in the IVR, the queue or while ringing, turned away) handled by BENCH_REPORT_AGENTS
//    agents (default 500) with offers, rings, holds, transfers, chat messages, after-call work, breaks and
//    nights off: about 13.6 events a contact, ~13.6 million events. The log is made by Kefu's own deciders and
//    copied straight into the event store's tables (bench/reports/workload.ts, bench/lib/bulk-events.ts).
//    Target: >= 20,000 events/s.
// 2. agent-month: `agentReport` of one month, one row per agent and day (the first page of 5,000): p99 over
//    the rounds. Target: p99 < 200 ms. agent-month-total: the same month, one row per agent (interval MONTH).
// 3. instance-year: `instanceReport` of the year, one row per day and channel, in the instance's zone
//    (Asia/Shanghai, set by the log: read from the day totals): p99. Target: < 500 ms. instance-year-buckets:
//    the same in UTC, which is not the instance's zone, so read from the 15-minute buckets (for comparison).
// After the catch-up, the year's totals are checked against the counts the generator made.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrateEventStore, PostgresEventStore } from '../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createKysely } from '../src/adapters/sql/kysely-dialect.ts';
import { createPostgresClient } from '../src/adapters/sql/sql-client.ts';
import { migrateReadModels } from '../src/projections/migrations.ts';
import { rebuildProjection } from '../src/projections/projection-runner.ts';
import type { ReadModelDb } from '../src/projections/read-model-db.ts';
import { agentReport, instanceReport, resolveReportRequest } from '../src/projections/reports/report-queries.ts';
import { reportsProjection } from '../src/projections/reports/reports.projection.ts';
import { envInt, envList } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { databaseUrl, dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { median, percentile } from './lib/stats.ts';
import { seedReportYear, type SeededYear } from './reports/workload.ts';

const limits = { maxRangeDays: 366, maxRows: 2000 };

function settings() {
  return {
    contacts: Math.max(100, envInt('BENCH_REPORT_CONTACTS', 1_000_000)),
    agents: Math.max(1, envInt('BENCH_REPORT_AGENTS', 500)),
    groups: Math.max(1, envInt('BENCH_REPORT_GROUPS', 10)),
    queryRounds: Math.max(1, envInt('BENCH_REPORT_QUERY_ROUNDS', 20)),
    // Untimed rounds of each query before its timed ones (default 0: the first timed round is the process's first call).
    warmupRounds: Math.max(0, envInt('BENCH_REPORT_WARMUP_ROUNDS', 0)),
    chunk: Math.max(100, envInt('BENCH_REPORT_SEED_CHUNK', 20_000)),
  };
}

let notes = '';

/**
 * A fresh copy of the seeded event log: the log is generated once into a database of its own, named by the
 * workload's size (`kefu_bench_reports_seed_<contacts>_<agents>_<groups>`, kept between runs; its
 * `bench_seed` table says what it holds), and each run starts from `CREATE DATABASE … TEMPLATE` of it (a
 * file copy: minutes of seeding saved on every run after the first). BENCH_REPORT_FRESH_SEED=1 seeds again.
 */
async function seededCopy(s: ReturnType<typeof settings>, log: (m: string) => void): Promise<{ url: string; seeded: SeededYear } | null> {
  const database = databaseOf(s);
  const seedName = `kefu_bench_reports_seed_${s.contacts}_${s.agents}_${s.groups}`;
  // Connected to the server's `postgres` database, not BENCH_DATABASE_URL's: CREATE DATABASE … TEMPLATE of a
  // 10 GB log runs for minutes in a transaction, and Kefu's event store on the database the session is in
  // (the tests' `test`) reads nothing newer than the oldest running transaction of its own database.
  const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
  await admin.connect();
  try {
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [seedName])).rowCount === 1;
    let seeded: SeededYear | null = null;
    if (exists && process.env.BENCH_REPORT_FRESH_SEED !== '1') {
      const c = new pg.Client({ connectionString: databaseUrl(seedName) });
      await c.connect();
      try {
        const r = await c.query<{ seeded: SeededYear }>(`SELECT seeded FROM bench_seed WHERE workload = $1`, [JSON.stringify(workloadOf(s))]).catch(() => ({ rows: [] }));
        seeded = r.rows[0]?.seeded ?? null;
      } finally {
        await c.end();
      }
      if (seeded) log(`reusing the seeded log in ${seedName} (${seeded.events.toLocaleString('en-US')} events; seeded in ${(seeded.ms / 1000).toFixed(0)} s when made)`);
    }
    if (!seeded) {
      const url = await recreateDatabase(seedName);
      const sql = createPostgresClient(url, { max: 2 });
      try {
        await migrateEventStore(sql);
        seeded = await seedReportYear(sql, s, log);
        await sql.query('CREATE TABLE bench_seed (workload text PRIMARY KEY, seeded jsonb NOT NULL)');
        await sql.query('INSERT INTO bench_seed (workload, seeded) VALUES ($1, $2)', [JSON.stringify(workloadOf(s)), JSON.stringify(seeded)]);
        await sql.query('VACUUM ANALYZE kefu_events');
      } finally {
        await sql.close();
      }
    }
    if (process.env.BENCH_REPORT_SEED_ONLY === '1') return null;
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${database} TEMPLATE ${seedName}`);
    return { url: databaseUrl(database), seeded };
  } finally {
    await admin.end();
  }
}

/** The run's database of an earlier run with BENCH_REPORT_KEEP=1 (projected, its catch-up done), or null. */
async function keptProjection(s: ReturnType<typeof settings>, log: (m: string) => void): Promise<{ url: string; seeded: SeededYear } | null> {
  const url = databaseUrl(databaseOf(s));
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
  } catch {
    return null;
  }
  try {
    const r = await c.query<{ seeded: SeededYear }>('SELECT seeded FROM bench_projected').catch(() => ({ rows: [] }));
    const seeded = r.rows[0]?.seeded ?? null;
    if (seeded) log(`reusing the kept projection in ${databaseOf(s)} (BENCH_REPORT_KEEP=1; catch-up skipped)`);
    return seeded ? { url, seeded } : null;
  } finally {
    await c.end();
  }
}

/** The run's copy of the seeded log, named by its size: runs of other sizes (a 100k A/B beside a 1M run) leave it alone. */
const databaseOf = (s: ReturnType<typeof settings>) => `kefu_bench_reports_${s.contacts}_${s.agents}_${s.groups}`;

/**
 * CPU time of this process and of the database's PostgreSQL backends (/proc/<pid>/stat, sampled every
 * half second so a backend that closes keeps what it used): what a catch-up or a query costs on a loaded
 * machine, where wall time mostly measures the other load. Linux only (elsewhere PostgreSQL's is 0).
 */
function cpuMeter(url: string) {
  const ticks = (pid: number) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      return 0;
    }
  };
  const name = new URL(url).pathname.slice(1);
  const c = new pg.Client({ connectionString: databaseUrl('postgres') });
  const seen = new Map<number, number>();
  const start = new Map<number, number>();
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const { pid } of (await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [name])).rows) {
        // A backend that starts after start() counts from 0 (a new connection of the pool).
        if (!start.has(pid)) start.set(pid, 0);
        seen.set(pid, Math.max(seen.get(pid) ?? 0, ticks(pid)));
      }
    } finally {
      busy = false;
    }
  };
  let timer: NodeJS.Timeout | null = null;
  let node = process.cpuUsage();
  return {
    async start() {
      await c.connect();
      await sample();
      for (const [pid, t] of seen) start.set(pid, t);
      node = process.cpuUsage();
      timer = setInterval(() => void sample().catch(() => undefined), 500);
    },
    /** Milliseconds of CPU since start: this process's and PostgreSQL's. */
    async stop(): Promise<{ nodeMs: number; pgMs: number }> {
      const n = process.cpuUsage(node);
      if (timer) clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 10));
      await sample();
      await c.end();
      let pgMs = 0;
      for (const [pid, t] of seen) pgMs += t - (start.get(pid) ?? 0);
      return { nodeMs: (n.user + n.system) / 1000, pgMs };
    },
  };
}

/** What the seeded log depends on (the generator's version included: change it when workload.ts changes). */
const workloadOf = (s: ReturnType<typeof settings>) => ({ generator: 2, contacts: s.contacts, agents: s.agents, groups: s.groups });

export const reportsBench: BenchModule = {
  name: 'reports',
  title: 'Reports: projection catch-up and report queries (PostgreSQL)',
  comparison: null,
  goal: { eventsPerSec: 20_000, title: 'vs 20k events/s' },
  describe() {
    const s = settings();
    return [
      `One instance, a year (2025) of ${s.contacts.toLocaleString('en-US')} contacts handled by ${s.agents} agents in ${s.groups} skill groups, inserted into`,
      'the event store; then the `reports` projection rebuilt from the first event (catch-up), a month of `agentReport`',
      `(per agent and day, every agent) and the year of \`instanceReport\` (per day and channel), ${s.queryRounds} rounds each.`,
      'Targets: catch-up >= 20,000 events/s; agent month p99 < 200 ms; instance year < 500 ms.',
    ].join('\n');
  },
  notes: () => notes,
  async run(): Promise<ResultRow[]> {
    const s = settings();
    const log = (m: string) => console.log(`  ${m}`);
    // BENCH_REPORT_KEEP=1: the run's database is kept after the run with its projection; the next run with it
    // set reuses that database, its catch-up skipped (migrations still run: a new table is filled by its own).
    const keep = process.env.BENCH_REPORT_KEEP === '1';
    const kept = keep ? await keptProjection(s, log) : null;
    const copy = kept ?? (await seededCopy(s, log));
    // BENCH_REPORT_SEED_ONLY=1: the seeded log made (or found) and kept, nothing measured.
    if (!copy) return [];
    const { url, seeded } = copy;
    const sql = createPostgresClient(url, { max: 4 });
    const db = createKysely<ReadModelDb>(sql);
    const rows: ResultRow[] = [];
    let projected = !!kept;
    try {
      await migrateEventStore(sql);
      await migrateReadModels(db as never);
      const store = new PostgresEventStore(sql);
      // The queries to time (BENCH_REPORT_QUERIES=agent-month,agent-month-total; default all).
      const queries = envList('BENCH_REPORT_QUERIES');
      const wanted = (measurement: string) => !queries || queries.includes(measurement);
      let perEvent = 'catch-up skipped (BENCH_REPORT_KEEP: a kept projection)';
      if (!kept) {
        const meter = cpuMeter(url);
        await meter.start();
        const t0 = performance.now();
        // The projection's own catch-up batch (reportsProjection.catchUpBatchSize), as `npm run projections -- rebuild reports` uses.
        const applied = await rebuildProjection({ store, db, projection: reportsProjection });
        const catchUpMs = performance.now() - t0;
        const cpu = await meter.stop();
        perEvent = `CPU per event: Kefu (Node) ${((cpu.nodeMs * 1000) / applied).toFixed(1)} us, PostgreSQL ${((cpu.pgMs * 1000) / applied).toFixed(1)} us`;
        log(`rebuilt reports from ${applied.toLocaleString('en-US')} events in ${(catchUpMs / 1000).toFixed(1)} s; ${perEvent}`);
        rows.push({
          measurement: 'catch-up',
          label: 'reports projection catch-up (rebuild from the first event)',
          target: 'kefu-postgres',
          events: seeded.events,
          ms: catchUpMs,
          eventsPerSec: seeded.events / (catchUpMs / 1000),
          p50Ms: 0,
          p99Ms: 0,
          perRound: [seeded.events / (catchUpMs / 1000)],
          showTime: true,
        });
        if (keep) await sql.query('CREATE TABLE bench_projected (seeded jsonb NOT NULL)');
        if (keep) await sql.query('INSERT INTO bench_projected (seeded) VALUES ($1)', [JSON.stringify(seeded)]);
        projected = true;
      }

      // The year's figures against the generator's own counts.
      const year = await resolveReportRequest(db, seeded.instanceId, { from: '2025-01-01', to: '2025-12-31', interval: 'TOTAL', timeZone: 'UTC' }, limits);
      const total = await instanceReport(db, year, { first: 100, after: null });
      const sum = (f: (m: (typeof total.edges)[0]['node']['metrics']) => number) => total.edges.filter((e) => e.node.direction === 'IN').reduce((n, e) => n + f(e.node.metrics), 0);
      const check = { created: sum((m) => m.created), handled: sum((m) => m.handled), abandoned: sum((m) => m.abandoned + m.abandonedInIvr), rejected: sum((m) => m.rejected) };
      // Field by field: a kept seed's figures come back from jsonb, its keys in another order.
      if ((Object.keys(check) as (keyof typeof check)[]).some((k) => check[k] !== seeded.expected[k])) throw new Error(`report totals ${JSON.stringify(check)} differ from the generator's ${JSON.stringify(seeded.expected)}`);

      const queryCpu: string[] = [];
      const timed = async (measurement: string, label: string, run: () => Promise<number>) => {
        if (!wanted(measurement)) return;
        for (let i = 0; i < s.warmupRounds; i++) await run();
        const times: number[] = [];
        let rowsRead = 0;
        const meter = cpuMeter(url);
        await meter.start();
        for (let i = 0; i < s.queryRounds; i++) {
          const t = performance.now();
          rowsRead = await run();
          times.push(performance.now() - t);
        }
        const cpu = await meter.stop();
        queryCpu.push(`${measurement}: Node ${(cpu.nodeMs / s.queryRounds).toFixed(1)} ms, PostgreSQL ${(cpu.pgMs / s.queryRounds).toFixed(1)} ms a query`);
        log(queryCpu[queryCpu.length - 1]!);
        const total = times.reduce((a, b) => a + b, 0);
        rows.push({
          measurement,
          label: `${label} (${rowsRead.toLocaleString('en-US')} rows)`,
          target: 'kefu-postgres',
          events: s.queryRounds,
          ms: total,
          eventsPerSec: s.queryRounds / (total / 1000),
          p50Ms: median(times),
          p99Ms: percentile(times, 99),
          perRound: times.map((t) => 1000 / t),
        });
      };
      const month = await resolveReportRequest(db, seeded.instanceId, { from: '2025-06-01', to: '2025-06-30', interval: 'DAY', timeZone: 'Asia/Shanghai' }, limits);
      await timed('agent-month', 'agentReport, a month per agent and day', async () => (await agentReport(db, month, { first: 5000, after: null }, new Date('2026-01-01T00:00:00Z'))).edges.length);
      // The same month as one row per agent (interval MONTH): the month's totals of every agent.
      const monthTotal = await resolveReportRequest(db, seeded.instanceId, { from: '2025-06-01', to: '2025-06-30', interval: 'MONTH', timeZone: 'Asia/Shanghai' }, limits);
      await timed('agent-month-total', 'agentReport, a month per agent (interval MONTH)', async () => (await agentReport(db, monthTotal, { first: 5000, after: null }, new Date('2026-01-01T00:00:00Z'))).edges.length);
      const days = await resolveReportRequest(db, seeded.instanceId, { from: '2025-01-01', to: '2025-12-31', interval: 'DAY', timeZone: 'Asia/Shanghai' }, limits);
      await timed('instance-year', 'instanceReport, a year per day and channel (the instance\'s zone: day totals)', async () => (await instanceReport(db, days, { first: 5000, after: null })).edges.length);
      // The same report in a zone that is not the instance's reads the 15-minute buckets: the day totals' gain.
      const utcDays = await resolveReportRequest(db, seeded.instanceId, { from: '2025-01-01', to: '2025-12-31', interval: 'DAY', timeZone: 'UTC' }, limits);
      await timed('instance-year-buckets', 'instanceReport, a year per day and channel (UTC, not the instance\'s zone: buckets)', async () => (await instanceReport(db, utcDays, { first: 5000, after: null })).edges.length);
      notes = `Catch-up ${perEvent}. CPU per query (over the rounds): ${queryCpu.join('; ')}. Checked: the year's inbound totals equal the generator's (${JSON.stringify(check)}). Seeding: ${(seeded.ms / 1000).toFixed(0)} s for ${seeded.events.toLocaleString('en-US')} events.`;
    } finally {
      await sql.close();
      if (!keep || !projected) await dropDatabase(databaseOf(s));
    }
    return rows;
  },
};
