// Agent report, a DAY page read from the agent day tables (issue 15): agents the reports projection does not
// keep in report_agents (their day rows sent by id, the others by their number in report_agents) and ids whose
// COLLATE "C" order is not the order they were stored in come out with their figures as stored, each day's
// agents in COLLATE "C" order, the same when paged through cursors.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { agentReport, resolveReportRequest, type AgentReportRow } from '../../src/projections/reports/report-queries.ts';
import { readModelStore } from '../support/read-model.ts';

const limits = { maxRangeDays: 366, maxRows: 2000 };
const zone = 'Asia/Shanghai';
const days = ['2025-06-01', '2025-06-02'];
// Stored in this order; COLLATE "C" (code points): 'B-3' < 'a-1' < 'b-2' < 'é-4'.
const agents = ['b-2', 'é-4', 'a-1', 'B-3'];
const inReportAgents = new Set(['b-2', 'é-4']);
const withChannels = new Set(['a-1', 'é-4']);
const withBreak = new Set(['B-3', 'b-2']);

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`agent report DAY page from the day tables (${backend})`, () => {
    let client: SqlClient;
    let db: ReadModel;
    let drop = async () => {};
    let skip = false;
    const instanceId = randomUUID();

    beforeAll(async () => {
      const store = await readModelStore(backend);
      if (!store) {
        skip = true;
        return;
      }
      ({ client, db, drop } = store);
      await client.query('INSERT INTO report_settings (instance_id, time_zone, service_level_seconds, updated_at) VALUES ($1, $2, 20, now())', [instanceId, zone]);
      for (const agent of agents) {
        if (inReportAgents.has(agent)) await client.query(`INSERT INTO report_agents (instance_id, agent_id, revision, presence) VALUES ($1, $2, 0, 'OFFLINE')`, [instanceId, agent]);
      }
      for (const [d, day] of days.entries()) {
        for (const [j, agent] of agents.entries()) {
          const n = d * 10 + j + 1;
          await client.query(
            'INSERT INTO report_agent_days (instance_id, day, agent_id, online_ms, idle_ms, ringing_ms, on_contact_ms, acw_ms, break_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8)',
            [instanceId, day, agent, n * 3_600_000, n * 600_000, n * 1_200_000, n * 300_000, withBreak.has(agent) ? n * 60_000 : 0],
          );
          if (withChannels.has(agent)) {
            for (const [c, channel] of ['ONLINE', 'PHONE'].entries()) {
              await client.query(
                `INSERT INTO report_agent_channel_days (instance_id, day, agent_id, channel, agent_offered, agent_answered, agent_missed, agent_declined, talk_ms, hold_ms, acw_ms, agent_outbound)
                 VALUES ($1, $2, $3, $4, $5, $6, 1, 0, $7, 5000, 30000, $8)`,
                [instanceId, day, agent, channel, n + c + 1, n + c, n * 90_000, c],
              );
            }
          }
          if (withBreak.has(agent)) await client.query('INSERT INTO report_agent_break_days (instance_id, day, agent_id, reason, break_ms) VALUES ($1, $2, $3, $4, $5)', [instanceId, day, agent, 'lunch', n * 60_000]);
        }
      }
    }, 120_000);

    afterAll(async () => {
      if (client) await client.close();
      await drop();
    });

    /** The figures each row must have, in the page's order: days, then agents in COLLATE "C" order. */
    function expected() {
      const rows: { agentId: string; localStart: string; onlineSeconds: number; breakSeconds: number; breaks: { reason: string | null; seconds: number }[]; channels: { channel: string; offered: number; answered: number; talkSeconds: number; outbound: number }[]; answered: number }[] = [];
      for (const [d, day] of days.entries()) {
        for (const agent of ['B-3', 'a-1', 'b-2', 'é-4']) {
          const n = d * 10 + agents.indexOf(agent) + 1;
          // PHONE before ONLINE, whatever the order stored.
          const channels = withChannels.has(agent)
            ? [
                { channel: 'PHONE', offered: n + 2, answered: n + 1, talkSeconds: n * 90, outbound: 1 },
                { channel: 'ONLINE', offered: n + 1, answered: n, talkSeconds: n * 90, outbound: 0 },
              ]
            : [];
          rows.push({
            agentId: agent,
            localStart: `${day}T00:00`,
            onlineSeconds: n * 3600,
            breakSeconds: withBreak.has(agent) ? n * 60 : 0,
            breaks: withBreak.has(agent) ? [{ reason: 'lunch', seconds: n * 60 }] : [],
            channels,
            answered: channels.reduce((s, c) => s + c.answered, 0),
          });
        }
      }
      return rows;
    }

    const shape = (row: AgentReportRow) => ({
      agentId: row.agentId,
      localStart: row.localStart,
      onlineSeconds: row.metrics.onlineSeconds,
      breakSeconds: row.metrics.breakSeconds,
      breaks: row.metrics.breaks,
      channels: row.metrics.channels.map((c) => ({ channel: c.channel, offered: c.offered, answered: c.answered, talkSeconds: c.talkSeconds, outbound: c.outbound })),
      answered: row.metrics.answered,
    });

    it('lists every agent of every day, kept in report_agents or not, in COLLATE "C" order with its figures', async () => {
      if (skip) return;
      const request = await resolveReportRequest(db, instanceId, { from: days[0]!, to: days[1]!, interval: 'DAY', timeZone: zone }, limits);
      const now = new Date('2026-01-01T00:00:00Z');
      const page = await agentReport(db, request, { first: 5000, after: null }, now);
      expect(page.edges.map((e) => shape(e.node))).toEqual(expected());
      expect(page.pageInfo.hasNextPage).toBe(false);
      // Paged three rows at a time through the cursors: the same rows.
      const paged: AgentReportRow[] = [];
      let after: string | null = null;
      for (let i = 0; i < 10; i++) {
        const p = await agentReport(db, request, { first: 3, after }, now);
        paged.push(...p.edges.map((e) => e.node));
        if (!p.pageInfo.hasNextPage) break;
        after = p.pageInfo.endCursor;
      }
      expect(paged).toEqual(page.edges.map((e) => e.node));
    });
  });
}
