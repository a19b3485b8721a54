// Long agent states (issue 15): an idle or a break over several UTC days is stored as report_agent_spans cut at
// UTC midnights, and the agent report counts them (and a state still open) per interval by their overlap with
// the interval, in any zone: the figures below are computed by hand. The migration that cuts spans stored
// before the cut gives the same report.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { agentReport, resolveReportRequest } from '../../src/projections/reports/report-queries.ts';
import { reportsMigrations } from '../../src/projections/reports/reports.migrations.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { readModelStore } from '../support/read-model.ts';

const limits = { maxRangeDays: 366, maxRows: 2000 };
const sink = { publish: () => {} };

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`agent report of long states (${backend})`, () => {
    let client: SqlClient;
    let db: ReadModel;
    let drop = async () => {};
    let skip = false;
    const instanceId = randomUUID();
    const agentId = randomUUID();
    let revision = 0;
    const event = (type: string, data: Record<string, unknown>, at: string): RecordedEvent => ({
      id: randomUUID(),
      streamId: streams.agent(instanceId, agentId),
      revision: revision++,
      type,
      data,
      metadata: { instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: at } as RecordedEvent['metadata'],
      position: { commit: 0n, prepare: 0n } as unknown as RecordedEvent['position'],
    });

    beforeAll(async () => {
      const store = await readModelStore(backend);
      if (!store) {
        skip = true;
        return;
      }
      ({ client, db, drop } = store);
      // Idle from Mon 2025-03-03 10:07 UTC to Thu 03-06 09:52 (three UTC midnights), on a break ("lunch")
      // until 11:00, then idle again, still idle at `now` (Sat 03-08 06:00).
      const events = [
        event('AgentCreated', {}, '2025-03-03T09:00:00.000Z'),
        event('AgentWentAvailable', {}, '2025-03-03T10:07:00.000Z'),
        event('AgentWentOnBreak', { reason: 'lunch' }, '2025-03-06T09:52:00.000Z'),
        event('AgentWentAvailable', {}, '2025-03-06T11:00:00.000Z'),
      ];
      await db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, events, sink));
    }, 120_000);

    afterAll(async () => {
      if (client) await client.close();
      await drop();
    });

    const report = async (timeZone: string, interval: 'DAY' | 'TOTAL' | 'HOUR', from: string, to: string) => {
      const request = await resolveReportRequest(db, instanceId, { from, to, interval, timeZone }, limits);
      const page = await agentReport(db, request, { first: 1000, after: null }, new Date('2025-03-08T06:00:00.000Z'));
      return page.edges.map((e) => ({ start: e.node.localStart, idle: e.node.metrics.idleSeconds, brk: e.node.metrics.breakSeconds, online: e.node.metrics.onlineSeconds, breaks: e.node.metrics.breaks }));
    };

    it('stores a long state as spans ending at UTC midnights', async () => {
      if (skip) return;
      const { rows } = await sql<{ span_from: Date | string; span_to: Date | string; counter: string }>`
        SELECT span_from, span_to, counter FROM report_agent_spans WHERE agent_id = ${agentId} ORDER BY span_from`.execute(db);
      expect(rows.map((r) => [new Date(r.span_from).toISOString(), new Date(r.span_to).toISOString(), r.counter])).toEqual([
        ['2025-03-03T10:15:00.000Z', '2025-03-04T00:00:00.000Z', 'idle_ms'],
        ['2025-03-04T00:00:00.000Z', '2025-03-05T00:00:00.000Z', 'idle_ms'],
        ['2025-03-05T00:00:00.000Z', '2025-03-06T00:00:00.000Z', 'idle_ms'],
        ['2025-03-06T00:00:00.000Z', '2025-03-06T09:45:00.000Z', 'idle_ms'],
        ['2025-03-06T10:00:00.000Z', '2025-03-06T11:00:00.000Z', 'break_ms'],
      ]);
    });

    it('counts the days in UTC, in Asia/Kolkata (+05:30) and in America/New_York across its DST change', async () => {
      if (skip) return;
      // UTC days: 03-03 from 10:07 (13 h 53 min idle), 03-04 and 03-05 all day, 03-06 idle 9 h 52 min + 13 h,
      // break 1 h 8 min; 03-07 all day; 03-08 6 h (open).
      const utc = await report('UTC', 'DAY', '2025-03-03', '2025-03-08');
      const lunch = (s: number) => (s > 0 ? [{ reason: 'lunch', seconds: s }] : []);
      expect(utc).toEqual([
        { start: '2025-03-03T00:00', idle: 13 * 3600 + 53 * 60, brk: 0, online: 13 * 3600 + 53 * 60, breaks: [] },
        { start: '2025-03-04T00:00', idle: 86_400, brk: 0, online: 86_400, breaks: [] },
        { start: '2025-03-05T00:00', idle: 86_400, brk: 0, online: 86_400, breaks: [] },
        { start: '2025-03-06T00:00', idle: (9 * 60 + 52 + 13 * 60) * 60, brk: 68 * 60, online: 86_400, breaks: lunch(68 * 60) },
        { start: '2025-03-07T00:00', idle: 86_400, brk: 0, online: 86_400, breaks: [] },
        { start: '2025-03-08T00:00', idle: 6 * 3600, brk: 0, online: 6 * 3600, breaks: [] },
      ]);
      // Kolkata days start at 18:30 UTC the day before: 03-03 10:07-18:30 UTC is 8 h 23 min; the break
      // (09:52-11:00 UTC on 03-06) is on the Kolkata day 03-06; 03-08 ends at 06:00 UTC = 11:30 local.
      const kolkata = await report('Asia/Kolkata', 'DAY', '2025-03-03', '2025-03-08');
      expect(kolkata.map((r) => [r.start, r.idle, r.brk])).toEqual([
        ['2025-03-03T00:00', (8 * 60 + 23) * 60, 0],
        ['2025-03-04T00:00', 86_400, 0],
        ['2025-03-05T00:00', 86_400, 0],
        ['2025-03-06T00:00', 86_400 - 68 * 60, 68 * 60],
        ['2025-03-07T00:00', 86_400, 0],
        ['2025-03-08T00:00', 11.5 * 3600, 0],
      ]);
      // New York: EST (-5) until Sun 2025-03-09 02:00; all days here are before it. 03-03 from 05:07 local.
      const ny = await report('America/New_York', 'TOTAL', '2025-03-02', '2025-03-09');
      expect(ny).toEqual([{ start: '2025-03-02T00:00', idle: (4 * 24 + 19) * 3600 + 53 * 60 - 68 * 60, brk: 68 * 60, online: (4 * 24 + 19) * 3600 + 53 * 60, breaks: lunch(68 * 60) }]);
    });

    it('counts hours: the first hour from 10:07, the break split at 10:00 and 11:00', async () => {
      if (skip) return;
      const hours = await report('UTC', 'HOUR', '2025-03-06', '2025-03-06');
      expect(hours.find((r) => r.start === '2025-03-06T09:00')).toMatchObject({ idle: 52 * 60, brk: 8 * 60 });
      expect(hours.find((r) => r.start === '2025-03-06T10:00')).toMatchObject({ idle: 0, brk: 3600 });
      expect(hours.find((r) => r.start === '2025-03-06T11:00')).toMatchObject({ idle: 3600, brk: 0 });
      expect(hours.reduce((n, r) => n + r.online, 0)).toBe(24 * 3600);
      const first = await report('UTC', 'HOUR', '2025-03-03', '2025-03-03');
      expect(first[0]).toMatchObject({ start: '2025-03-03T10:00', idle: 53 * 60 });
    });

    it('cuts spans stored before the cut at UTC midnights (the migration), giving the same report', async () => {
      if (skip) return;
      const before = await report('Asia/Kolkata', 'DAY', '2025-03-03', '2025-03-08');
      // The spans as the earlier projection stored them: one row over the whole idle.
      await sql`DELETE FROM report_agent_spans WHERE agent_id = ${agentId} AND counter = 'idle_ms'`.execute(db);
      await sql`INSERT INTO report_agent_spans (instance_id, agent_id, span_from, span_to, counter, reason)
        VALUES (${instanceId}, ${agentId}, '2025-03-03T10:15:00Z', '2025-03-06T09:45:00Z', 'idle_ms', '')`.execute(db);
      await reportsMigrations['2027_01_05_300_report_agent_spans_per_day']!.up(db as never);
      const { rows } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM report_agent_spans WHERE agent_id = ${agentId}`.execute(db);
      expect(Number(rows[0]!.n)).toBe(5);
      expect(await report('Asia/Kolkata', 'DAY', '2025-03-03', '2025-03-08')).toEqual(before);
    });
  });
}
