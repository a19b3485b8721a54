// The status of a zone change's recount of the day totals (issue 15, reportRecount): none before any zone
// change; CLEARING while the old zone's day rows go, COUNTING with the UTC days counted so far of the days from
// the instance's first bucket to its last, a chunk (a week of buckets) at a time; FINISHED with its end time
// after the last chunk, kept once the job's row is gone; started again by the next zone change.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../src/adapters/sql/sql-client.ts';
import type { RecordedEvent } from '../../src/domain/ports/event-store.ts';
import { streams } from '../../src/domain/streams.ts';
import type { ReadModel } from '../../src/projections/projection.ts';
import { recountDaysStep, recountStatus } from '../../src/projections/reports/report-days.ts';
import { reportsProjection } from '../../src/projections/reports/reports.projection.ts';
import { readModelStore } from '../support/read-model.ts';

const sink = { publish: () => {} };

for (const backend of ['pglite', 'postgres'] as const) {
  describe(`report recount status (${backend})`, () => {
    let client: SqlClient | undefined;
    let db: ReadModel;
    let drop = async () => {};
    let skip = false;
    const instanceId = randomUUID();
    let settingsRevision = 0;

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
    const configure = (timeZone: string) => apply([recorded(streams.instance(instanceId), settingsRevision++, 'ReportSettingsConfigured', { timeZone, serviceLevelSeconds: 20 }, '2025-04-01T00:00:00.000Z')]);
    const status = () => recountStatus(db as never, instanceId);

    beforeAll(async () => {
      const store = await readModelStore(backend);
      if (!store) {
        skip = true;
        return;
      }
      ({ client, db, drop } = store);
      // Contacts on 1, 10 and 25 March 2025 (UTC): 25 UTC days of figures.
      for (const at of ['2025-03-01T08:00:00.000Z', '2025-03-10T12:00:00.000Z', '2025-03-25T23:50:00.000Z']) {
        await apply([recorded(streams.contact(instanceId, randomUUID()), 0, 'ContactCreated', { channel: 'PHONE', direction: 'IN', createdAt: at }, at)]);
      }
    }, 300_000);

    afterAll(async () => {
      if (client) await client.close();
      await drop();
    });

    it('is null before any zone change', async () => {
      if (skip) return;
      expect(await status()).toBeNull();
    });

    it('follows the recount chunk by chunk to FINISHED, and starts again with the next zone change', async () => {
      if (skip) return;
      await configure('Asia/Shanghai');
      const started = await status();
      expect(started).toMatchObject({ state: 'CLEARING', timeZone: 'Asia/Shanghai', daysDone: 0, daysTotal: 25, finishedAt: null });
      expect(started!.startedAt).toBeInstanceOf(Date);
      const seen = [];
      while (await recountDaysStep(db as never)) seen.push(await status());
      // Cleared in one chunk; then a week of buckets a chunk, each from the first bucket at or after the week's end.
      expect(seen.map((s) => [s!.state, s!.daysDone, s!.daysTotal])).toEqual([
        ['COUNTING', 0, 25],
        ['COUNTING', 9, 25],
        ['COUNTING', 24, 25],
        ['FINISHED', 25, 25],
      ]);
      const finished = seen.at(-1)!;
      expect(finished.timeZone).toBe('Asia/Shanghai');
      expect(finished.startedAt).toEqual(started!.startedAt);
      expect(finished.finishedAt!.getTime()).toBeGreaterThanOrEqual(started!.startedAt.getTime());
      // Kept while nothing runs.
      expect(await status()).toEqual(finished);

      await configure('Europe/Berlin');
      expect(await status()).toMatchObject({ state: 'CLEARING', timeZone: 'Europe/Berlin', daysDone: 0, daysTotal: 25, finishedAt: null });
      while (await recountDaysStep(db as never));
      expect(await status()).toMatchObject({ state: 'FINISHED', timeZone: 'Europe/Berlin', daysDone: 25, daysTotal: 25 });
    });
  });
}
