// Day totals (issue 15): the day, week, month and total reports in the instance's own time zone read
// report_group_days and the agent day tables (a row per local day) instead of the 15-minute buckets and
// spans. Over random contacts and agent states (seeded, the same each run) across daylight-saving changes
// and midnights, every such report (instance, skill groups, agents; filtered and paged) equals the one read
// from the buckets (the same request while the instance is set to another zone, so the day rows do not
// apply), for several zones the instance is switched through (each switch counts the day rows again).
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { agentReport, instanceReport, resolveReportRequest, skillGroupReport, type ReportInput } from '../../src/projections/reports/report-queries.ts';
import { recountDaysStep } from '../../src/projections/reports/report-days.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { readModelStore } from '../support/read-model.ts';
import { seededRandom as prng } from '../support/seeded-random.ts';

const limits = { maxRangeDays: 366, maxRows: 2000 };
const sink = { publish: () => {} };

/** Zones with DST at 02:00-03:00 (Berlin; New York in the first test), at midnight (Santiago), none, and +5:45. */
const zones = ['Europe/Berlin', 'America/Santiago', 'Asia/Kathmandu', 'UTC'];

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`report day totals equal the buckets (${backend})`, () => {
    let client: SqlClient;
    let db: ReadModel;
    let drop = async () => {};
    let skip = false;
    const instanceId = randomUUID();
    const groups = [randomUUID(), randomUUID(), randomUUID()];
    const agents = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    let instanceRevision = 0;

    const recorded = (streamId: string, revision: number, type: string, data: Record<string, unknown>, at: string): RecordedEvent => ({
      id: randomUUID(),
      streamId,
      revision,
      type,
      data,
      metadata: { instanceId, actor: 'test', correlationId: randomUUID(), causationId: null, occurredAt: at } as RecordedEvent['metadata'],
      position: { commit: 0n, prepare: 0n } as unknown as RecordedEvent['position'],
    });
    const apply = (events: RecordedEvent[]) => db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, events, sink));
    /** Sets the instance's zone, and counts its day rows again in it to the end (the recount's chunks, as the runner runs them). */
    const setZone = async (timeZone: string, at = '2026-12-01T00:00:00.000Z') => {
      await apply([recorded(streams.instance(instanceId), instanceRevision++, 'ReportSettingsConfigured', { timeZone, serviceLevelSeconds: 20 }, at)]);
      while (await recountDaysStep(db as never));
    };

    /** Agent events [agent, at, type, data], given revisions in time order by agentEvents. */
    const agentLog: [string, number, string, Record<string, unknown>][] = [];
    const agentRevisions = new Map<string, number>();
    function agentEvents(): RecordedEvent[] {
      const log = agentLog.splice(0).sort((x, y) => x[1] - y[1]);
      return log.map(([agent, at, type, data]) => {
        const revision = agentRevisions.get(agent) ?? 0;
        agentRevisions.set(agent, revision + 1);
        return recorded(streams.agent(instanceId, agent), revision, type, data, new Date(at).toISOString());
      });
    }
    /** Each agent's presence from `from` to `to`: available, on a break (two reasons) or offline, for 5 minutes to 30 hours at a time. */
    function randomPresence(rnd: () => number, from: number, to: number) {
      for (const agent of agents) {
        if (!agentRevisions.has(agent) && !agentLog.some((e) => e[0] === agent)) agentLog.push([agent, from - 60_000, 'AgentCreated', {}]);
        for (let t = from + rnd() * 3_600_000; t < to; t += 300_000 + rnd() * (rnd() < 0.2 ? 30 : 3) * 3_600_000) {
          const r = rnd();
          if (r < 0.5) agentLog.push([agent, Math.floor(t), 'AgentWentAvailable', {}]);
          else if (r < 0.8) agentLog.push([agent, Math.floor(t), 'AgentWentOnBreak', { reason: r < 0.65 ? 'lunch' : 'training' }]);
          else agentLog.push([agent, Math.floor(t), 'AgentWentOffline', {}]);
        }
      }
    }

    /** A contact's events: created, then (mostly) queued, offered and answered or abandoned, ended. */
    function randomContact(rnd: () => number, created: number): RecordedEvent[] {
      const stream = streams.contact(instanceId, randomUUID());
      const iso = (t: number) => new Date(t).toISOString();
      let revision = 0;
      let t = created;
      const out: RecordedEvent[] = [];
      const add = (type: string, data: Record<string, unknown>) => out.push(recorded(stream, revision++, type, data, iso(t)));
      const channel = (['PHONE', 'ONLINE', 'AV'] as const)[Math.floor(rnd() * 3)]!;
      const direction = rnd() < 0.9 ? 'IN' : 'OUT';
      add('ContactCreated', { channel, direction, createdAt: iso(t) });
      const fate = rnd();
      if (fate < 0.1) {
        t += rnd() * 120_000;
        add('ContactEnded', { at: iso(t), endedBy: 'CUSTOMER' });
        return out;
      }
      const group = groups[Math.floor(rnd() * groups.length)]!;
      t += rnd() * 60_000;
      add('ContactQueued', { skillGroupId: group, queuedAt: iso(t) });
      // Waits of up to 40 minutes: many cross a bucket, some a midnight.
      t += rnd() * 2_400_000;
      const agent = agents[Math.floor(rnd() * agents.length)]!;
      add('ContactOffered', { agentIds: [agent] });
      t += rnd() * 20_000;
      if (fate < 0.3) {
        add('ContactEnded', { at: iso(t), endedBy: 'CUSTOMER' });
        return out;
      }
      add('ContactAccepted', { agentId: agent, at: iso(t) });
      const contactId = stream.slice(stream.indexOf('.') + 1);
      agentLog.push([agent, t - 5_000, 'AgentReserved', { contactId }], [agent, t, 'AgentContactConnected', { contactId }]);
      t += rnd() * 1_800_000;
      add('ContactEnded', { at: iso(t), endedBy: rnd() < 0.5 ? 'AGENT' : 'CUSTOMER' });
      agentLog.push([agent, t, 'AgentContactFinished', { contactId }], [agent, t, 'AgentWrapUpStarted', { contactId }], [agent, t + 30_000 + rnd() * 600_000, 'AgentWrapUpEnded', { contactId }]);
      return out;
    }

    beforeAll(async () => {
      const store = await readModelStore(backend);
      if (!store) {
        skip = true;
        return;
      }
      ({ client, db, drop } = store);
      // The instance's zone first set while contacts come in (their day rows counted per batch), then the
      // rest of the year's contacts.
      await setZone('America/New_York', '2025-01-01T00:00:00.000Z');
      const rnd = prng(15_2025);
      const events: RecordedEvent[] = [];
      // 2025-03-01 .. 2025-04-20 and 2025-10-20 .. 2025-11-15: the DST changes of the zones above; plus
      // clusters around local midnights.
      for (const [from, to, count] of [
        ['2025-03-01', '2025-04-20', 350],
        ['2025-10-20', '2025-11-15', 250],
      ] as const) {
        const a = Date.parse(`${from}T00:00:00Z`);
        const b = Date.parse(`${to}T00:00:00Z`);
        randomPresence(rnd, a, b);
        for (let i = 0; i < count; i++) {
          // Half at 02:00-06:00 UTC: around midnight in New York and Santiago.
          const nearMidnight = a + Math.floor(rnd() * ((b - a) / 86_400_000)) * 86_400_000 + 2 * 3_600_000 + rnd() * 4 * 3_600_000;
          events.push(...randomContact(rnd, Math.floor(rnd() < 0.5 ? nearMidnight : a + rnd() * (b - a))));
        }
      }
      // Applied in batches of a few hundred in time order (as a catch-up would), streams' revisions in order.
      events.push(...agentEvents());
      events.sort((x, y) => Date.parse(x.metadata.occurredAt) - Date.parse(y.metadata.occurredAt) || x.revision - y.revision);
      for (let i = 0; i < events.length; i += 400) await apply(events.slice(i, i + 400));
    }, 300_000);

    afterAll(async () => {
      if (client) await client.close();
      await drop();
    });

    // agents: the agent report too (slower: a few of the requests).
    const requests: (Omit<ReportInput, 'timeZone'> & { first?: number; agents?: boolean })[] = [
      { from: '2025-03-01', to: '2025-04-20', interval: 'DAY', agents: true },
      { from: '2025-03-08', to: '2025-03-10', interval: 'DAY' },
      { from: '2025-03-30', to: '2025-03-30', interval: 'TOTAL' },
      { from: '2025-04-05', to: '2025-04-06', interval: 'DAY' },
      { from: '2025-09-07', to: '2025-09-07', interval: 'DAY' },
      { from: '2025-11-02', to: '2025-11-02', interval: 'DAY', agents: true },
      { from: '2025-10-26', to: '2025-11-03', interval: 'DAY', channel: 'PHONE', direction: 'IN' },
      { from: '2025-01-01', to: '2025-12-31', interval: 'WEEK', agents: true },
      { from: '2025-01-01', to: '2025-12-31', interval: 'MONTH' },
      { from: '2025-02-15', to: '2025-11-03', interval: 'TOTAL' },
      { from: '2025-03-01', to: '2025-04-20', interval: 'DAY', first: 7 },
      { from: '2025-04-05', to: '2025-04-08', interval: 'DAY', first: 3, agents: true },
    ];

    /** Every page of both reports of `request` in `timeZone`. */
    async function reports(timeZone: string, input: (typeof requests)[0]) {
      const request = await resolveReportRequest(db, instanceId, { ...input, timeZone }, limits);
      const all = async (read: typeof instanceReport) => {
        const rows: unknown[] = [];
        let after: string | null = null;
        for (;;) {
          const page = await read(db, request, { first: input.first ?? 5000, after });
          rows.push(...page.edges.map((e) => e.node));
          if (!page.pageInfo.hasNextPage) return rows;
          after = page.pageInfo.endCursor;
        }
      };
      const skillGroupFilter = { ...request, skillGroupIds: [groups[0]!, groups[2]!] };
      // Agents: with the states still open at `now` (after every event), all agents and filtered.
      const now = new Date('2025-12-01T00:00:00Z');
      const agentRows = async (req: typeof request) => {
        const rows: unknown[] = [];
        let after: string | null = null;
        for (;;) {
          const page = await agentReport(db, req, { first: input.first ?? 5000, after }, now);
          rows.push(...page.edges.map((e) => e.node));
          if (!page.pageInfo.hasNextPage) return rows;
          after = page.pageInfo.endCursor;
        }
      };
      return {
        instance: await all(instanceReport),
        groups: await all(skillGroupReport),
        filtered: await all((d, _r, p) => skillGroupReport(d, skillGroupFilter, p)),
        agents: input.agents ? await agentRows(request) : null,
        agentsFiltered: input.agents ? await agentRows({ ...request, agentIds: [agents[1]!, agents[3]!], channel: 'PHONE' }) : null,
      };
    }

    const daysUsed = async (timeZone: string) => {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM report_group_days WHERE instance_id = ${instanceId}`.execute(db);
      const zone = await db.selectFrom('report_settings').select('time_zone').where('instance_id', '=', instanceId).executeTakeFirst();
      const recounting = await sql<{ n: number }>`SELECT count(*)::int AS n FROM report_day_recounts WHERE instance_id = ${instanceId}`.execute(db);
      return rows[0]!.n > 0 && zone?.time_zone === timeZone && recounting.rows[0]!.n === 0;
    };

    it('counts the day rows of the zone the contacts arrived in, equal to the buckets', async () => {
      if (skip) return;
      const zone = 'America/New_York';
      expect(await daysUsed(zone)).toBe(true);
      const fromDays = await Promise.all(requests.map((r) => reports(zone, r)));
      await setZone('UTC');
      const fromBuckets = await Promise.all(requests.map((r) => reports(zone, r)));
      expect(fromDays).toEqual(fromBuckets);
      // Not vacuous: the reports hold the contacts.
      const total = (fromBuckets[7]!.instance as { metrics: { created: number } }[]).reduce((n, row) => n + row.metrics.created, 0);
      expect(total).toBe(600);
      const agentTime = (fromBuckets[7]!.agents! as { metrics: { onlineSeconds: number; breakSeconds: number; onContactSeconds: number } }[]).reduce(
        (n, row) => ({ online: n.online + row.metrics.onlineSeconds, brk: n.brk + row.metrics.breakSeconds, talk: n.talk + row.metrics.onContactSeconds }),
        { online: 0, brk: 0, talk: 0 },
      );
      expect(agentTime.online).toBeGreaterThan(0);
      expect(agentTime.brk).toBeGreaterThan(0);
      expect(agentTime.talk).toBeGreaterThan(0);
    });

    for (const zone of zones) {
      it(`reads the same figures from the day rows as from the buckets in ${zone}`, async () => {
        if (skip) return;
        // Buckets: the instance in another zone. Days: the instance switched to `zone` (its day rows counted again).
        await setZone(zone === 'UTC' ? 'Asia/Kolkata' : 'UTC');
        const fromBuckets = [];
        for (const r of requests) fromBuckets.push(await reports(zone, r));
        await setZone(zone);
        expect(await daysUsed(zone)).toBe(true);
        const fromDays = [];
        for (const r of requests) fromDays.push(await reports(zone, r));
        expect(fromDays).toEqual(fromBuckets);
      }, 120_000);
    }

    it('keeps counting new contacts into the day rows after a zone change', async () => {
      if (skip) return;
      const zone = 'America/Santiago';
      await setZone(zone);
      const rnd = prng(7);
      const events: RecordedEvent[] = [];
      // Around Santiago's clock change of 2025-04-06 (midnight back to 23:00).
      for (let i = 0; i < 200; i++) events.push(...randomContact(rnd, Date.parse('2025-04-05T22:00:00Z') + Math.floor(rnd() * 8 * 3_600_000)));
      randomPresence(rnd, Date.parse('2025-04-06T22:00:00Z'), Date.parse('2025-04-09T00:00:00Z'));
      events.push(...agentEvents());
      events.sort((x, y) => Date.parse(x.metadata.occurredAt) - Date.parse(y.metadata.occurredAt) || x.revision - y.revision);
      for (let i = 0; i < events.length; i += 150) await apply(events.slice(i, i + 150));
      const fromDays = [];
      for (const r of requests) fromDays.push(await reports(zone, r));
      await setZone('UTC');
      const fromBuckets = [];
      for (const r of requests) fromBuckets.push(await reports(zone, r));
      expect(fromDays).toEqual(fromBuckets);
    }, 120_000);
  });
}
