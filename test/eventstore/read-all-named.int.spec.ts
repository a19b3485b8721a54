// The event readers' readAll (every subscriber's read of the log, each projection and process at about every
// commit under a chat load) is one text per store, every value a parameter, sent as the named statement
// kefu_read_all on PostgreSQL: parsed and planned once per connection. Unnamed, PostgreSQL parsed and planned it
// at every read, its horizon's pg_stat_activity join about a third of the statement's CPU (issue 11).
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { ownPostgresDatabase, wantPostgres } from '../support/services.ts';
import { newEvent } from './conformance.ts';

describe.runIf(await wantPostgres())('readAll as a named statement (PostgreSQL)', () => {
  it('sends every read with the name kefu_read_all and one text, and reads the same events', async () => {
    const db = await ownPostgresDatabase('kefu_read_all_named');
    try {
      await migrateEventStore(db.sql);
      const store = new PostgresEventStore(db.sql);
      await store.appendToStream(`named-${randomUUID()}`, [newEvent('One'), newEvent('Two')], { expectedRevision: 'no_stream' });
      await store.appendToStream(`named-${randomUUID()}`, [newEvent('Three')], { expectedRevision: 'no_stream' });
      const pool = db.sql.raw as pg.Pool;
      const sent: { name: string | undefined; text: string }[] = [];
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
      (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const q = args[0];
        if (typeof q === 'object' && q !== null && 'text' in q) sent.push({ name: (q as { name?: string }).name, text: (q as { text: string }).text });
        else if (typeof q === 'string') sent.push({ name: undefined, text: q });
        return query(...args);
      };
      const all = await store.readAll({ maxCount: 100 });
      expect(all.map((e) => e.type)).toEqual(['One', 'Two', 'Three']);
      const rest = await store.readAll({ after: all[0]!.position, maxCount: 1 });
      expect(rest.map((e) => e.type)).toEqual(['Two']);
      const reads = sent.filter((s) => s.text.includes('FROM kefu_events'));
      expect(reads).toHaveLength(2);
      expect(reads.map((r) => r.name)).toEqual(['kefu_read_all', 'kefu_read_all']);
      expect(reads[1]!.text).toBe(reads[0]!.text);
    } finally {
      await db.drop();
    }
  }, 60_000);
});
