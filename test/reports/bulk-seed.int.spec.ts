// The reports benchmark's bulk seed (bench/reports/workload.ts through bench/lib/bulk-events.ts: events made by
// Kefu's deciders, COPYed straight into the PostgreSQL event store) on a few hundred contacts: Kefu's store
// reads every event back in order, each stream's revisions run 0, 1, 2, … and `kefu_streams` ends where the
// stream does, the table's constraints are back as the migration made them, every stream folds to a sensible
// state, Kefu's command handler decides and appends after a seeded stream, and the reports projection,
// rebuilt from the log, counts what the generator says it made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/adapters/eventstore/command-handler.ts';
import { migrateEventStore, PostgresEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { agentDecider } from '../../src/domain/agent/agent.decide.ts';
import type { AgentEvent, AgentState } from '../../src/domain/agent/agent.ts';
import { contactDecider } from '../../src/domain/contact/contact.decide.ts';
import type { ContactEvent, ContactState } from '../../src/domain/contact/contact.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streamCategory, streams } from '../../src/domain/streams.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { rebuildProjection } from '../../src/projections/projection-runner.ts';
import { instanceReport, resolveReportRequest } from '../../src/projections/reports/report-queries.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { seedReportYear, type SeededYear } from '../../bench/reports/workload.ts';
import { readModelStore } from '../support/read-model.ts';

const constraintsSql = `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = 'kefu_events'::regclass ORDER BY conname`;

describe('bulk-seeded event log (PostgreSQL)', () => {
  let client: SqlClient;
  let db: ReadModel;
  let drop = async () => {};
  let skip = false;
  let seeded: SeededYear;
  let migrated: { name: string; definition: string }[];
  const events: RecordedEvent[] = [];

  beforeAll(async () => {
    const store = await readModelStore('postgres');
    if (!store) {
      skip = true;
      return;
    }
    ({ client, db, drop } = store);
    await migrateEventStore(client);
    migrated = (await client.query<{ name: string; definition: string }>(constraintsSql)).rows;
    // Three agents take about 80 answered contacts each: breaks (every 20th) and a night off (every 60th) too.
    seeded = await seedReportYear(client, { contacts: 300, agents: 3, groups: 3, chunk: 700, timeZone: 'UTC' }, () => undefined);
    const store2 = new PostgresEventStore(client);
    // Readers stop below the oldest transaction still running in the database: other specs of the run share it,
    // so an empty page may mean "not yet visible". Read on until every seeded event is there (or a minute passed).
    const deadline = Date.now() + 60_000;
    while (events.length < seeded.events && Date.now() < deadline) {
      const page = await store2.readAll({ after: events.at(-1)?.position ?? null, maxCount: 1000 });
      if (page.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      events.push(...page);
    }
    // Nothing beyond them either.
    expect(await store2.readAll({ after: events.at(-1)?.position ?? null, maxCount: 1000 })).toEqual([]);
  });
  afterAll(() => drop());

  it('reads back every event in order, each stream numbered from 0 and its stream row at its last revision, the constraints made again', async () => {
    if (skip) return;
    expect(events.length).toBe(seeded.events);
    // Several COPY transactions (700 rows each): readAll crosses them in order.
    expect(new Set(events.map((e) => e.position.commit)).size).toBeGreaterThan(5);
    const last = new Map<string, number>();
    for (const e of events) {
      expect(e.revision, e.streamId).toBe((last.get(e.streamId) ?? -1) + 1);
      last.set(e.streamId, e.revision);
      expect(e.metadata.instanceId).toBe(seeded.instanceId);
    }
    const rows = await client.query<{ stream_id: string; revision: string }>('SELECT stream_id, revision FROM kefu_streams');
    expect(new Map(rows.rows.map((r) => [r.stream_id, Number(r.revision)]))).toEqual(last);
    expect((await client.query(constraintsSql)).rows).toEqual(migrated);
    // The mix the generator promises, each kind of event there.
    const types = new Set(events.map((e) => e.type));
    for (const t of ['CallStarted', 'ContactKeyPressed', 'ContactOfferTimedOut', 'ContactTransferred', 'CallHeld', 'ContactMessageRecorded', 'ContactRejected', 'AgentWentOnBreak', 'AgentWentOffline', 'AgentWrapUpEnded', 'AgentReservationReleased']) {
      expect(types, t).toContain(t);
    }
    const channels = new Set(events.filter((e) => e.type === 'ContactCreated').map((e) => (e.data as { channel: string }).channel));
    expect(channels).toEqual(new Set(['PHONE', 'ONLINE', 'AV']));
  });

  it('folds every contact to its end and every agent back to an empty workload', async () => {
    if (skip) return;
    const contacts = new Map<string, ContactState>();
    const agents = new Map<string, AgentState>();
    for (const e of events) {
      const category = streamCategory(e.streamId);
      if (category === 'contact') contacts.set(e.streamId, contactDecider.evolve(contacts.get(e.streamId) ?? contactDecider.initialState(), e as unknown as ContactEvent));
      if (category === 'agent') agents.set(e.streamId, agentDecider.evolve(agents.get(e.streamId) ?? agentDecider.initialState(), e as unknown as AgentEvent));
    }
    expect(contacts.size).toBe(seeded.expected.created);
    expect(new Set([...contacts.values()].map((c) => c.status))).toEqual(new Set(['ended', 'rejected']));
    expect(agents.size).toBe(3);
    for (const a of agents.values()) {
      expect(a.status).toBe('active');
      if (a.status !== 'active') continue;
      expect(a.workload.contacts).toEqual({});
      expect(a.workload.wrapUp).toBeNull();
    }
  });

  it("lets Kefu's command handler decide and append after a seeded stream", async () => {
    if (skip) return;
    const agentStream = events.find((e) => e.type === 'AgentCreated')!.streamId;
    const agentId = (events.find((e) => e.streamId === agentStream)!.data as { agentId: string }).agentId;
    expect(agentStream).toBe(streams.agent(seeded.instanceId, agentId));
    const handler = new CommandHandler(new PostgresEventStore(client));
    const metadata = { now: '2026-01-01T09:00:00.000Z', instanceId: seeded.instanceId, actor: `agent:${agentId}`, correlationId: 'c' };
    const done = await handler.handle(agentStream, agentDecider, { type: 'SetPresence', data: { agentId, presence: 'BREAK', reason: 'Meal', breakReasons: ['Rest', 'Meal'] }, metadata });
    expect(done.events.map((e) => e.type)).toEqual(['AgentWentOnBreak']);
    const after = await client.query<{ revision: string }>('SELECT revision FROM kefu_streams WHERE stream_id = $1', [agentStream]);
    expect(Number(after.rows[0]!.revision)).toBe(events.filter((e) => e.streamId === agentStream).length);
  });

  it('is counted by the reports projection as the generator made it', async () => {
    if (skip) return;
    const applied = await rebuildProjection({ store: new PostgresEventStore(client), db, projection: reportsProjection, batchSize: 500 });
    expect(applied).toBeGreaterThanOrEqual(seeded.events);
    const year = await resolveReportRequest(db, seeded.instanceId, { from: '2025-01-01', to: '2025-12-31', interval: 'TOTAL', timeZone: 'UTC' }, { maxRangeDays: 366, maxRows: 2000 });
    const total = await instanceReport(db, year, { first: 100, after: null });
    const inbound = total.edges.filter((e) => e.node.direction === 'IN').map((e) => e.node.metrics);
    const sum = (f: (m: (typeof inbound)[0]) => number) => inbound.reduce((n, m) => n + f(m), 0);
    expect({ created: sum((m) => m.created), handled: sum((m) => m.handled), abandoned: sum((m) => m.abandoned + m.abandonedInIvr), rejected: sum((m) => m.rejected) }).toEqual(seeded.expected);
    expect(seeded.expected.handled).toBeGreaterThan(200);
  });
});
