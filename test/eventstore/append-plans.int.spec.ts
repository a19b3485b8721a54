// kefu_append and kefu_append_many plan their statements once per connection (plan_cache_mode =
// force_generic_plan on the functions): left to choose, PL/pgSQL planned some of them again at every call, about
// a fifth of PostgreSQL's CPU under a chat load (issue 11). A database made by an earlier Kefu gets the setting
// when it starts, and appends (single, batched, retried, refused) still answer as before with it.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { eventStoreSchemaSql } from '../../src/adapters/eventstore/postgres/schema.ts';
import { WrongExpectedRevisionError } from '../../src/domain/ports/event-store.ts';
import { ownPostgresDatabase } from '../support/services.ts';
import { newEvent } from './conformance.ts';

const settingsOf = async (db: Awaited<ReturnType<typeof ownPostgresDatabase>>) =>
  Object.fromEntries(
    (
      await db.sql.query<{ proname: string; proconfig: string[] | null }>(
        "SELECT proname, proconfig FROM pg_proc WHERE proname IN ('kefu_append', 'kefu_append_many') AND pronamespace = current_schema()::regnamespace",
      )
    ).rows.map((r) => [r.proname, r.proconfig ?? []]),
  );

describe('append functions plan once per connection (PostgreSQL)', () => {
  it('both functions run with generic plans, also on a database made without the setting, and append as before', async () => {
    const db = await ownPostgresDatabase('kefu_append_plans');
    const store = new PostgresEventStore(db.sql);
    try {
      // As an earlier Kefu made them: the same functions without the setting.
      await db.sql.script(eventStoreSchemaSql.replaceAll(' SET plan_cache_mode = force_generic_plan', ''));
      expect(await settingsOf(db)).toEqual({ kefu_append: [], kefu_append_many: [] });
      await migrateEventStore(db.sql);
      expect(await settingsOf(db)).toEqual({ kefu_append: ['plan_cache_mode=force_generic_plan'], kefu_append_many: ['plan_cache_mode=force_generic_plan'] });

      // More calls than PL/pgSQL's five custom plans, on every path of the body: new streams, expected
      // revisions, 'any', batched appends (concurrent, so they share kefu_append_many), a retry, a conflict.
      const streams = Array.from({ length: 4 }, () => `plans-${randomUUID()}`);
      for (const s of streams) await store.appendToStream(s, [newEvent('Created')], { expectedRevision: 'no_stream' });
      for (let round = 1; round <= 8; round++) {
        const results = await Promise.all(streams.map((s) => store.appendToStream(s, [newEvent('Said'), newEvent('Said')], { expectedRevision: 2 * round - 2 })));
        for (const r of results) expect(r.nextRevision).toBe(2 * round);
      }
      const retried = newEvent('Retried');
      const first = await store.appendToStream(streams[0]!, [retried], { expectedRevision: 16 });
      const again = await store.appendToStream(streams[0]!, [retried], { expectedRevision: 16 });
      expect(first.nextRevision).toBe(17);
      expect(again.nextRevision).toBe(17);
      await expect(store.appendToStream(streams[1]!, [newEvent('Late')], { expectedRevision: 3 })).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      expect((await store.appendToStream(streams[2]!, [newEvent('Any')], { expectedRevision: 'any' })).nextRevision).toBe(17);
      const read = await store.readStream(streams[0]!);
      expect(read.map((e) => e.revision)).toEqual(Array.from({ length: 18 }, (_, i) => i));
      expect(read.filter((e) => e.type === 'Retried')).toHaveLength(1);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
