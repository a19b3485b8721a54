// CSV export benchmark (issue 15): GET /exports/call-records.csv of 1,000,000 call records (a year of one
// instance) from Kefu on PostgreSQL, and of one month of them (a from/to filter). Kefu runs in a child
// process (bench/exports/server-child.ts, --expose-gc) on a fresh database (`kefu_bench_exports`); this
// process is the HTTP client and reads the stream as fast as it comes, counting rows.
//
// Seeding: the instance, a PHONE skill group and 50 agents through the public API; the call records
// straight into the read model with one INSERT … SELECT generate_series per 100,000 rows (answered inbound
// calls, one agent leg each, a key pressed, 31 s apart: a year), as the call-records projection would
// have written them. Measured: rows/s over the whole download, time to the first byte, and Kefu's resident
// set: its peak during the download over its idle figure (after a GC) just before. Target: < 200 MiB over idle.
import pg from 'pg';
import { envInt } from './lib/config.ts';
import type { BenchModule } from './lib/module.ts';
import { startServerChild, stopServerChild, type ServerChild } from './lib/server-child.ts';
import { dropDatabase, recreateDatabase } from './lib/pg-admin.ts';
import type { ResultRow } from './lib/report.ts';
import { median } from './lib/stats.ts';

const database = 'kefu_bench_exports';
const operatorToken = 'bench-operator-token-0123456789';
const targetMiB = 200;
const MiB = 1024 * 1024;

function settings() {
  return {
    rows: Math.max(1000, envInt('BENCH_EXPORT_ROWS', 1_000_000)),
    agents: Math.max(1, envInt('BENCH_EXPORT_AGENTS', 50)),
    rounds: Math.max(1, envInt('BENCH_EXPORT_ROUNDS', 2)),
  };
}

type Server = ServerChild;

const startServer = (databaseUrl: string): Promise<Server> => startServerChild(new URL('./exports/server-child.ts', import.meta.url), { DATABASE_URL: databaseUrl, KEFU_OPERATOR_TOKEN: operatorToken }, [...process.execArgv, '--expose-gc']);
const stopServer = stopServerChild;

function ask<T>(s: Server, type: 'reset' | 'memory'): Promise<T> {
  return new Promise((resolve) => {
    s.child.once('message', (m) => resolve(m as T));
    s.child.send({ type });
  });
}

/** A GraphQL call; SERVICE_UNAVAILABLE (a loaded machine: the database slow to answer) is tried again after its retryAfterSeconds. */
async function gql<T>(port: number, token: string | null, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: { extensions?: { code?: string; retryAfterSeconds?: number } }[] };
    const unavailable = body.errors?.find((e) => e.extensions?.code === 'SERVICE_UNAVAILABLE');
    if (unavailable && attempt < 10) {
      await new Promise((r) => setTimeout(r, (unavailable.extensions?.retryAfterSeconds ?? 1) * 1000));
      continue;
    }
    if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors).slice(0, 500)}`);
    return body.data as T;
  }
}

const start = new Date('2025-01-01T00:00:00Z');
const spacingSeconds = 31;

async function seed(port: number, url: string, s: ReturnType<typeof settings>, log: (m: string) => void) {
  const t0 = performance.now();
  const created = await gql<{ createInstance: { instance: { id: string }; adminApiKey: string } }>(port, operatorToken, 'mutation { createInstance(input: { name: "Exports" }) { instance { id } adminApiKey } }');
  const instanceId = created.createInstance.instance.id;
  const adminKey = created.createInstance.adminApiKey;
  await gql(port, operatorToken, 'mutation($id: ID!, $n: Int!) { purchaseSeats(input: { instanceId: $id, seats: $n }) { seats } }', { id: instanceId, n: s.agents });
  const group = await gql<{ createSkillGroup: { id: string } }>(port, adminKey, 'mutation { createSkillGroup(input: { name: "Sales", channel: PHONE, strategy: LONGEST_IDLE }) { id } }');
  const groupId = group.createSkillGroup.id;
  const agentIds: string[] = [];
  for (let i = 0; i < s.agents; i++) {
    const a = await gql<{ createAgent: { id: string } }>(port, adminKey, 'mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', {
      input: { name: `Agent ${i + 1} 张`, login: `agent${i + 1}`, password: 'password-123', role: 'AGENT' },
    });
    agentIds.push(a.createAgent.id);
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const chunk = 100_000;
    for (let from = 1; from <= s.rows; from += chunk) {
      const to = Math.min(s.rows, from + chunk - 1);
      await c.query(
        `INSERT INTO call_records (instance_id, contact_id, call_id, direction, caller, callee, node, started_at, queued_at, ring_at, accepted_at, ended_at,
           ivr_seconds, queue_seconds, ring_seconds, talk_seconds, end_status, ended_by, skill_group_id, current_skill_group_id, served_skill_group_id,
           agent_id, agent_ids, keys, legs, updated_at)
         SELECT $1::text, s.id, s.id || '@trunk.example.com', 'IN', '+86138' || lpad(s.n::text, 8, '0'), '+864001234567', 'node-a',
           s.at, s.at + interval '12 s', s.at + interval '30 s', s.at + interval '36 s', s.at + interval '236 s',
           12, 18, 6, 200, 'customerHangUp', 'CUSTOMER', $2::text, $2::text, $2::text,
           s.agent, ARRAY[s.agent],
           jsonb_build_array(jsonb_build_object('key', '1', 'label', 'Sales', 'at', s.at + interval '5 s')),
           jsonb_build_array(jsonb_build_object('sequence', 1, 'agentId', s.agent, 'offerId', s.id, 'skillGroupId', $2::text, 'device', 'SIP_PHONE',
             'address', 'sip:agent@10.0.0.5', 'ringAt', s.at + interval '30 s', 'acceptAt', s.at + interval '36 s', 'endAt', s.at + interval '236 s',
             'result', 'ANSWERED', 'transferredFromAgentId', null, 'transferredToAgentId', null, 'transferredToSkillGroupId', null, 'holdMs', (s.n % 7) * 1000)),
           now()
         FROM (
           SELECT n, gen_random_uuid()::text AS id, $5::timestamptz + n * interval '${spacingSeconds} s' AS at, ($6::text[])[1 + n % cardinality($6::text[])] AS agent
           FROM generate_series($3::int, $4::int) AS n
         ) s`,
        [instanceId, groupId, from, to, start.toISOString(), agentIds],
      );
      log(`seeded ${to.toLocaleString('en-US')} call records`);
    }
    await c.query('ANALYZE call_records');
  } finally {
    await c.end();
  }
  return { instanceId, adminKey, seedSeconds: (performance.now() - t0) / 1000 };
}

interface Download {
  rows: number;
  bytes: number;
  ms: number;
  firstByteMs: number;
}

async function download(port: number, token: string, query: string): Promise<Download> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/exports/call-records.csv${query}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`export answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  let firstByteMs = -1;
  let rows = 0;
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (firstByteMs < 0) firstByteMs = performance.now() - t0;
    bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x0a) rows++;
  }
  return { rows: rows - 1, bytes, ms: performance.now() - t0, firstByteMs };
}

const notes: string[] = [];

export const exportsBench: BenchModule = {
  name: 'exports',
  title: 'CSV export of call records',
  describe() {
    const s = settings();
    return [
      `Kefu (\`startKefu\`, LOG_LEVEL=silent, --expose-gc) in a child process on a fresh PostgreSQL database (\`${database}\`): one instance, a PHONE skill group and ${s.agents} agents made through the public API,`,
      `${s.rows.toLocaleString('en-US')} call records (answered inbound calls ${spacingSeconds} s apart from 2025-01-01, one agent leg and one key each) inserted into the read model with INSERT … SELECT generate_series.`,
      `Measured: \`GET /exports/call-records.csv\` by an admin API key, the whole stream read by a client in this process as it comes (rows counted by line ends), and the same for one month (\`from=2025-03-01T00:00:00Z&to=2025-04-01T00:00:00Z\`); ${s.rounds} round(s).`,
      `"events" = CSV rows; p50 = time to the first byte, p99 = the whole download. Kefu's resident set is sampled every 20 ms in the child: peak during the download minus idle just before (after a GC); target < ${targetMiB} MiB over idle.`,
    ].join(' ');
  },
  comparison: null,
  async run(): Promise<ResultRow[]> {
    const s = settings();
    notes.length = 0;
    const log = (m: string) => console.log(`  ${m}`);
    const url = await recreateDatabase(database);
    const server = await startServer(url);
    const rows: ResultRow[] = [];
    try {
      const seeded = await seed(server.port, url, s, log);
      log(`seeded in ${seeded.seedSeconds.toFixed(1)} s`);
      for (const [measurement, label, query] of [
        ['export-all', `all ${s.rows.toLocaleString('en-US')} call records (a year)`, ''],
        ['export-month', 'one month of them (from/to filter)', '?from=2025-03-01T00:00:00Z&to=2025-04-01T00:00:00Z'],
      ] as const) {
        const runs: (Download & { overIdleMiB: number; idleMiB: number; peakHeapOverIdleMiB: number })[] = [];
        for (let round = 0; round < s.rounds; round++) {
          const idle = await ask<{ idleRss: number; idleHeap: number }>(server, 'reset');
          const d = await download(server.port, seeded.adminKey, query);
          const peak = await ask<{ peakRss: number; peakHeap: number; peakRetained?: number }>(server, 'memory');
          if (peak.peakRetained !== undefined) log(`retained heap (after a full GC) at most ${((peak.peakRetained - idle.idleHeap) / MiB).toFixed(0)} MiB over idle`);
          runs.push({ ...d, idleMiB: idle.idleRss / MiB, overIdleMiB: (peak.peakRss - idle.idleRss) / MiB, peakHeapOverIdleMiB: (peak.peakHeap - idle.idleHeap) / MiB });
          log(`${measurement} round ${round + 1}: ${d.rows.toLocaleString('en-US')} rows, ${(d.bytes / MiB).toFixed(0)} MiB in ${(d.ms / 1000).toFixed(1)} s (${((d.rows / d.ms) * 1000).toFixed(0)} rows/s), first byte ${d.firstByteMs.toFixed(0)} ms, RSS +${runs.at(-1)!.overIdleMiB.toFixed(0)} MiB over ${runs.at(-1)!.idleMiB.toFixed(0)} MiB idle`);
        }
        const perRound = runs.map((r) => (r.rows / r.ms) * 1000);
        rows.push({
          measurement,
          label,
          target: 'kefu-http-csv',
          events: runs[0]!.rows,
          ms: median(runs.map((r) => r.ms)),
          eventsPerSec: median(perRound),
          p50Ms: median(runs.map((r) => r.firstByteMs)),
          p99Ms: median(runs.map((r) => r.ms)),
          perRound,
          showTime: true,
        });
        const worst = Math.max(...runs.map((r) => r.overIdleMiB));
        notes.push(
          `${measurement}: ${runs[0]!.rows.toLocaleString('en-US')} rows, ${(runs[0]!.bytes / MiB).toFixed(0)} MiB of CSV; Kefu's resident set at most ${worst.toFixed(0)} MiB over idle (${runs[0]!.idleMiB.toFixed(0)} MiB), heap at most ${Math.max(...runs.map((r) => r.peakHeapOverIdleMiB)).toFixed(0)} MiB over idle: ${worst < targetMiB ? 'within' : 'OVER'} the ${targetMiB} MiB target.`,
        );
      }
    } finally {
      await stopServer(server);
      if (process.env.BENCH_EXPORT_KEEP_DATABASE !== '1') await dropDatabase(database);
    }
    return rows;
  },
  notes() {
    return notes.join('\n');
  },
};
