// A projection's transaction (a read-model one) never writes events: the event readers' horizon and kefu_append's
// lower_tx do not wait for it (issue 11: with batches running about all the time under a chat load, appends were
// rarely handed from memory and readers stopped below the running batch). Any other open transaction still holds
// them back, so its late commit is never skipped.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../src/adapters/bus/in-process-bus.ts';
import { PostgresEventStore, migrateEventStore } from '../../src/adapters/eventstore/postgres/postgres-event-store.ts';
import { createPostgresClient } from '../../src/adapters/sql/sql-client.ts';
import { readModelTransactionName } from '../../src/adapters/eventstore/postgres/schema.ts';
import { ProjectionRunner } from '../../src/projections/projection-runner.ts';
import type { Projection } from '../../src/projections/projection.ts';
import { startTestKefu } from '../support/kefu.ts';
import { ownPostgresDatabase } from '../support/services.ts';
import { newEvent } from './conformance.ts';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('read-model transactions and the event readers (PostgreSQL)', () => {
  it('readers and lower_tx do not wait for an open read-model transaction, and still wait for any other', async () => {
    const db = await ownPostgresDatabase('kefu_read_model_tx');
    const store = new PostgresEventStore(db.sql);
    const readModel = new pg.Client({ connectionString: db.url });
    const other = new pg.Client({ connectionString: db.url });
    try {
      await migrateEventStore(db.sql);
      await readModel.connect();
      await other.connect();
      const types = async () => (await store.readAll({ maxCount: 100 })).map((e) => e.type);
      const lowerOf = async () =>
        (await other.query<{ lower_tx: string | null }>('SELECT lower_tx FROM kefu_append($1, $2, $3::jsonb)', [`rm-sql-${randomUUID()}`, 'no_stream', JSON.stringify([newEvent('Sql')])])).rows[0]!.lower_tx;

      // An open read-model transaction with an id below the appends'.
      await readModel.query('BEGIN');
      await readModel.query('SELECT set_config($1, $2, true)', ['application_name', readModelTransactionName]);
      const rmTx = (await readModel.query<{ tx: string }>('SELECT pg_current_xact_id()::text AS tx')).rows[0]!.tx;
      await store.appendToStream(`rm-${randomUUID()}`, [newEvent('Seen')], { expectedRevision: 'no_stream' });
      expect(await types()).toContain('Seen');
      expect((await lowerOf())?.split(',') ?? []).not.toContain(rmTx);
      await readModel.query('COMMIT');

      // Any other open transaction below holds the readers back until it ends.
      const holder = new pg.Client({ connectionString: db.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        const heldTx = (await holder.query<{ tx: string }>('SELECT pg_current_xact_id()::text AS tx')).rows[0]!.tx;
        await store.appendToStream(`rm-${randomUUID()}`, [newEvent('Held')], { expectedRevision: 'no_stream' });
        expect(await types()).not.toContain('Held');
        expect((await lowerOf())?.split(',')).toContain(heldTx);
        await holder.query('COMMIT');
        expect(await types()).toContain('Held');
      } finally {
        await holder.end();
      }
    } finally {
      await readModel.end().catch(() => undefined);
      await other.end().catch(() => undefined);
      await store.close();
      await db.drop();
    }
  });
});

describe('Kefu refuses connections that carry the read-model name', () => {
  it('the event store does not start when its connections are named as read-model transactions', async () => {
    const db = await ownPostgresDatabase('kefu_read_model_name');
    const named = createPostgresClient(`${db.url}${db.url.includes('?') ? '&' : '?'}application_name=${readModelTransactionName}`, { max: 1 });
    try {
      await expect(migrateEventStore(named)).rejects.toThrow(/application_name is "kefu-read-model"/);
      await migrateEventStore(db.sql);
    } finally {
      await named.close();
      await db.drop();
    }
  });
});

describe('projection transactions are read-model ones', () => {
  it('a batch runs in a transaction named a read-model one', async () => {
    const t = await startTestKefu({ database: 'postgres' });
    const type = `RmName${randomUUID().slice(0, 8)}`;
    const names: string[] = [];
    const projection = (live: boolean): Projection => ({
      name: `rm_name_${live ? 'live' : 'stored'}_${randomUUID().slice(0, 8)}`,
      tables: [],
      live,
      eventTypes: new Set([type]),
      async apply(trx) {
        names.push((await sql<{ n: string }>`SELECT current_setting('application_name') AS n`.execute(trx)).rows[0]!.n);
      },
    });
    const runner = new ProjectionRunner({ store: t.kefu.store, db: t.kefu.db, sql: t.kefu.sql, bus: new InProcessBus(), projections: [projection(true), projection(false)], logger: silent });
    try {
      await runner.start();
      const { position } = await t.kefu.store.appendToStream(`rm-name-${randomUUID()}`, [newEvent(type)], { expectedRevision: 'no_stream' });
      expect(await runner.waitFor(position, { timeoutMs: 60_000 })).toBe(true);
      expect(names).toEqual([readModelTransactionName, readModelTransactionName]);
      // Only until the transaction ended: the connection's next user is not one.
      const after = (await sql<{ n: string }>`SELECT current_setting('application_name') AS n`.execute(t.kefu.db)).rows[0]!.n;
      expect(after).not.toBe(readModelTransactionName);
    } finally {
      await runner.stop();
      await t.close();
    }
  }, 120_000);
});
