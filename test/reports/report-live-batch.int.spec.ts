// The reports projection's cost on the live path (issue 15): a batch of one event, as a running Kefu applies
// each change, reads once (the states, the instance's zone and recount in one statement) and writes once for an
// agent's change, twice for a contact's that counts (states, then contact counters: report-writes.ts); an event
// that counts and changes nothing writes nothing. The rows are the
// same as the same events applied in one batch.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { recountDaysStep } from '../../src/projections/reports/report-days.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { readModelStore, tableRows, watchQueries } from '../support/read-model.ts';
import { EventLog } from '../support/event-log.ts';

const sink = { publish: () => {} };
/** Not report_day_recounts: a zone change's job (its wall-clock times), done before the rows are compared. */
const tables = reportsProjection.tables.filter((t) => t !== 'report_day_recounts');

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`reports: a live batch of one event (${backend})`, () => {
    let client: SqlClient;
    let db: ReadModel;
    let drop = async () => {};
    let skip = false;
    /** Statements other than the transaction's own (BEGIN, COMMIT, ROLLBACK). */
    let statements = 0;

    beforeAll(async () => {
      const store = await readModelStore(backend);
      if (!store) {
        skip = true;
        return;
      }
      ({ client, db, drop } = store);
      watchQueries(client, (text) => {
        if (!/^\s*(begin|commit|rollback)\b/i.test(text)) statements++;
      });
    }, 120_000);
    afterAll(async () => {
      if (client) await client.close();
      await drop();
    });

    const instanceId = randomUUID();
    const agentId = randomUUID();
    const contactId = randomUUID();
    const group = randomUUID();
    const eventLog = new EventLog(instanceId);
    const { event } = eventLog;
    const agent = (type: string, data: Record<string, unknown> = {}) => event(streams.agent(instanceId, agentId), type, data);
    const contact = (type: string, data: Record<string, unknown> = {}) => event(streams.contact(instanceId, contactId), type, { at: new Date(eventLog.at + 40_000).toISOString(), ...data });

    /** Applies each event in a transaction of its own; the statements each took. */
    const applyEach = async (target: ReadModel, events: RecordedEvent[]) => {
      const counts: number[] = [];
      for (const e of events) {
        const before = statements;
        await target.transaction().execute((trx) => reportsProjection.applyBatch!(trx, [e], sink));
        counts.push(statements - before);
      }
      return counts;
    };
    const rowsOf = (target: ReadModel) => tableRows(target, tables);

    it('reads once and writes once or twice a batch, and writes nothing for an event that changes nothing', async () => {
      if (skip) return;
      // The instance's zone, the agent and a contact in the queue, applied one by one.
      await applyEach(db, [
        event(streams.instance(instanceId), 'ReportSettingsConfigured', { timeZone: 'Asia/Shanghai', serviceLevelSeconds: 20 }),
        agent('AgentCreated'),
        agent('AgentWentAvailable'),
        contact('ContactCreated', { channel: 'PHONE', direction: 'IN', createdAt: new Date(eventLog.at).toISOString() }),
        contact('ContactFlowStarted'),
      ]);
      // The zone change's recount of the day rows (none yet) done, as the runner does between batches: the
      // batches below add their day rows themselves.
      while (await recountDaysStep(db as never));
      // The local days of the day's buckets, read the first time (kept by the process).
      await applyEach(db, [agent('AgentWentOnBreak', { reason: 'lunch' })]);
      // Each of these counts something (agent time, bucket and day rows, the contact's state).
      const counting = [
        agent('AgentWentOnBreak', { reason: 'lunch' }),
        agent('AgentWentAvailable'),
        contact('ContactQueued', { skillGroupId: group, queuedAt: new Date(eventLog.at + 40_000).toISOString() }),
        contact('ContactOffered', { agentIds: [agentId] }),
        contact('ContactAccepted', { agentId }),
      ];
      expect(await applyEach(db, counting)).toEqual([2, 2, 3, 3, 3]);
      // A resume without a hold counts nothing and changes nothing: read, nothing written.
      expect(await applyEach(db, [contact('CallResumed')])).toEqual([1]);
      const resumed = (await sql<{ revision: number }>`SELECT revision FROM report_contacts WHERE contact_id = ${contactId}`.execute(db)).rows[0]!;
      expect(Number(resumed.revision)).toBe(4);
      expect(await applyEach(db, [contact('CallHeld'), contact('CallResumed'), contact('ContactEnded', { endedBy: 'CUSTOMER' })])).toEqual([2, 3, 3]);
    });

    it('leaves the same rows as the same events in one batch', async () => {
      if (skip) return;
      const live = await rowsOf(db);
      const events: RecordedEvent[] = [];
      // The log again, read back from nothing: the batches above, in one.
      const again = await readModelStore(backend);
      if (!again) return;
      try {
        eventLog.reset();
        events.push(
          event(streams.instance(instanceId), 'ReportSettingsConfigured', { timeZone: 'Asia/Shanghai', serviceLevelSeconds: 20 }),
          agent('AgentCreated'),
          agent('AgentWentAvailable'),
          contact('ContactCreated', { channel: 'PHONE', direction: 'IN', createdAt: new Date(eventLog.at).toISOString() }),
          contact('ContactFlowStarted'),
          agent('AgentWentOnBreak', { reason: 'lunch' }),
          agent('AgentWentOnBreak', { reason: 'lunch' }),
          agent('AgentWentAvailable'),
          contact('ContactQueued', { skillGroupId: group, queuedAt: new Date(eventLog.at + 40_000).toISOString() }),
          contact('ContactOffered', { agentIds: [agentId] }),
          contact('ContactAccepted', { agentId }),
          contact('CallResumed'),
          contact('CallHeld'),
          contact('CallResumed'),
          contact('ContactEnded', { endedBy: 'CUSTOMER' }),
        );
        reportsProjection.reset!();
        await again.db.transaction().execute((trx) => reportsProjection.applyBatch!(trx, events, sink));
        while (await recountDaysStep(again.db as never));
        const one = await rowsOf(again.db);
        for (const table of tables) expect(one[table], table).toEqual(live[table]);
        expect(live.report_agent_days!.length).toBeGreaterThan(0);
        expect(live.report_group_days!.length).toBeGreaterThan(0);
      } finally {
        await again.client.close();
        await again.drop();
      }
    });
  });
}
