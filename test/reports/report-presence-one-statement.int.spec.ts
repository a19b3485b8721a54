// A presence change's batch of the reports projection (issue 10: read back at every change, a statement of its
// own in the projection's transaction): where the runner tells of commits (ChangeSink.committed), an agent's
// state and its instance's zone are kept as the last committed batch left them, and a batch naming no contact
// whose agents and instances are all kept reads nothing: it writes, once. A zone change (its recount) and a
// reset have the next batch read again; a batch that rolls back keeps nothing. The rows are the same as the
// same events applied in one batch without the kept states.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { recountDaysStep } from '../../src/projections/reports/report-days.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { readModelStore, tableRows, watchQueries } from '../support/read-model.ts';
import { EventLog } from '../support/event-log.ts';

/** Not report_day_recounts: a zone change's job (its wall-clock times). */
const tables = reportsProjection.tables.filter((t) => t !== 'report_day_recounts');

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`reports: a presence change with its agent's state kept (${backend})`, () => {
    let client: SqlClient;
    let db: ReadModel;
    let drop = async () => {};
    let skip = false;
    let reads = 0;
    let writes = 0;

    beforeAll(async () => {
      const store = await readModelStore(backend);
      if (!store) {
        skip = true;
        return;
      }
      ({ client, db, drop } = store);
      watchQueries(client, (text) => {
        if (text.includes('FROM report_agents a')) reads++;
        else if (!/^\s*(begin|commit|rollback)\b/i.test(text)) writes++;
      });
    }, 120_000);
    afterAll(async () => {
      if (client) await client.close();
      await drop();
    });

    const instanceId = randomUUID();
    const agentId = randomUUID();
    const eventLog = new EventLog(instanceId);
    const { event, revisions } = eventLog;
    const agent = (type: string, data: Record<string, unknown> = {}) => event(streams.agent(instanceId, agentId), type, data);
    const settings = (timeZone: string) => event(streams.instance(instanceId), 'ReportSettingsConfigured', { timeZone, serviceLevelSeconds: 20 });
    const log: RecordedEvent[] = [];

    /** Applies each event in a transaction of its own, as the runner does (committed callbacks after the commit); the reads each took. */
    const applyEach = async (events: RecordedEvent[]) => {
      const counts: number[] = [];
      for (const e of events) {
        log.push(e);
        const before = reads;
        const after: (() => void)[] = [];
        await db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, [e], { publish: () => {}, committed: (fn) => after.push(fn) }));
        for (const fn of after) fn();
        counts.push(reads - before);
      }
      return counts;
    };
    const rowsOf = (target: ReadModel) => tableRows(target, tables);

    it('reads nothing for a kept agent, again after a zone change, a reset or a rollback', async () => {
      if (skip) return;
      reportsProjection.reset!();
      expect(await applyEach([settings('Asia/Shanghai'), agent('AgentCreated')])).toEqual([1, 1]);
      // The zone change's recount, done as the runner does between batches.
      while (await recountDaysStep(db as never));
      // The first read after the zone change (a recount was under way when the settings' batch committed).
      expect(await applyEach([agent('AgentWentAvailable')])).toEqual([1]);
      const before = writes;
      expect(await applyEach([agent('AgentWentOnBreak', { reason: 'lunch' }), agent('AgentWentAvailable'), agent('AgentWentOffline')])).toEqual([0, 0, 0]);
      // Each still wrote its state and time (the rows: the next test).
      expect(writes - before).toBeGreaterThanOrEqual(3);
      // A batch that rolls back keeps nothing: the next reads what is committed.
      await db
        .transaction()
        .execute(async (trx) => {
          await reportsProjection.applyBatch!(trx, [agent('AgentWentAvailable')], { publish: () => {}, committed: () => {} });
          throw new Error('rolled back');
        })
        .catch(() => undefined);
      revisions.set(streams.agent(instanceId, agentId), revisions.get(streams.agent(instanceId, agentId))! - 1);
      expect(await applyEach([agent('AgentWentAvailable')])).toEqual([0]);
      // A zone change: its batch reads nothing (the zone it changes is kept), the next one reads (the recount
      // was under way when it committed), then none again.
      expect(await applyEach([settings('Europe/Berlin')])).toEqual([0]);
      while (await recountDaysStep(db as never));
      expect(await applyEach([agent('AgentWentOnBreak', { reason: 'coffee' }), agent('AgentWentAvailable')])).toEqual([1, 0]);
      // A reset (the runner starting the projection, a parked part retried) reads again.
      reportsProjection.reset!();
      expect(await applyEach([agent('AgentWentOffline')])).toEqual([1]);
    });

    it('leaves the same rows as the same events in one batch', async () => {
      if (skip) return;
      const live = await rowsOf(db);
      const again = await readModelStore(backend);
      if (!again) return;
      try {
        reportsProjection.reset!();
        await again.db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, log, { publish: () => {} }));
        while (await recountDaysStep(again.db as never));
        const one = await rowsOf(again.db);
        for (const table of tables) expect(one[table], table).toEqual(live[table]);
        expect(live.report_agent_days!.length).toBeGreaterThan(0);
      } finally {
        await again.client.close();
        await again.drop();
      }
    });
  });
}
