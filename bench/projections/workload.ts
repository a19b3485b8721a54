// The event log the projection benchmark catches up on, written as Kefu writes it.
//
// Per instance: `InstanceCreated` and the admin's `ApiKeyCreated` in `instance-<id>`, then for each agent an
// `AgentSeatAssigned` in the instance stream and an `AgentCreated` in `agent-<instanceId>.<agentId>`. These
// set-up events go through `PostgresEventStore.appendToStream`, one command (one append) at a time, one
// concurrent writer per instance. Then the bulk of the log: presence changes (`AgentWentAvailable`,
// `AgentWentOnBreak {reason}`, `AgentWentOffline`) of randomly picked agents across all instances,
// interleaved in time as agents of a real contact center would change their presence, each a valid
// transition of the agent decider (no repeated state). Appending a million of them one command at a time
// would take longer than the whole benchmark may, so they are inserted directly into `kefu_events` with
// the same columns `kefu_append` fills, in chunks of a few thousand rows per statement, and `kefu_streams` is
// set to each stream's last revision at the end. Several writers insert at once (PostgreSQL only), each with
// its own share of the agents and one chunk at a time, so every stream's events commit in revision order.
//
// A chunk is one transaction, so its events share a transaction id and are ordered by `seq` within it. No
// chunk holds seqs of different digit counts (one never runs across 9,999 -> 10,000, say): `readAll` and
// `headPosition` in src/adapters/eventstore/postgres/postgres-event-store.ts sort by `seq` after selecting
// `seq::text AS seq`, and PostgreSQL's ORDER BY then sorts by that text, so within one transaction '10000'
// comes before '9999' and paging skips and repeats events. Kefu's own appends are mostly one event per
// transaction, where this never shows; the bench keeps clear of it rather than measure a wrong catch-up.
//
// The generator is seeded, so every run writes the same sequence of types, streams and times (ids differ).
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { PostgresEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { defaultBreakReasons } from '../../src/domain/instance/instance.ts';
import type { EventMetadata, NewEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';

export interface WorkloadSize {
  /** Events in the log, set-up events included. */
  events: number;
  instances: number;
  agentsPerInstance: number;
  /** Days of presence changes the log spans (online time is kept per UTC day, so spells cross midnights). */
  days: number;
  /** Rows per INSERT of the bulk part. */
  chunk: number;
  /** Concurrent writers of the bulk part (PostgreSQL; PGlite has one connection). */
  writers: number;
}

type Presence = 'OFFLINE' | 'AVAILABLE' | 'BREAK';

export interface SeededAgent {
  instanceId: string;
  agentId: string;
  streamId: string;
  /** Revision of the stream's last event. */
  revision: number;
  presence: Presence;
  breakReason: string | null;
}

export interface SeedResult {
  agents: SeededAgent[];
  events: number;
  /** Events appended through `appendToStream`, and through the bulk insert. */
  appended: number;
  inserted: number;
  appendMs: number;
  insertMs: number;
}

/** mulberry32: small, fast, seeded. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const firstNames = ['Li', 'Wang', 'Zhang', 'Liu', 'Chen', 'Yang', 'Anna', 'Marco', 'Sofia', 'Jonas', 'Amira', 'Kenji'];
const lastNames = ['Wei', 'Fang', 'Jing', 'Min', 'Hao', 'Schmidt', 'Rossi', 'Novak', 'Haddad', 'Tanaka', 'Silva'];

/** The shape of Kefu's scrypt hashes (src/api/credentials.ts), without spending 50 ms of CPU on each. */
function fakePasswordHash(): string {
  return `scrypt$16384$8$1$${randomBytes(16).toString('base64url')}$${randomBytes(32).toString('base64url')}`;
}

/** The next presence change of an agent, valid for the agent decider (a change, never a repeat). */
function nextPresence(agent: SeededAgent, rnd: () => number): { type: string; data: Record<string, unknown>; presence: Presence; reason: string | null } {
  const r = rnd();
  const breakReason = (): string | null => (rnd() < 0.15 ? null : defaultBreakReasons[Math.floor(rnd() * defaultBreakReasons.length)]!);
  const toBreak = () => {
    let reason = breakReason();
    // Going on break with the same reason again is no change: pick another.
    if (agent.presence === 'BREAK' && reason === agent.breakReason) reason = reason === null ? defaultBreakReasons[0]! : null;
    return { type: 'AgentWentOnBreak', data: { reason }, presence: 'BREAK' as const, reason };
  };
  const available = { type: 'AgentWentAvailable', data: {}, presence: 'AVAILABLE' as const, reason: null };
  const offline = { type: 'AgentWentOffline', data: {}, presence: 'OFFLINE' as const, reason: null };
  switch (agent.presence) {
    case 'OFFLINE':
      return r < 0.85 ? available : toBreak();
    case 'AVAILABLE':
      return r < 0.6 ? toBreak() : offline;
    case 'BREAK':
      return r < 0.7 ? available : r < 0.9 ? offline : toBreak();
  }
}

/** Writes the workload into an empty, migrated event store. */
export async function seed(
  store: PostgresEventStore,
  sql: SqlClient,
  size: WorkloadSize,
  log: (msg: string) => void,
): Promise<SeedResult> {
  const rnd = prng(20261125);
  const start = Date.parse('2026-01-05T08:00:00.000Z');
  let clock = start;
  const tick = (ms: number) => {
    clock += Math.max(1, Math.round(ms));
    return new Date(clock).toISOString();
  };
  const meta = (instanceId: string, actor: string, occurredAt: string): EventMetadata => ({
    instanceId,
    actor,
    correlationId: randomUUID(),
    causationId: null,
    occurredAt,
  });

  // Set-up: instances and agents, through the event store's append, one writer per instance.
  const t0 = performance.now();
  const agents: SeededAgent[] = [];
  const perInstance: { instanceId: string; appends: { streamId: string; event: NewEvent; expected: 'no_stream' | number }[] }[] = [];
  for (let i = 0; i < size.instances; i++) {
    const instanceId = randomUUID();
    const instanceStream = streams.instance(instanceId);
    const keyId = randomUUID();
    const appends: (typeof perInstance)[number]['appends'] = [];
    let instanceRevision = -1;
    const onInstance = (type: string, data: Record<string, unknown>, actor: string) => {
      appends.push({
        streamId: instanceStream,
        event: { id: randomUUID(), type, data, metadata: meta(instanceId, actor, tick(200)) },
        expected: instanceRevision < 0 ? 'no_stream' : instanceRevision,
      });
      instanceRevision++;
    };
    onInstance('InstanceCreated', { instanceId, name: `Bench instance ${i + 1}`, breakReasons: defaultBreakReasons }, 'operator');
    onInstance('ApiKeyCreated', { keyId, name: 'admin', role: 'ADMIN', secretHash: fakePasswordHash() }, 'operator');
    for (let a = 0; a < size.agentsPerInstance; a++) {
      const agentId = randomUUID();
      const login = `agent${String(a + 1).padStart(4, '0')}`;
      onInstance('AgentSeatAssigned', { agentId, login }, `apikey:${keyId}`);
      const streamId = streams.agent(instanceId, agentId);
      const name = `${firstNames[Math.floor(rnd() * firstNames.length)]} ${lastNames[Math.floor(rnd() * lastNames.length)]}`;
      appends.push({
        streamId,
        event: {
          id: randomUUID(),
          type: 'AgentCreated',
          data: { agentId, name, login, passwordHash: fakePasswordHash(), phone: rnd() < 0.5 ? `+86138${String(Math.floor(rnd() * 1e8)).padStart(8, '0')}` : null, role: a === 0 ? 'SUPERVISOR' : 'AGENT' },
          metadata: meta(instanceId, `apikey:${keyId}`, tick(100)),
        },
        expected: 'no_stream',
      });
      agents.push({ instanceId, agentId, streamId, revision: 0, presence: 'OFFLINE', breakReason: null });
    }
    perInstance.push({ instanceId, appends });
  }
  await Promise.all(
    perInstance.map(async (p) => {
      for (const a of p.appends) await store.appendToStream(a.streamId, [a.event], { expectedRevision: a.expected });
    }),
  );
  const appended = perInstance.reduce((n, p) => n + p.appends.length, 0);
  const appendMs = performance.now() - t0;
  log(`appended ${appended.toLocaleString('en-US')} set-up events through appendToStream in ${(appendMs / 1000).toFixed(1)} s`);

  // The bulk: presence changes, interleaved across all agents, inserted directly.
  const toInsert = Math.max(0, size.events - appended);
  const stepMs = (size.days * 86_400_000) / Math.max(1, toInsert);
  // One jsonb parameter per chunk (an array of [id, stream, revision, type, data, metadata]): PostgreSQL parses
  // it faster than six array parameters (~1.5x in a probe).
  const insertSql = `INSERT INTO kefu_events (event_id, stream_id, revision, type, data, metadata)
    SELECT (e->>0)::uuid, e->>1, (e->>2)::bigint, e->>3, e->4, e->5
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS u(e, ord)
    ORDER BY u.ord`;
  const writers = sql.kind === 'pglite' ? 1 : Math.max(1, Math.min(size.writers, agents.length));
  const shares = Array.from({ length: writers }, (_, w) => agents.filter((_, i) => i % writers === w));
  const makeChunk = (share: SeededAgent[], n: number): string => {
    const rows: unknown[] = [];
    for (let k = 0; k < n; k++) {
      const agent = share[Math.floor(rnd() * share.length)]!;
      const next = nextPresence(agent, rnd);
      agent.revision++;
      agent.presence = next.presence;
      agent.breakReason = next.reason;
      const metadata = meta(agent.instanceId, `agent:${agent.agentId}`, tick(rnd() * 2 * stepMs));
      rows.push([randomUUID(), agent.streamId, agent.revision, next.type, next.data, metadata]);
    }
    return JSON.stringify(rows);
  };
  const digits = (n: number) => String(n).length;
  const t1 = performance.now();
  const sequence = await sql.query<{ next: string }>(
    `SELECT (coalesce(pg_sequence_last_value(pg_get_serial_sequence('kefu_events', 'seq')::regclass), 0) + 1)::text AS next`,
  );
  /** The seq the first inserted row gets: every row inserted after takes the next one (no other writer). */
  const base = Number(sequence.rows[0]!.next);
  let sent = 0;
  let inFlightRows = 0;
  const busy: Promise<void>[] = Array.from({ length: writers }, () => Promise.resolve());
  let lastLog = t1;
  for (let c = 0; sent < toInsert; c++) {
    const w = c % writers;
    // A writer sends its next chunk once its last one has committed: its streams stay in revision order.
    await busy[w];
    let n = Math.min(size.chunk, toInsert - sent);
    // Every row in flight, and this chunk's, takes a seq in [base + sent - inFlightRows, base + sent + n). If
    // that range crosses a power of ten, let everything commit and fill up to it alone (see the note at the top).
    if (digits(base + sent - inFlightRows) !== digits(base + sent + n - 1)) {
      await Promise.all(busy);
      n = Math.min(n, 10 ** digits(base + sent) - (base + sent));
    }
    const chunk = makeChunk(shares[w]!, n);
    sent += n;
    inFlightRows += n;
    busy[w] = sql.query(insertSql, [chunk]).then(() => {
      inFlightRows -= n;
    });
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log(`inserted ${(sent - inFlightRows).toLocaleString('en-US')} / ${toInsert.toLocaleString('en-US')} presence events`);
    }
  }
  await Promise.all(busy);
  const inserted = sent;
  for (let i = 0; i < agents.length; i += 5000) {
    const part = agents.slice(i, i + 5000);
    await sql.query(
      `UPDATE kefu_streams s SET revision = v.rev FROM unnest($1::text[], $2::bigint[]) AS v(stream, rev) WHERE s.stream_id = v.stream`,
      [part.map((a) => a.streamId), part.map((a) => a.revision)],
    );
  }
  const insertMs = performance.now() - t1;
  log(`inserted ${inserted.toLocaleString('en-US')} presence events in ${(insertMs / 1000).toFixed(1)} s`);
  return { agents, events: appended + inserted, appended, inserted, appendMs, insertMs };
}
