// An agent's span rows (whole 15-minute buckets within one UTC day) are counted into their local days from
// their ends (report-days.ts: one local day, or split once at the first bucket of the next day, else bucket
// by bucket). Over seeded random spans in zones whose days are awkward (DST at midnight, +5:45, a 30-minute
// DST, offsets in seconds before 1900, a zone that skipped a whole day), the day rows equal the spans
// expanded bucket by bucket, each bucket in the day PostgreSQL gives it.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadModel } from '../../src/projections/projection.ts';
import { refillDays } from '../../src/projections/reports/report-days.ts';
import { readModelStore } from '../support/read-model.ts';
import { seededRandom } from '../support/seeded-random.ts';

const bucketMs = 15 * 60 * 1000;
const dayMs = 86_400_000;
const zones = ['America/Santiago', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Asia/Shanghai', 'Pacific/Apia', 'Europe/Berlin', 'America/St_Johns'];
/** UTC days around each zone's changes (Apia skipped 2011-12-30), and 1899 for offsets in seconds (LMT). */
const days = ['1899-06-01', '2011-12-29', '2011-12-30', '2011-12-31', '2025-03-30', '2025-04-05', '2025-04-06', '2025-09-06', '2025-09-07', '2025-10-26', '2025-11-02', '2025-06-15'];

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`span day totals (${backend})`, () => {
    let db: ReadModel;
    let drop = async () => {};
    let skip = false;

    beforeAll(async () => {
      const store = await readModelStore(backend);
      if (!store) {
        skip = true;
        return;
      }
      ({ db, drop } = store);
    });
    afterAll(() => drop());

    it('counts every span bucket in the local day PostgreSQL gives it, in zones with awkward days', async () => {
      if (skip) return;
      const rnd = seededRandom(20251205);
      // An agent's spans never overlap: each span here is another agent's (the day rows are per agent).
      const agents = Array.from({ length: 6 }, () => randomUUID());
      for (const zone of zones) {
        const instanceId = randomUUID();
        await db.insertInto('report_settings').values({ instance_id: instanceId, time_zone: zone, service_level_seconds: 20, updated_at: '2025-01-01T00:00:00Z' }).execute();
        const spans: object[] = [];
        for (const day of days) {
          const midnight = Date.parse(`${day}T00:00:00Z`);
          for (let i = 0; i < 6; i++) {
            // Two or more whole buckets within the UTC day; a third of them the whole day.
            const from = i % 3 === 0 ? midnight : midnight + Math.floor(rnd() * 90) * bucketMs;
            const to = i % 3 === 0 ? midnight + dayMs : Math.min(midnight + dayMs, from + (2 + Math.floor(rnd() * 94)) * bucketMs);
            const counter = i % 2 === 0 ? 'idle_ms' : 'break_ms';
            spans.push({ instance_id: instanceId, agent_id: agents[i]!, span_from: new Date(from), span_to: new Date(to), counter, reason: counter === 'break_ms' ? 'lunch' : '' });
          }
        }
        await db.insertInto('report_agent_spans').values(spans as never).execute();
        await refillDays(db as never, [instanceId], { groups: false, agents: true });
        const expected = await sql<{ day: string; agent_id: string; idle: string; brk: string; online: string }>`
          SELECT (b.bucket AT TIME ZONE ${zone})::date::text AS day, s.agent_id,
            sum(CASE WHEN s.counter = 'idle_ms' THEN ${bucketMs} ELSE 0 END)::text AS idle,
            sum(CASE WHEN s.counter = 'break_ms' THEN ${bucketMs} ELSE 0 END)::text AS brk, sum(${bucketMs}::bigint)::text AS online
          FROM report_agent_spans s, generate_series(s.span_from, s.span_to - interval '15 minutes', interval '15 minutes') b(bucket)
          WHERE s.instance_id = ${instanceId}
          GROUP BY 1, 2 ORDER BY 1, 2`.execute(db);
        const actual = await sql<{ day: string; agent_id: string; idle: string; brk: string; online: string }>`
          SELECT d.day::text AS day, d.agent_id, d.idle_ms::text AS idle, d.break_ms::text AS brk, d.online_ms::text AS online
          FROM report_agent_days d WHERE d.instance_id = ${instanceId} ORDER BY 1, 2`.execute(db);
        expect(actual.rows, zone).toEqual(expected.rows);
        const breaks = await sql<{ day: string; agent_id: string; ms: string }>`
          SELECT d.day::text AS day, d.agent_id, d.break_ms::text AS ms FROM report_agent_break_days d WHERE d.instance_id = ${instanceId} AND d.reason = 'lunch' ORDER BY 1, 2`.execute(db);
        expect(breaks.rows, zone).toEqual(expected.rows.filter((r) => r.brk !== '0').map((r) => ({ day: r.day, agent_id: r.agent_id, ms: r.brk })));
      }
    }, 120_000);
  });
}
