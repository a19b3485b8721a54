// Offers end to end: the real Router (src/processes/router/router.ts) on PostgreSQL, from its start to
// every agent at capacity.
//
// Seeding (not timed) goes through the real CommandHandler and deciders into a fresh database: skill
// groups, agents (created, AVAILABLE, members of 1-2 groups), then contacts created and queued. It runs with
// synchronous_commit=off on its own connections, only to be quick; the router's connections use the
// server's setting (durable commits). Then a Router starts with its own PostgresEventStore, pool and
// CommandHandler (empty state cache, as after a restart): it takes the lease, catches up on the log,
// reconciles, and offers. Every offer is a ReserveAgent on the agent's stream at its expected revision
// (per agent for RING_ALL), then an OfferContact on the contact's stream; each is a read of the stream
// after the cached revision and one append.
//
// Measured through a CommandHandler subclass that only timestamps the commands the router sends, and a
// wrapper around the router's SQL client that adds up time per statement kind.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CommandHandler, type HandledCommand } from '../../src/adapters/eventstore/command-handler.ts';
import { migrateEventStore, PostgresEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPostgresClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { CommandMetadata, Decider, DomainEvent } from '../../src/domain/decider.ts';
import type { EventStore, Position, RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { skillGroupDecider } from '../../src/domain/skill-group/skill-group.decide.ts';
import type { Channel, RoutingStrategy } from '../../src/domain/skill-group/skill-group.ts';
import { streams } from '../../src/domain/streams.ts';
import { Router } from '../../src/processes/router/router.ts';
import { dropDatabase, recreateDatabase } from '../lib/pg-admin.ts';
import { seededRandom } from './snapshot.ts';

export interface EndToEndSettings {
  agents: number;
  groups: number;
  contacts: number;
  seed: number;
  /** Concurrent command streams while seeding. */
  seedConcurrency: number;
  /** Give up waiting for capacity after this long (the run is then reported as incomplete). */
  timeoutMs: number;
  /** Or after this long without a new offer. */
  quietMs: number;
  keepDatabase: boolean;
}

export const e2eDatabase = 'kefu_bench_routing';

interface GroupPlan {
  id: string;
  name: string;
  channel: Channel;
  strategy: RoutingStrategy;
  maxConcurrency: number;
}

// Five phone groups (one RING_ALL) and five chat groups (two SATURATION); more groups repeat the pattern.
const groupPattern: Omit<GroupPlan, 'id' | 'name'>[] = [
  { channel: 'PHONE', strategy: 'LONGEST_IDLE', maxConcurrency: 1 },
  { channel: 'PHONE', strategy: 'FEWEST_CONTACTS', maxConcurrency: 1 },
  { channel: 'PHONE', strategy: 'SKILL_LEVEL', maxConcurrency: 1 },
  { channel: 'PHONE', strategy: 'ROUND_ROBIN', maxConcurrency: 1 },
  { channel: 'PHONE', strategy: 'RING_ALL', maxConcurrency: 1 },
  { channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 3 },
  { channel: 'ONLINE', strategy: 'SATURATION', maxConcurrency: 4 },
  { channel: 'ONLINE', strategy: 'LONGEST_IDLE', maxConcurrency: 2 },
  { channel: 'ONLINE', strategy: 'RANDOM', maxConcurrency: 3 },
  { channel: 'ONLINE', strategy: 'LEAST_TALK_TIME', maxConcurrency: 2 },
];

interface AgentPlan {
  id: string;
  groups: { group: GroupPlan; level: number }[];
  /** Capacity: one line if in a phone group; chats up to the largest maxConcurrency of its chat groups. */
  line: number;
  chats: number;
}

interface Plan {
  instanceId: string;
  groups: GroupPlan[];
  agents: AgentPlan[];
  /** Skill group of each contact, in the order they are queued. */
  contacts: { id: string; group: GroupPlan }[];
  /** Offers that fill every agent, if every group has enough contacts (RING_ALL offers fill many at once). */
  capacity: number;
}

function plan(s: EndToEndSettings): Plan {
  const random = seededRandom(s.seed);
  const groups = Array.from({ length: s.groups }, (_, i) => ({ id: randomUUID(), name: `bench group ${i + 1}`, ...groupPattern[i % groupPattern.length]! }));
  const agents: AgentPlan[] = [];
  for (let i = 0; i < s.agents; i++) {
    const chosen = new Set<GroupPlan>();
    const count = 1 + Math.floor(random() * 2);
    while (chosen.size < Math.min(count, groups.length)) chosen.add(groups[Math.floor(random() * groups.length)]!);
    const member = [...chosen].map((group) => ({ group, level: 1 + Math.floor(random() * 3) }));
    agents.push({
      id: randomUUID(),
      groups: member,
      line: member.some((m) => m.group.channel !== 'ONLINE') ? 1 : 0,
      chats: Math.max(0, ...member.filter((m) => m.group.channel === 'ONLINE').map((m) => m.group.maxConcurrency)),
    });
  }
  // Contacts go to groups in proportion to what their members can take, so every group has more waiting
  // than it can offer (with the default sizes) and the run ends with every agent full.
  const demand = groups.map((g) => agents.reduce((n, a) => n + (a.groups.some((m) => m.group === g) ? (g.channel === 'ONLINE' ? g.maxConcurrency : 1) : 0), 0));
  const total = demand.reduce((a, b) => a + b, 0) || 1;
  const contacts: Plan['contacts'] = [];
  let assigned = 0;
  groups.forEach((group, i) => {
    const n = i === groups.length - 1 ? s.contacts - assigned : Math.round((s.contacts * demand[i]!) / total);
    assigned += n;
    for (let k = 0; k < n; k++) contacts.push({ id: randomUUID(), group });
  });
  // Arrivals interleave the groups.
  for (let i = contacts.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [contacts[i], contacts[j]] = [contacts[j]!, contacts[i]!];
  }
  // RING_ALL needs one offer for all its free members; other groups one per seat.
  const capacity = agents.reduce((n, a) => n + a.line + a.chats, 0);
  return { instanceId: randomUUID(), groups, agents, contacts, capacity };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function seed(url: string, p: Plan, s: EndToEndSettings, log: (msg: string) => void): Promise<{ ms: number; commands: number; events: number }> {
  // Not durable, on these connections only: seeding is not what is measured.
  const seedUrl = new URL(url);
  seedUrl.searchParams.set('options', '-c synchronous_commit=off');
  const sql = createPostgresClient(seedUrl.toString(), { max: s.seedConcurrency });
  const store = new PostgresEventStore(sql);
  const commands = new CommandHandler(store);
  const meta = (): CommandMetadata => ({ now: new Date().toISOString(), instanceId: p.instanceId, actor: 'operator', correlationId: randomUUID() });
  let count = 0;
  const t0 = performance.now();
  try {
    await migrateEventStore(sql);
    for (const g of p.groups) {
      count++;
      await commands.handle(streams.skillGroup(p.instanceId, g.id), skillGroupDecider, {
        type: 'CreateSkillGroup',
        // Offers ring for an hour and no after-call work: nothing times out or ends during the run.
        data: { skillGroupId: g.id, name: g.name, channel: g.channel, strategy: g.strategy, maxConcurrency: g.maxConcurrency, ringTimeoutSeconds: 3600, wrapUpSeconds: 0 },
        metadata: meta(),
      });
    }
    await pool(p.agents, s.seedConcurrency, async (a) => {
      const stream = streams.agent(p.instanceId, a.id);
      await commands.handle(stream, agentDecider, {
        type: 'CreateAgent',
        data: { agentId: a.id, name: `Agent ${a.id.slice(0, 8)}`, login: `agent-${a.id}`, passwordHash: 'x', phone: null, role: 'AGENT' },
        metadata: meta(),
      });
      await commands.handle(stream, agentDecider, { type: 'SetPresence', data: { agentId: a.id, presence: 'AVAILABLE', reason: null, breakReasons: [] }, metadata: meta() });
      count += 2;
    });
    // Members one after the other per group stream (no retries on its expected revision), groups in parallel.
    await pool(p.groups, s.seedConcurrency, async (g) => {
      for (const a of p.agents) {
        const m = a.groups.find((x) => x.group === g);
        if (!m) continue;
        count++;
        await commands.handle(streams.skillGroup(p.instanceId, g.id), skillGroupDecider, {
          type: 'SetSkillGroupMember',
          data: { skillGroupId: g.id, agentId: a.id, level: m.level },
          metadata: meta(),
        });
      }
    });
    log(`end to end: seeded ${p.groups.length} groups and ${p.agents.length} agents; queueing ${p.contacts.length} contacts`);
    await pool(p.contacts, s.seedConcurrency, async (c) => {
      const stream = streams.contact(p.instanceId, c.id);
      await commands.handle(stream, contactDecider, {
        type: 'CreateContact',
        data: { contactId: c.id, channel: c.group.channel, direction: 'IN', customer: { kind: 'PHONE', id: `+8613${c.id.slice(0, 8)}`, name: null }, data: {} },
        metadata: meta(),
      });
      await commands.handle(stream, contactDecider, { type: 'QueueContact', data: { contactId: c.id, skillGroupId: c.group.id, priority: 0 }, metadata: meta() });
      count += 2;
    });
    const ms = performance.now() - t0;
    // A database that has been running a while: analyzed, and flushed by a checkpoint.
    await sql.query('VACUUM ANALYZE kefu_events');
    await sql.query('VACUUM ANALYZE kefu_streams');
    await sql.query('CHECKPOINT');
    const events = await sql.query<{ n: string }>('SELECT count(*)::text AS n FROM kefu_events');
    return { ms, commands: count, events: Number(events.rows[0]!.n) };
  } finally {
    await store.close();
    await sql.close();
  }
}

/** Milliseconds and calls per statement kind of the router's SQL client (overlapping calls add up). */
export type SqlTimes = Record<string, { ms: number; calls: number }>;

function statementKind(text: string): string {
  // kefu_append( and the batched kefu_append_many( alike.
  if (text.includes('kefu_append')) return 'append (kefu_append, kefu_append_many)';
  if (text.includes('pg_notify')) return 'pg_notify (coalesced, after appends)';
  if (text.includes('WHERE stream_id = $1')) return 'readStream';
  if (text.includes('(tx_id, seq) >')) return 'readAll (subscription)';
  return 'other';
}

function timedSql(inner: SqlClient, times: SqlTimes, active: () => boolean): SqlClient {
  return {
    ...inner,
    async query<R>(text: string, params?: unknown[]) {
      const t0 = performance.now();
      try {
        return await inner.query<R>(text, params);
      } finally {
        if (active()) {
          const k = statementKind(text);
          const t = (times[k] ??= { ms: 0, calls: 0 });
          t.ms += performance.now() - t0;
          t.calls++;
        }
      }
    },
  };
}

/** The store as the router sees it, but telling when the router's subscription has caught up. */
function observedStore(inner: PostgresEventStore, onCaughtUp: () => void): EventStore {
  return {
    name: inner.name,
    appendToStream: (streamId, events, options) => inner.appendToStream(streamId, events, options),
    readStream: (streamId, options) => inner.readStream(streamId, options),
    readAll: (options) => inner.readAll(options),
    subscribeToAll: (options) =>
      inner.subscribeToAll({
        ...options,
        onCaughtUp: (position) => {
          onCaughtUp();
          options.onCaughtUp?.(position);
        },
      }),
    headPosition: () => inner.headPosition(),
    close: () => inner.close(),
  };
}

/** One command the router sent: its type, when it started and ended, and what it appended. */
interface SentCommand {
  type: string;
  streamId: string;
  start: number;
  end: number;
  events: DomainEvent[];
  failed: boolean;
}

/** The CommandHandler the router is given, unchanged except that it records each command it handles. */
class RecordingCommandHandler extends CommandHandler {
  readonly sent: SentCommand[] = [];
  onSent: (c: SentCommand) => void = () => undefined;

  override async handle<State, Command extends { metadata: CommandMetadata }, Event extends DomainEvent>(
    streamId: string,
    decider: Decider<State, Command, Event>,
    command: Command,
  ): Promise<HandledCommand<State, Event>> {
    const start = performance.now();
    const type = (command as unknown as { type: string }).type;
    let result: HandledCommand<State, Event> | undefined;
    try {
      result = await super.handle(streamId, decider, command);
      return result;
    } finally {
      const c = { type, streamId, start, end: performance.now(), events: result?.events ?? [], failed: result === undefined };
      this.sent.push(c);
      this.onSent(c);
    }
  }
}

export interface EndToEndResult {
  agents: number;
  groups: { channel: Channel; strategy: RoutingStrategy; maxConcurrency: number; members: number; contacts: number }[];
  contacts: number;
  capacity: number;
  seed: { ms: number; commands: number; events: number };
  /** Seeded events that readAll could not show yet when the router started (see verify). */
  hiddenAtStart: number;
  complete: boolean;
  /** From router.start() until: its subscription had caught up, the first ReserveAgent began, the first offer was appended, the last. */
  caughtUpMs: number;
  firstReserveMs: number;
  firstOfferMs: number;
  lastOfferMs: number;
  offers: number;
  reservations: number;
  agentsFull: number;
  /** Gaps between consecutive offers (ms), and per-command durations. */
  offerGaps: number[];
  commandMs: Record<string, number[]>;
  failures: Record<string, number>;
  sql: SqlTimes;
  routerErrors: string[];
  checks: string;
}

/**
 * Reads what the router wrote back from kefu_events and checks it: each contact offered at most once, no
 * agent over capacity. Read with plain SQL: `readAll` shows only events below the oldest transaction still
 * open anywhere on the server (`pg_snapshot_xmin` is cluster-wide), so a long transaction in another
 * database (another benchmark, a backup) holds back what it returns. How many of the events `readAll`
 * returned at that moment is reported too.
 */
async function verify(sql: SqlClient, store: PostgresEventStore, p: Plan): Promise<{ offers: number; reservations: number; text: string }> {
  const r = await sql.query<{ stream_id: string; type: string; channel: string | null }>(
    `SELECT stream_id, type, data->>'channel' AS channel FROM kefu_events WHERE type IN ('ContactOffered', 'AgentReserved')`,
  );
  let offers = 0;
  let reservations = 0;
  const offeredContacts = new Set<string>();
  const held = new Map<string, { line: number; chats: number }>();
  for (const e of r.rows) {
    if (e.type === 'ContactOffered') {
      offers++;
      if (offeredContacts.has(e.stream_id)) throw new Error(`end to end: contact ${e.stream_id} offered twice`);
      offeredContacts.add(e.stream_id);
    } else {
      reservations++;
      const h = held.get(e.stream_id) ?? { line: 0, chats: 0 };
      if (e.channel === 'ONLINE') h.chats++;
      else h.line++;
      held.set(e.stream_id, h);
    }
  }
  let full = 0;
  for (const a of p.agents) {
    const h = held.get(streams.agent(p.instanceId, a.id)) ?? { line: 0, chats: 0 };
    if (h.line > a.line || h.chats > a.chats) throw new Error(`end to end: agent ${a.id} holds ${h.line} calls and ${h.chats} chats, more than ${a.line} and ${a.chats}`);
    if (h.line === a.line && h.chats === a.chats) full++;
  }
  let visible = 0;
  let after: Position | null = null;
  for (;;) {
    const page: RecordedEvent[] = await store.readAll({ after, maxCount: 5000 });
    if (page.length === 0) break;
    after = page[page.length - 1]!.position;
    visible += page.filter((e) => e.type === 'ContactOffered' || e.type === 'AgentReserved').length;
  }
  const lag =
    visible < offers + reservations
      ? ` readAll returned only ${visible} of these ${offers + reservations} events at that moment: a transaction open elsewhere on the server held its visibility back`
      : '';
  return {
    offers,
    reservations,
    text: `read back ${offers} ContactOffered and ${reservations} AgentReserved events: no contact offered twice, no agent over capacity, ${full} of ${p.agents.length} agents full.${lag}`,
  };
}

export async function runEndToEnd(s: EndToEndSettings, log: (msg: string) => void): Promise<EndToEndResult> {
  const p = plan(s);
  const url = await recreateDatabase(e2eDatabase);
  let routerSql: SqlClient | null = null;
  let store: PostgresEventStore | null = null;
  let router: Router | null = null;
  try {
    log(`end to end: seeding ${p.agents.length} agents in ${p.groups.length} groups and ${p.contacts.length} contacts through the command handler`);
    const seeded = await seed(url, p, s, log);
    log(`end to end: seeded ${seeded.events} events (${seeded.commands} commands) in ${(seeded.ms / 1000).toFixed(1)} s`);

    const sqlTimes: SqlTimes = {};
    let measuring = false;
    routerSql = timedSql(createPostgresClient(url), sqlTimes, () => measuring);
    // Appends through routerSql.query (not the pool's named statements), so that timedSql sees them.
    store = new PostgresEventStore(routerSql, { namedStatements: false });
    const commands = new RecordingCommandHandler(store);
    const routerErrors: string[] = [];
    const logger = {
      info: () => undefined,
      warn: () => undefined,
      error: (obj: object | string, msg?: string) => {
        routerErrors.push(`${msg ?? ''} ${obj instanceof Object && 'err' in obj ? String((obj as { err: unknown }).err) : JSON.stringify(obj)}`);
      },
    };

    // Which agents are full, from the reservations the router made.
    const heldBy = new Map<string, { line: number; chats: number }>();
    const limits = new Map(p.agents.map((a) => [streams.agent(p.instanceId, a.id), a]));
    const pendingOffer = new Set<string>();
    let agentsFull = 0;
    let offers = 0;
    let reservations = 0;
    let firstOffer = NaN;
    let lastOffer = NaN;
    let firstReserve = NaN;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    commands.onSent = (c) => {
      if (c.type === 'ReserveAgent' && Number.isNaN(firstReserve)) firstReserve = c.start;
      for (const e of c.events) {
        if (e.type === 'AgentReserved') {
          reservations++;
          const data = e.data as { channel: Channel; contactId: string };
          pendingOffer.add(data.contactId);
          const h = heldBy.get(c.streamId) ?? { line: 0, chats: 0 };
          if (data.channel === 'ONLINE') h.chats++;
          else h.line++;
          heldBy.set(c.streamId, h);
          const limit = limits.get(c.streamId);
          if (limit && h.line === limit.line && h.chats === limit.chats) agentsFull++;
        } else if (e.type === 'ContactOffered') {
          offers++;
          if (Number.isNaN(firstOffer)) firstOffer = c.end;
          lastOffer = c.end;
          pendingOffer.delete(c.streamId.slice(c.streamId.indexOf('.') + 1));
        }
      }
      if (agentsFull === p.agents.length && pendingOffer.size === 0) done();
    };

    let caughtUp = NaN;
    const routerStore = observedStore(store, () => {
      if (Number.isNaN(caughtUp)) caughtUp = performance.now();
    });
    // Events readAll cannot show yet because a transaction older than them is still open somewhere on the server.
    const hidden = await routerSql.query<{ n: string }>('SELECT count(*)::text AS n FROM kefu_events WHERE tx_id >= pg_snapshot_xmin(pg_current_snapshot())');
    const hiddenAtStart = Number(hidden.rows[0]!.n);
    router = new Router({ store: routerStore, commands, sql: routerSql, logger, leaseRetryMs: 100 });
    log(`end to end: starting the router`);
    measuring = true;
    const t0 = performance.now();
    const watch = setInterval(() => {
      const since = Number.isNaN(lastOffer) ? caughtUp : lastOffer;
      if (!Number.isNaN(since) && performance.now() - since > s.quietMs) done();
      if (performance.now() - t0 > s.timeoutMs) done();
    }, 2);
    try {
      await router.start();
      await finished;
    } finally {
      clearInterval(watch);
      measuring = false;
    }
    const complete = agentsFull === p.agents.length && pendingOffer.size === 0;
    log(
      `end to end: ${offers} offers (${reservations} reservations) in ${((lastOffer - t0) / 1000).toFixed(1)} s; ${agentsFull}/${p.agents.length} agents full${complete ? '' : ' (INCOMPLETE)'}`,
    );
    await router.stop();
    router = null;

    const checked = await verify(routerSql, store, p);
    if (checked.offers !== offers || checked.reservations !== reservations) {
      throw new Error(`end to end: the log has ${checked.offers} offers and ${checked.reservations} reservations, the router reported ${offers} and ${reservations}`);
    }
    const offerEnds = commands.sent.filter((c) => c.events.some((e) => e.type === 'ContactOffered')).map((c) => c.end);
    const commandMs: Record<string, number[]> = {};
    const failures: Record<string, number> = {};
    for (const c of commands.sent) {
      (commandMs[c.type] ??= []).push(c.end - c.start);
      if (c.failed) failures[c.type] = (failures[c.type] ?? 0) + 1;
    }
    return {
      agents: p.agents.length,
      groups: p.groups.map((g) => ({
        channel: g.channel,
        strategy: g.strategy,
        maxConcurrency: g.maxConcurrency,
        members: p.agents.filter((a) => a.groups.some((m) => m.group === g)).length,
        contacts: p.contacts.filter((c) => c.group === g).length,
      })),
      contacts: p.contacts.length,
      capacity: p.capacity,
      seed: seeded,
      hiddenAtStart,
      complete,
      caughtUpMs: caughtUp - t0,
      firstReserveMs: firstReserve - t0,
      firstOfferMs: firstOffer - t0,
      lastOfferMs: lastOffer - t0,
      offers,
      reservations,
      agentsFull,
      offerGaps: offerEnds.slice(1).map((t, i) => t - offerEnds[i]!),
      commandMs,
      failures,
      sql: sqlTimes,
      routerErrors,
      checks: checked.text,
    };
  } finally {
    await router?.stop().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await routerSql?.close().catch(() => undefined);
    if (!s.keepDatabase) await dropDatabase(e2eDatabase).catch(() => undefined);
  }
}
