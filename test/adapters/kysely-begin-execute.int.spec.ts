// A marked statement (preparedMark) with parameters that opens a transaction goes as one simple query,
// `BEGIN; EXECUTE name(values)`, of its SQL-prepared form (PREPAREd once per connection): one round trip, as an
// inlined first statement was, and PostgreSQL parses only the EXECUTE instead of a new text each transaction (the
// shared projection transactions' guarded checkpoint moves, issue 11). Values keep quotes and backslashes; an
// error or a rollback still ends the transaction.
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKysely, preparedMark } from '../../src/adapters/sql/kysely-dialect.ts';
import { createPostgresClient, type SqlClient } from '../../src/adapters/sql/sql-client.ts';
import { postgresUrl, wantPostgres } from '../support/services.ts';

describe.runIf(await wantPostgres())('a marked statement opening a transaction on PostgreSQL', () => {
  let client: SqlClient;
  const sent: string[] = [];
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;

  beforeAll(() => {
    // One connection: pg_prepared_statements shows the session's own.
    client = createPostgresClient(postgresUrl, { max: 1 });
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const q = args[0];
      sent.push(typeof q === 'string' ? q : ((q as { text?: string }).text ?? ''));
      return query.apply(this, args);
    } as typeof pg.Client.prototype.query;
  });
  afterAll(async () => {
    pg.Client.prototype.query = query as typeof pg.Client.prototype.query;
    await client?.close();
  });

  it('sends BEGIN and EXECUTE in one query, PREPAREs once per connection, keeps values and rollbacks', async () => {
    const db = createKysely(client);
    await sql`CREATE TEMP TABLE begin_execute (k text PRIMARY KEY, v text NOT NULL)`.execute(db);
    const upsert = (k: string, v: string) =>
      sql<{ k: string; v: string }>`${sql.raw(preparedMark)}INSERT INTO begin_execute (k, v) SELECT r.k, r.v FROM json_to_recordset(${JSON.stringify([{ k, v }])}::json) AS r(k text, v text)
        ON CONFLICT (k) DO UPDATE SET v = excluded.v RETURNING k, v`;
    const odd = "it's a \\ back\\\\slash, E'\\x41' and 日本";
    sent.length = 0;
    for (const [k, v] of [['a', odd], ['b', 'two'], ['a', 'three']] as const) {
      const rows = await db.transaction().execute(async (trx) => {
        const r = (await upsert(k, v).execute(trx)).rows;
        await sql`SELECT 1`.execute(trx);
        return r;
      });
      expect(rows).toEqual([{ k, v }]);
    }
    expect((await sql<{ k: string; v: string }>`SELECT k, v FROM begin_execute ORDER BY k`.execute(db)).rows).toEqual([
      { k: 'a', v: 'three' },
      { k: 'b', v: 'two' },
    ]);
    const prepares = sent.filter((t) => t.startsWith('PREPARE '));
    expect(prepares).toHaveLength(1);
    expect(sent.filter((t) => t === 'BEGIN')).toHaveLength(0);
    const executes = sent.filter((t) => t.startsWith('BEGIN;\nEXECUTE '));
    expect(executes).toHaveLength(3);
    // The first value came back as it went (above); it went inlined in the EXECUTE.
    await db.transaction().execute(async (trx) => {
      expect((await upsert('c', odd).execute(trx)).rows).toEqual([{ k: 'c', v: odd }]);
    });

    // A rollback (an error after it) and an error of the statement itself end the transaction.
    await expect(
      db.transaction().execute(async (trx) => {
        await upsert('d', 'gone').execute(trx);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`${sql.raw(preparedMark)}SELECT 1 / ${0}::int AS n`.execute(trx);
      }),
    ).rejects.toThrow(/division by zero/);
    expect((await sql<{ k: string }>`SELECT k FROM begin_execute ORDER BY k`.execute(db)).rows.map((r) => r.k)).toEqual(['a', 'b', 'c']);
    const prepared = (await sql<{ name: string; from_sql: boolean }>`SELECT name, from_sql FROM pg_prepared_statements WHERE from_sql`.execute(db)).rows;
    expect(prepared).toHaveLength(2);
    expect(prepared.every((p) => /^kefu_prepared_\d+_tx$/.test(p.name))).toBe(true);
    await sql`DROP TABLE begin_execute`.execute(db);
  });
});
