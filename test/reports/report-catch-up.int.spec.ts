// The reports projection's batches (issue 15): the same scripted events applied live (a few at a time, as a
// running Kefu applies them), in one large batch (a catch-up) and by rebuildProjection (its own batch size)
// give the same rows in every one of its tables; and the day tables, summed per batch in memory, equal the
// day rows PostgreSQL counts from the base tables (refillDays). The events: answered, transferred, held and
// abandoned (IVR, queue, ringing) contacts, chats' first responses, outbound calls, after-call work, breaks
// and idle agents, over two DST changes and midnights, with the instance's zone set twice on the way: each
// change's recount of the day rows runs a chunk at a time (recountDaysStep), live between the batches.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { EventStore, Position, RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { comparePositions } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { rebuildProjection } from '../../src/projections/projection-runner.ts';
import { instanceReport, resolveReportRequest } from '../../src/projections/reports/report-queries.ts';
import { recountDaysStep, refillDays } from '../../src/projections/reports/report-days.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { readModelStore, tableRows } from '../support/read-model.ts';
import { seededRandom as prng } from '../support/seeded-random.ts';

const sink = { publish: () => {} };
const dayTables = ['report_group_days', 'report_agent_contact_days', 'report_agent_channel_days', 'report_agent_days', 'report_agent_break_days'] as const;

const instances = [randomUUID(), randomUUID()];

/** The scripted log: two instances, in time order, each stream's revisions in order. */
function scriptedEvents(): RecordedEvent[] {
  const rnd = prng(15_1503);
  const groups = [randomUUID(), randomUUID()];
  const agents = instances.map(() => [randomUUID(), randomUUID(), randomUUID()]);
  const log: { stream: string; instanceId: string; at: number; type: string; data: Record<string, unknown> }[] = [];
  const iso = (t: number) => new Date(t).toISOString();
  const push = (instanceId: string, stream: string, at: number, type: string, data: Record<string, unknown> = {}) => log.push({ stream, instanceId, at: Math.floor(at), type, data });
  const start = Date.parse('2025-03-28T00:00:00Z');
  const end = Date.parse('2025-04-08T00:00:00Z');
  instances.forEach((instanceId, n) => {
    const instance = streams.instance(instanceId);
    push(instanceId, instance, start - 3_600_000, 'ReportSettingsConfigured', { timeZone: n === 0 ? 'Europe/Berlin' : 'America/Santiago', serviceLevelSeconds: 20 });
    // The zone changes half way: the instance's days are counted again.
    push(instanceId, instance, start + 5 * 86_400_000 + 3_600_000 * n, 'ReportSettingsConfigured', { timeZone: n === 0 ? 'Asia/Kathmandu' : 'Europe/Berlin', serviceLevelSeconds: 30 });
    for (const agent of agents[n]!) {
      const stream = streams.agent(instanceId, agent);
      push(instanceId, stream, start - 60_000, 'AgentCreated');
      // Presence now and then: available (idle for hours, over midnights), a break, offline.
      for (let t = start + rnd() * 3_600_000; t < end; t += 600_000 + rnd() * (rnd() < 0.3 ? 30 : 4) * 3_600_000) {
        const r = rnd();
        push(instanceId, stream, t, r < 0.6 ? 'AgentWentAvailable' : r < 0.85 ? 'AgentWentOnBreak' : 'AgentWentOffline', r >= 0.6 && r < 0.85 ? { reason: r < 0.7 ? 'lunch' : 'training' } : {});
      }
    }
    for (let i = 0; i < 50; i++) {
      const contactId = randomUUID();
      const stream = streams.contact(instanceId, contactId);
      let t = start + rnd() * (end - start);
      const channel = (['PHONE', 'ONLINE', 'AV'] as const)[Math.floor(rnd() * 3)]!;
      const agent = agents[n]![Math.floor(rnd() * 3)]!;
      const agentStream = streams.agent(instanceId, agent);
      const group = groups[Math.floor(rnd() * groups.length)]!;
      if (rnd() < 0.1) {
        // Outbound: the agent's from the start.
        push(instanceId, stream, t, 'ContactCreated', { channel: 'PHONE', direction: 'OUT', createdAt: iso(t) });
        push(instanceId, stream, t, 'ContactAssigned', { agentId: agent, skillGroupId: group, at: iso(t) });
        t += rnd() * 30_000;
        push(instanceId, stream, t, 'CallCustomerAnswered', { at: iso(t) });
        t += rnd() * 600_000;
        push(instanceId, stream, t, 'ContactEnded', { at: iso(t), endedBy: 'AGENT' });
        continue;
      }
      push(instanceId, stream, t, 'ContactCreated', { channel, direction: 'IN', createdAt: iso(t) });
      push(instanceId, stream, t, 'ContactFlowStarted', {});
      const fate = rnd();
      t += rnd() * 120_000;
      if (fate < 0.08) {
        push(instanceId, stream, t, 'ContactEnded', { at: iso(t), endedBy: 'CUSTOMER' });
        continue;
      }
      push(instanceId, stream, t, 'ContactQueued', { skillGroupId: group, queuedAt: iso(t) });
      // Waits of up to 40 minutes: many cross a bucket, some a midnight.
      t += rnd() * 2_400_000;
      if (fate < 0.16) {
        push(instanceId, stream, t, 'ContactEnded', { at: iso(t), endedBy: rnd() < 0.7 ? 'CUSTOMER' : 'SYSTEM' });
        continue;
      }
      push(instanceId, stream, t, 'ContactOffered', { offerId: randomUUID(), agentIds: [agent] });
      push(instanceId, agentStream, t, 'AgentReserved', { contactId });
      t += rnd() * 20_000;
      if (fate < 0.22) {
        push(instanceId, stream, t, 'ContactEnded', { at: iso(t), endedBy: 'CUSTOMER' });
        push(instanceId, agentStream, t, 'AgentReservationReleased', { contactId });
        continue;
      }
      if (fate < 0.28) {
        push(instanceId, stream, t, 'ContactOfferTimedOut', { offerId: randomUUID(), agentIds: [agent] });
        push(instanceId, agentStream, t, 'AgentReservationReleased', { contactId });
        t += rnd() * 60_000;
        push(instanceId, stream, t, 'ContactOffered', { offerId: randomUUID(), agentIds: [agent] });
        push(instanceId, agentStream, t, 'AgentReserved', { contactId });
        t += rnd() * 10_000;
      }
      push(instanceId, stream, t, 'ContactAccepted', { agentId: agent, at: iso(t) });
      push(instanceId, agentStream, t, 'AgentContactConnected', { contactId });
      if (channel === 'ONLINE') {
        t += rnd() * 90_000;
        push(instanceId, stream, t, 'ContactMessageRecorded', { messageId: randomUUID(), from: 'AGENT', agentId: agent, text: 'hi', at: iso(t) });
      }
      if (channel === 'PHONE' && rnd() < 0.4) {
        t += rnd() * 300_000;
        push(instanceId, stream, t, 'CallHeld', { agentId: agent, at: iso(t) });
        t += rnd() * 300_000;
        push(instanceId, stream, t, 'CallResumed', { agentId: agent, at: iso(t) });
      }
      t += rnd() * 1_800_000;
      if (rnd() < 0.15) {
        push(instanceId, stream, t, 'ContactTransferred', { fromAgentId: agent, toAgentId: null, toSkillGroupId: groups[0], note: null });
        push(instanceId, agentStream, t, 'AgentContactFinished', { contactId });
        t += rnd() * 600_000;
      }
      push(instanceId, stream, t, 'ContactEnded', { at: iso(t), endedBy: rnd() < 0.5 ? 'AGENT' : 'CUSTOMER' });
      push(instanceId, agentStream, t, 'AgentContactFinished', { contactId });
      push(instanceId, agentStream, t, 'AgentWrapUpStarted', { contactId });
      push(instanceId, agentStream, t + 30_000 + rnd() * 600_000, 'AgentWrapUpEnded', { contactId });
    }
  });
  log.sort((a, b) => a.at - b.at);
  const revisions = new Map<string, number>();
  return log.map((e, i) => {
    const revision = revisions.get(e.stream) ?? 0;
    revisions.set(e.stream, revision + 1);
    return {
      id: randomUUID(),
      streamId: e.stream,
      revision,
      type: e.type,
      data: e.data,
      metadata: { instanceId: e.instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: iso(e.at) } as RecordedEvent['metadata'],
      position: { commit: BigInt(i + 1), prepare: 0n },
    };
  });
}

/** An event store holding `events`, enough for rebuildProjection (readAll). */
function storeOf(events: RecordedEvent[]): EventStore {
  return {
    readAll: async ({ after, maxCount }: { after?: Position | null; maxCount?: number }) =>
      events.filter((e) => !after || comparePositions(e.position, after) > 0).slice(0, maxCount ?? 1000),
  } as unknown as EventStore;
}

/** Every row of every table of the projection, in a stable order. */
async function tablesOf(db: ReadModel, tables: readonly string[] = reportsProjection.tables): Promise<Record<string, string[]>> {
  return tableRows(db, tables);
}

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`reports projection: live, one large batch and a rebuild give the same rows (${backend})`, () => {
    let client: SqlClient;
    let db: ReadModel;
    let drop = async () => {};
    let skip = false;
    const events = scriptedEvents();
    /** The tables after each way, and the day tables after the live way counted again by PostgreSQL. */
    let live: Record<string, string[]>;
    let large: Record<string, string[]>;
    let rebuilt: Record<string, string[]>;
    let refilled: Record<string, string[]>;

    const empty = () => db.transaction().execute(async (trx) => {
      for (const table of reportsProjection.tables) await sql`DELETE FROM ${sql.table(table)}`.execute(trx);
    });

    // One database, emptied between the ways (a migrated store is most of such a spec's time).
    beforeAll(async () => {
      const store = await readModelStore(backend);
      if (!store) {
        skip = true;
        return;
      }
      ({ client, db, drop } = store);
      // Live: one to forty events a transaction, a recount's chunk now and then between them (as the runner
      // does), the rest after the last.
      const rnd = prng(77);
      for (let i = 0; i < events.length; ) {
        const n = 1 + Math.floor(rnd() * 40);
        const part = events.slice(i, i + n);
        await db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, part, sink));
        if (rnd() < 0.15) await recountDaysStep(db as never);
        i += n;
      }
      while (await recountDaysStep(db as never));
      live = await tablesOf(db);
      await db.transaction().execute((trx) => refillDays(trx as never, null));
      refilled = await tablesOf(db, dayTables);
      await empty();
      await db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, events, sink));
      while (await recountDaysStep(db as never));
      large = await tablesOf(db);
      await rebuildProjection({ store: storeOf(events), db, projection: reportsProjection, batchSize: 700 });
      rebuilt = await tablesOf(db);
    }, 300_000);

    afterAll(async () => {
      if (client) await client.close();
      await drop();
    });

    it('counts something in every table', async () => {
      if (skip) return;
      expect(events.length).toBeGreaterThan(1000);
      // The recounts' table only while one is under way.
      for (const table of reportsProjection.tables.filter((t) => t !== 'report_day_recounts')) expect(live[table]!.length, table).toBeGreaterThan(0);
      expect(live.report_day_recounts).toEqual([]);
    });

    it('one large batch and a rebuild give the live rows, table by table', async () => {
      if (skip) return;
      for (const table of reportsProjection.tables) {
        expect(large[table], `${table}: one batch`).toEqual(live[table]);
        expect(rebuilt[table], `${table}: rebuild`).toEqual(live[table]);
      }
    });

    it('keeps only the agents\' rows in report_contact_buckets: a contact\'s own figures are in report_group_buckets', async () => {
      if (skip) return;
      const own = await sql<{ n: number }>`SELECT count(*)::int AS n FROM report_contact_buckets WHERE agent_id = ''`.execute(db);
      expect(own.rows[0]!.n).toBe(0);
      const created = await sql<{ n: number }>`SELECT coalesce(sum(created), 0)::int AS n FROM report_group_buckets`.execute(db);
      expect(created.rows[0]!.n).toBe(events.filter((e) => e.type === 'ContactCreated').length);
    });

    it('the day rows summed per batch equal those PostgreSQL counts from the base tables', async () => {
      if (skip) return;
      for (const table of dayTables) expect(refilled[table], table).toEqual(live[table]);
    });

    it('while a zone change is counted again the reports give the new zone\'s figures (from the buckets), then from the new day rows', async () => {
      if (skip) return;
      const request = await resolveReportRequest(db, instances[0]!, { from: '2025-03-27', to: '2025-04-08', interval: 'DAY', timeZone: 'America/New_York' }, { maxRangeDays: 366, maxRows: 2000 });
      const report = async () => (await instanceReport(db, request, { first: 5000, after: null })).edges.map((e) => e.node);
      const change = { ...events.find((e) => e.type === 'ReportSettingsConfigured' && e.metadata.instanceId === instances[0])! };
      const zoneChange: RecordedEvent = { ...change, id: randomUUID(), revision: 2, data: { timeZone: 'America/New_York', serviceLevelSeconds: 30 }, metadata: { ...change.metadata, occurredAt: '2025-04-09T00:00:00.000Z' } };
      await db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, [zoneChange], sink));
      // Nothing counted again yet: the old zone's day rows are there, the report reads the buckets.
      expect(await sql`SELECT 1 FROM report_day_recounts`.execute(db).then((r) => r.rows.length)).toBe(1);
      const during = await report();
      expect(during.length).toBeGreaterThan(0);
      let steps = 0;
      while (await recountDaysStep(db as never)) {
        steps++;
        // Half way (deleting, then counting a week at a time) the same figures.
        expect(await report()).toEqual(during);
      }
      expect(steps).toBeGreaterThanOrEqual(3);
      expect(await sql`SELECT 1 FROM report_day_recounts`.execute(db).then((r) => r.rows.length)).toBe(0);
      expect(await report()).toEqual(during);
      // And the day rows are the new zone's: what a count from the base tables gives.
      const summed = await tablesOf(db, dayTables);
      await db.transaction().execute((trx) => refillDays(trx as never, null));
      expect(await tablesOf(db, dayTables)).toEqual(summed);
    });
  });
}
